"""Layouts: overrides for what the signature-first reader (reader.py) cannot guess, as data (YAML) on the document
model, the same for every format. You need one only where `luacoder docs` reads too few or wrong entries (it
explains, per file, the lines that looked like signatures and why each was left out). Every key, with its default:

    name: my_api                 # required
    description: ""              # one line for logs and --list_layouts
    files: []                    # file names read when a folder is given (globs; empty: every docs format)
    exclude: []                  # file names never read from a folder (globs), beside READMEs and licences
    entries: []                  # rules for the blocks that are entries: when given, exactly these (and no
                                 #   others) are read as signatures, with no further evidence asked
    ignore: []                   # rules for blocks never read as entries
    context: []                  # rules for blocks (headings) that name the module or type of bare names under them
    keys: {}                     # structured descriptions (JSON, YAML, XML, Lua tables): role -> the keys that hold it

A rule matches a block of the document model when every key it sets matches:

    kind: heading                # heading, paragraph, code, item, row, term or directive
    heading: 4                   # a heading of this level (kind heading implied)
    class: "sig*"                # a class of the block's element (glob; HTML)
    directive: "lua:*"           # a directive's name (glob; reStructuredText)
    code: true                   # the block's text is in a code span or code element
    text: "^[a-z]+\\."           # a regular expression its text must match (searched)

For example, three lines for docs whose entries are level-4 headings under level-2 module headings:

    name: mygame
    entries: [{heading: 4}]
    context: [{heading: 2}]

The shipped layouts (`luacoder/apidocs/layouts/*.yaml`, `luacoder docs --list_layouts`) are examples: the reader
finds the same entries in their docs without them.

`keys` names, per role, the keys of a structured description that the shape reader (structured.py) cannot guess;
they add to the words it knows, at every depth of the file, and a file that uses them is read as a description:

    name: robots
    keys: {members: [procs], name: [ident], params: [takes]}   # {"procs": [{"ident": "go", "takes": [...]}]}

Roles: name, kind, params, returns, description, signature, variants, examples, optional, default, vararg and
members (a key whose value holds the entries); keys are compared as the reader compares them (case, `_` and `-`
ignored).
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from luacoder.apidocs.schema import ApiError
from luacoder.apidocs.structured_vocabulary import OVERRIDABLE
from luacoder.config import did_you_mean

BLOCK_KINDS = ("heading", "paragraph", "code", "item", "row", "term", "directive")


class LayoutError(ApiError):
    """A layout description is wrong; the message names the file, the line and the key."""


@dataclass
class Rule:
    kind: str = ""
    heading: int = 0
    class_: str = field(default="", metadata={"yaml": "class"})
    directive: str = ""
    code: bool = False
    text: str = ""

    def matches(self, block) -> bool:
        if self.heading and (block.kind != "heading" or block.level != self.heading):
            return False
        if self.kind and block.kind != self.kind:
            return False
        if self.class_ and not any(fnmatchcase(c, self.class_) for c in block.classes):
            return False
        if self.directive and not (block.kind == "directive" and fnmatchcase(block.name, self.directive)):
            return False
        if self.code and block.kind != "code" and not any(p.kind == "code" for p in block.pieces):
            return False
        return not self.text or re.search(self.text, block.plain) is not None


@dataclass
class Layout:
    name: str
    description: str = ""
    files: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    entries: list[Rule] = field(default_factory=list)
    ignore: list[Rule] = field(default_factory=list)
    context: list[Rule] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)
    # Where the layout was read from (not a YAML key).
    path: str = field(default="", metadata={"yaml": False})

    def wants(self, relative: str) -> bool:
        """Whether a file found in a folder is read with this layout."""
        name = relative.rsplit("/", 1)[-1]
        if any(fnmatchcase(name, g) for g in self.exclude):
            return False
        return not self.files or any(fnmatchcase(name, g) for g in self.files)


SHIPPED_DIR = "layouts"


def shipped_layout_names() -> list[str]:
    folder = resources.files("luacoder.apidocs") / SHIPPED_DIR
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_layout(name_or_path: str | os.PathLike) -> Layout:
    """A shipped layout by name (`luv`), or a user's layout from a YAML file."""
    text_name = os.fspath(name_or_path)
    if not text_name.endswith((".yaml", ".yml")) and os.sep not in text_name and "/" not in text_name:
        if text_name not in shipped_layout_names():
            raise LayoutError(
                f"no layout named {text_name!r}; shipped layouts are {', '.join(shipped_layout_names())},"
                " or give the path of a .yaml layout"
            )
        resource = resources.files("luacoder.apidocs") / SHIPPED_DIR / f"{text_name}.yaml"
        return parse_layout(resource.read_text(encoding="utf-8"), f"{SHIPPED_DIR}/{text_name}.yaml")
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LayoutError(f"{path}: no such layout file") from None
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_layout(text, str(path))


