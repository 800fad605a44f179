"""Layouts: how one documentation convention writes its API entries, as data (YAML) that one generic reader follows.

A layout says which headings open an entry, where the signature is, which sections (or bold labels) hold the
parameters, returns, examples and aliases, and switches on the few special rules a real convention needs. The
shipped layouts live in `luacoder/apidocs/layouts/*.yaml`; a user describes a new convention the same way and passes
the file to `luacoder docs --layout my_layout.yaml`. Every key, with its default:

    name: my_api                 # required
    description: ""              # one line for logs and --help
    files: ["*.md", "*.markdown"]  # file names read when a folder is given (globs)
    exclude: [README.md, LICENSE*, CHANGELOG*, CONTRIBUTING*]  # file names never read from a folder (globs)
    meta: none                   # blockquote_rows: a block quote of `__Key__ value` rows right under the entry
                                 #   heading is the entry's metadata table (Solar2D's pandoc table)
    references: keep             # label: reference links whose definitions are not in the file, `[text][ref]`,
                                 #   keep only their text
    none: [none, nothing, "nothing."]  # values meaning "nothing": no return value, no metadata
    module:
      heading: 0                 # level of the heading that names the module (0: none)
      heading_code: true         # the module name is that heading's first code span (false: its whole text)
      sources: [heading, name]   # where an entry's module comes from, first that gives a name wins:
                                 #   heading, meta:ROW (a metadata row, `display.*` reads as display), name (the
                                 #   prefix of the entry's qualified name), folder (the file's folder)
      default: _G                # module of names without a prefix
    entry:
      heading: 2                 # level of the headings that open an entry; it ends at the next heading this high
      code_heading: false        # only headings that are one code span are entries (luv: ### `uv.run([mode])`)
      signature: heading         # heading: the heading is the signature; section: the first code block of the
                                 #   section with role `signature` (the heading still gives the name)
      forms_as_aliases: false    # more signature lines with another name (`s:len()` under string.len) are aliases
      kind_row: ""               # metadata row saying what a page documents (Solar2D: Type); pages whose value
                                 #   is not a key of `kinds` are skipped with that reason
      kinds: {}                  # row value -> kind: function (method when the name has `:`), field, event
      object_type: []            # where the real type of `object:method` comes from: meta:ROW, folder
    sections:
      heading: 0                 # level of the headings that open a section inside an entry (0: none)
      labels: false              # a paragraph starting with a bold `Label:` opens a section made of the rest of
                                 #   that paragraph and the list right after it (luv's **Parameters:**)
      titles: {}                 # section title glob (lower case) -> role or list of roles: description, params,
                                 #   returns, examples, aliases, signature, ignore
      before: description        # role of what comes before the first section
      unknown: ignore            # role of a section whose title matches no glob
    params:
      headings: 0                # 0: a params section holds a list, one item per parameter:
                                 #   - `name` (`type`, optional): text    or    - `name`: `type` or `nil` text
                                 # N: headings of level N, one per parameter (`x, y` or `w / h` for several), the
                                 #   paragraph after them starting with the type in emphasis (`_[Number]._ text`)
      marks: paren               # how a parameter heading says optional: paren `name (optional)`, pandoc
                                 #   `name ~^(optional)^~` (pandoc's superscript inside subscript)
      nil_is_optional: false     # a parameter whose types include nil is optional
      optional_from_signature: true  # a parameter in [ ] in the signature is optional
      must_match_signature: false    # a parameter list whose names differ from the signature's skips the entry
    returns:
      meta_row: ""               # metadata row holding the return type (Solar2D: Return value)
    examples:
      languages: [lua]           # fence info words that mark example code
      anywhere: false            # fences anywhere in the entry are examples, not only in `examples` sections
      needs_host: needs-host     # info word marking an example that needs the real host
    aliases:
      blockquote: ""             # a block quote starting with these words lists aliases as code spans
                                 #   (luv: `> method form `tcp:bind(...)``)

How the reader applies them, beyond the comments above:
- Section titles and bold labels are matched in lower case, spaces collapsed, a trailing `:` removed.
- Only the first section of each of params, returns and signature is read as such; a later one (luv's
  `**Returns (async version):**`) is kept as description.
- A signature section gives the first code block or fence, or failing that a paragraph that reads as a signature;
  each line is one form of the call. With `signature: section` every signature block of every such section counts
  (Solar2D's `## Syntax (Legacy)`, `### Image Sheet`): each line is a call form in api.json, typed by the parameter
  headings under its block, its `[ ]` saying what is optional (see layout_reader `call_forms`).
- Headings are read as displayed: inline HTML is dropped, with the text of elements hidden by `display: none`.
- A fence in an examples section whose info string holds code (``````lualocal x = 1`) has lost its first line to
  the fence: it is listed as skipped rather than kept as a broken example.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from luacoder.apidocs.schema import KINDS, ApiError
from luacoder.config import did_you_mean

ROLES = ("description", "params", "returns", "examples", "aliases", "signature", "ignore")
# Roles read once per entry; a later section with the same role is kept as description.
ONCE_ROLES = ("params", "returns", "signature")


class LayoutError(ApiError):
    """A layout description is wrong; the message names the file, the line and the key."""


@dataclass
class ModuleRule:
    heading: int = 0
    heading_code: bool = True
    sources: list[str] = field(default_factory=lambda: ["heading", "name"])
    default: str = "_G"


@dataclass
class EntryRule:
    heading: int = 2
    code_heading: bool = False
    signature: Literal["heading", "section"] = "heading"
    forms_as_aliases: bool = False
    kind_row: str = ""
    kinds: dict[str, str] = field(default_factory=dict)
    object_type: list[str] = field(default_factory=list)


@dataclass
class SectionRule:
    heading: int = 0
    labels: bool = False
    titles: dict[str, list[str]] = field(default_factory=dict)
    before: str = "description"
    unknown: str = "ignore"


@dataclass
class ParamRule:
    headings: int = 0
    marks: Literal["paren", "pandoc"] = "paren"
    nil_is_optional: bool = False
    optional_from_signature: bool = True
    must_match_signature: bool = False


@dataclass
class ReturnRule:
    meta_row: str = ""


@dataclass
class ExampleRule:
    languages: list[str] = field(default_factory=lambda: ["lua"])
    anywhere: bool = False
    needs_host: str = "needs-host"


@dataclass
class AliasRule:
    blockquote: str = ""


@dataclass
class Layout:
    name: str
    description: str = ""
    files: list[str] = field(default_factory=lambda: ["*.md", "*.markdown"])
    exclude: list[str] = field(default_factory=lambda: ["README.md", "LICENSE*", "CHANGELOG*", "CONTRIBUTING*"])
    meta: Literal["none", "blockquote_rows"] = "none"
    references: Literal["keep", "label"] = "keep"
    none: list[str] = field(default_factory=lambda: ["none", "nothing", "nothing."])
    module: ModuleRule = field(default_factory=ModuleRule)
    entry: EntryRule = field(default_factory=EntryRule)
    sections: SectionRule = field(default_factory=SectionRule)
    params: ParamRule = field(default_factory=ParamRule)
    returns: ReturnRule = field(default_factory=ReturnRule)
    examples: ExampleRule = field(default_factory=ExampleRule)
    aliases: AliasRule = field(default_factory=AliasRule)
    # Where the layout was read from (not a YAML key).
    path: str = field(default="", metadata={"yaml": False})


SHIPPED_DIR = "layouts"


def shipped_layout_names() -> list[str]:
    folder = resources.files("luacoder.apidocs") / SHIPPED_DIR
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def shipped_layouts() -> dict[str, Layout]:
    return {name: load_layout(name) for name in shipped_layout_names()}


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
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        full = f"{key_path}.{key}" if key_path else key
        if key not in fields:
            hint = did_you_mean(key, fields) or f"; known keys are {', '.join(fields)}"
            raise LayoutError(f"{_at(where, key_node)}: unknown key '{full}'{hint}")
        values[key] = _value(hints[key], value_node, where, full)
    missing = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and name not in values
    ]
    if missing:
        raise LayoutError(f"{_at(where, node)}: missing key(s) {', '.join(missing)}")
    return cls(**values)


def _value(hint: Any, node: yaml.Node, where: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, node, where, key)
    if origin is Literal:
        value = _scalar(node, where, key)
        if value not in typing.get_args(hint):
            choices = ", ".join(typing.get_args(hint))
            raise LayoutError(f"{_at(where, node)}: '{key}' is {value!r}, expected one of {choices}")
        return value
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
    for key, level in (
        ("module.heading", layout.module.heading),
        ("sections.heading", layout.sections.heading),
        ("params.headings", layout.params.headings),
    ):
        need(0 <= level <= 6, f"'{key}' must be a heading level from 1 to 6, or 0 for none")
    need(1 <= layout.entry.heading <= 6, "'entry.heading' must be a heading level from 1 to 6")
    if layout.module.heading:
        need(layout.module.heading < layout.entry.heading, "'module.heading' must be above 'entry.heading'")
    if layout.sections.heading:
        need(layout.sections.heading > layout.entry.heading, "'sections.heading' must be below 'entry.heading'")
    for title, roles in layout.sections.titles.items():
        for role in roles:
            need(role in ROLES, f"'sections.titles.{title}': unknown role {role!r}; roles are {', '.join(ROLES)}")
    for key in ("before", "unknown"):
        role = getattr(layout.sections, key)
        need(role in ROLES, f"'sections.{key}': unknown role {role!r}; roles are {', '.join(ROLES)}")
    for value, kind in layout.entry.kinds.items():
        need(kind in KINDS, f"'entry.kinds.{value}' is {kind!r}, expected one of {', '.join(KINDS)}")
    need(bool(layout.entry.kind_row) == bool(layout.entry.kinds), "'entry.kind_row' and 'entry.kinds' go together")
    for source in layout.module.sources:
        need(
            source in ("heading", "name", "folder") or meta_row(source) is not None,
            f"'module.sources': unknown source {source!r}; use heading, name, folder or meta:ROW",
        )
    for source in layout.entry.object_type:
        need(
            source == "folder" or meta_row(source) is not None,
            f"'entry.object_type': unknown source {source!r}; use folder or meta:ROW",
        )
    uses_meta = (
        layout.entry.kind_row
        or layout.returns.meta_row
        or any(meta_row(s) for s in layout.module.sources + layout.entry.object_type)
    )
    if uses_meta:
        need(layout.meta != "none", "metadata rows are used (kind_row, meta_row or meta:ROW) but 'meta' is none")
    roles = {role for rs in layout.sections.titles.values() for role in rs} | {layout.sections.before}
    if layout.entry.signature == "section":
        need("signature" in roles, "'entry.signature' is section but no section title has the role signature")
    if layout.params.headings:
        need(
            layout.params.headings > layout.entry.heading,
            "'params.headings' must be below 'entry.heading'",
        )
    if layout.sections.titles:
        need(
            layout.sections.heading > 0 or layout.sections.labels,
            "'sections.titles' is set but sections are opened neither by headings ('sections.heading') nor by"
            " labels ('sections.labels')",
        )


def meta_row(source: str) -> str | None:
    """`Object` for the source `meta:Object`, else None."""
    if source.startswith("meta:") and source[5:].strip():
        return source[5:].strip()
    return None