def parse_layout(text: str, where: str = "layout") -> Layout:
    """Build and check a layout from YAML text; errors name `where`, the line and the key."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise LayoutError(f"{where}: not valid YAML: {exc}") from None
    if node is None:
        raise LayoutError(f"{where}: empty layout; it needs at least a `name`")
    layout = _build(Layout, node, where, "")
    layout.path = where
    _check(layout, where, node)
    return layout


def _build(cls: type, node: yaml.Node, where: str, key_path: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise LayoutError(f"{_at(where, node)}: {key_path or 'the layout'} must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    fields = {_key(f): f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        full = f"{key_path}.{key}" if key_path else key
        if key not in fields:
            hint = did_you_mean(key, fields) or f"; known keys are {', '.join(fields)}"
            raise LayoutError(f"{_at(where, key_node)}: unknown key '{full}'{hint}")
        values[fields[key].name] = _value(hints[fields[key].name], value_node, where, full)
    missing = [
        key
        for key, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values
    ]
    if missing:
        raise LayoutError(f"{_at(where, node)}: missing key(s) {', '.join(missing)}")
    return cls(**values)


def _key(f: dataclasses.Field) -> str:
    alias = f.metadata.get("yaml", True)
    return alias if isinstance(alias, str) else f.name


def _value(hint: Any, node: yaml.Node, where: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, node, where, key)
    if hint is bool:
        value = _scalar(node, where, key)
        if not isinstance(value, bool):
            raise LayoutError(f"{_at(where, node)}: '{key}' must be true or false, got {value!r}")
        return value
    if hint is int:
        value = _scalar(node, where, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise LayoutError(f"{_at(where, node)}: '{key}' must be a whole number, got {value!r}")
        return value
    if hint is str:
        value = _scalar(node, where, key)
        if not isinstance(value, str):
            raise LayoutError(f"{_at(where, node)}: '{key}' must be a string, got {value!r}")
        return value
    if origin is list:
        if isinstance(node, yaml.ScalarNode):  # a single value stands for a one-item list
            return [_value(typing.get_args(hint)[0], node, where, key)]
        if not isinstance(node, yaml.SequenceNode):
            raise LayoutError(f"{_at(where, node)}: '{key}' must be a list")
        return [_value(typing.get_args(hint)[0], item, where, f"{key}[{i}]") for i, item in enumerate(node.value)]
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            raise LayoutError(f"{_at(where, node)}: '{key}' must be a mapping")
        _key_type, value_type = typing.get_args(hint)
        out = {}
        for key_node, value_node in node.value:
            name = str(_scalar(key_node, where, key))
            out[name] = _value(value_type, value_node, where, f"{key}.{name}")
        return out
    raise TypeError(f"unsupported layout field type {hint}")


def _scalar(node: yaml.Node, where: str, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise LayoutError(f"{_at(where, node)}: '{key}' must be a single value, not a list or mapping")
    return yaml.constructor.SafeConstructor().construct_object(node)


def _at(where: str, node: yaml.Node) -> str:
    return f"{where}:{node.start_mark.line + 1}"


def _check(layout: Layout, where: str, node: yaml.Node) -> None:
    """Rules between keys, which the types alone cannot say."""

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise LayoutError(f"{where}: {message}")

    need(layout.name.strip() != "" and " " not in layout.name, "'name' must be one word")
    for key in ("entries", "ignore", "context"):
        for i, rule in enumerate(getattr(layout, key)):
            at = f"'{key}[{i}]'"
            need(rule != Rule(), f"{at} sets no key: a rule needs kind, heading, class, directive, code or text")
            need(0 <= rule.heading <= 6, f"{at}: 'heading' must be a heading level from 1 to 6")
            need(
                not rule.kind or rule.kind in BLOCK_KINDS,
                f"{at}: unknown kind {rule.kind!r}; kinds are {', '.join(BLOCK_KINDS)}",
            )
            try:
                re.compile(rule.text)
            except re.error as exc:
                raise LayoutError(f"{where}: {at}: 'text' is not a regular expression: {exc}") from None
    keys = next((value for key, value in node.value if key.value == "keys"), None)
    for key_node, _words in keys.value if keys is not None else []:
        role = key_node.value
        if role not in OVERRIDABLE:
            hint = did_you_mean(role, OVERRIDABLE) or f"; roles are {', '.join(OVERRIDABLE)}"
            raise LayoutError(f"{_at(where, key_node)}: 'keys.{role}': no such role{hint}")
        need(all(w.strip() for w in layout.keys[role]), f"'keys.{role}' names an empty key")
