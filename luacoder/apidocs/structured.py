"""Structured API descriptions (JSON, YAML, XML, Lua tables) read by their shape, with no schema per project.

    looks_structured(Path("steam.script_api"), head)    # True: YAML objects with names, kinds, parameters
    reading = read_structured(text, "steam/api/steam.script_api", "docs/steam/api/steam.script_api")

The file is parsed into plain data (structured_data), then walked. Each object's keys are given roles by their
words (structured_vocabulary; compared lower case without `_`/`-`): a name (`name`, `id`, `function_name`, ...),
a kind (`kind`, `type`, ..., or the XML element's tag) whose value says function, method, value, event, class,
module or enum, parameters (`params`, `args`, `arguments`, ...: a list of objects or strings, a map by name, or a
C/Lua-style string that call_forms reads), returns, a description, a signature, variants or overloads, examples.
Any other key whose value holds named objects is a container of members (`members`, `functions`, `classes`, an XML
element's children, or a key that is itself a name: `{"string": [...]}`).

An object is callable when its kind says so or, with no kind, when it has parameters, returns or a signature.
Names come from the nesting: a module's or namespace's members are `module.name`; a class's are methods
`Class:name` unless the class marks its methods by kind (then its plain functions are static) or a member is
marked static; a `self` first parameter makes a method. A file whose top object holds no name (one member per
file) is named by its path: the file is the member, and each folder above it that is described by a file beside
it (`math/ease/` beside `math/ease.lua`) is the library or type it belongs to.

Callables known by name alone (no parameters, returns, description or signature: a list of what exists, not how to
call it) are not entries: the grader would take them for calls with no arguments. They are one skipped row.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from luacoder.apidocs.call_forms import IDENT, parse_call_form, parse_params, read_param, split_top
from luacoder.apidocs.reading import FileReading, Skipped
from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, CallForm, Param, Return, Source
from luacoder.apidocs.structured_data import (
    SCHEMA_NAMESPACES,
    Code,
    DataError,
    Node,
    load_data,
    syntax_of,
    xml_root,
)
from luacoder.apidocs.structured_vocabulary import CALLABLE, ENTRY_KINDS, SCOPES, VOCABULARY, Vocabulary, norm

QUALIFIED = re.compile(r"[A-Za-z_]\w*(?:[.:][A-Za-z_]\w*)*")
EXAMPLE_NAMES = 3  # names quoted in a grouped skipped row
INDEX_STEMS = frozenset({"init", "index", "_index"})  # a file that describes the folder it is in
TRUE = ("true", "yes", "1", "on")  # how a flag written as text says yes


# -- detection ------------------------------------------------------------------------------------------------------

_KEY = (
    r"(?:name|id|function_?name|kind|type|params|parameters|args|arguments|returns|members|functions|methods"
    r"|classes)"
)
_JSON_KEYS = re.compile(rf'"({_KEY})"\s*:', re.IGNORECASE)
_YAML_KEYS = re.compile(rf"^\s*(?:-\s+)?({_KEY}):(?:\s|$)", re.IGNORECASE | re.MULTILINE)
_YAML_NAME = re.compile(r"^\s*(?:-\s+)?(?:name|id|title):\s+\S", re.IGNORECASE | re.MULTILINE)
_LUA_TABLE = re.compile(r"^(?:return\s*\{|(?:local\s+)?[A-Za-z_][\w.]*\s*=\s*\{)", re.MULTILINE)
_LUA_KEYS = re.compile(rf"\b{_KEY}\s*=\s*[\"'{{\[]", re.IGNORECASE)
_LUA_LONG_STRING = re.compile(r"\[(=*)\[.*?(\]\1\]|$)", re.DOTALL)
_LUA_ANNOTATED = re.compile(r"^\s*---?\s*@\w+", re.MULTILINE)  # LuaCATS / LDoc: their readers' files
_XML_NAMED = re.compile(r"<[\w:.-]+\s[^>]*\b(name|id)\s*=", re.IGNORECASE)
# Any key, for the words a layout names.
_JSON_ANY_KEY = re.compile(r'"([^"\\\n]{1,80})"\s*:')
_YAML_ANY_KEY = re.compile(r"^\s*(?:-\s+)?([\w-]+):(?:\s|$)", re.MULTILINE)
_LUA_ANY_KEY = re.compile(r"\b([A-Za-z_]\w*)\s*=\s*[\"'{\[]")
_XML_ANY_NAME = re.compile(r"<([\w.-]+)|\s([\w.-]+)\s*=")  # tags and attributes
_CONTAINER_WORDS = frozenset(word for _, words in VOCABULARY.containers for word in words)
_XML_CALLABLE = re.compile(
    r"<(\w+:)?(function|method|func|constructor|callback)s?\b|\b(arguments|args|params|parameters|signature)\s*=",
    re.IGNORECASE,
)


def looks_structured(path: Path, head: str, keys: Iterable[str] = ()) -> bool:
    """Whether a file (its name and its first bytes) is a structured API description this module reads; `keys`, key
    words a layout names (a file that uses one of them, and one more key of a role, is one).

    LuaCoder's api.json and the older LuaCoder JSON are not (json_docs reads them), nor LuaCATS or LDoc annotated
    Lua (their readers), nor XML schemas and stylesheets."""
    if "\x00" in head or not head.strip():
        return False
    syntax = syntax_of(path.suffix, head)
    named = {norm(k) for k in keys}
    if syntax == "json":
        if json_docs_shape(head):
            return False
        return len({m.lower() for m in _JSON_KEYS.findall(head)}) >= 2 or _uses(named, _JSON_ANY_KEY.findall(head))
    if syntax == "xml":
        root = xml_root(head)
        if root is None or root[0] in SCHEMA_NAMESPACES or root[1].lower() == "html":
            return False
        words = [w for pair in _XML_ANY_NAME.findall(head) for w in pair if w]
        return bool(_XML_NAMED.search(head) and _XML_CALLABLE.search(head)) or _uses(named, words)
    if syntax == "lua":
        code = _LUA_LONG_STRING.sub('""', head)  # annotations quoted in a description are not annotations
        if _LUA_ANNOTATED.search(code) or not _LUA_TABLE.search(code):
            return False
        return bool(_LUA_KEYS.search(code)) or _uses(named, _LUA_ANY_KEY.findall(code))
    found = {m.group(1).lower() for m in _YAML_KEYS.finditer(head)}
    return (bool(_YAML_NAME.search(head)) and len(found) >= 2) or _uses(named, _YAML_ANY_KEY.findall(head))


def _uses(named: set[str], keys: list[str]) -> bool:
    """Whether a file's keys include one a layout names and one more of any role."""
    if not named:
        return False
    used = {norm(k) for k in keys}
    return bool(used & named) and len(used & (named | VOCABULARY.role_keys() | _CONTAINER_WORDS)) >= 2


def json_docs_shape(head: str) -> bool:
    """Whether JSON is LuaCoder's own (api.json, `{"name", "entries": [...]}`, or the older layout, `{"<module>":
    [{"function_name", ...}]}`), which json_docs reads; judged on the whole file when the head holds it."""
    try:
        data = json.loads(head)
    except ValueError:  # a head cut short: its first keys
        return bool(re.match(r'\s*\{\s*"(name|version)"\s*:[^\[\{]*"(version|entries)"\s*:', head)) or bool(
            re.match(r'\s*\{\s*"[^"]*"\s*:\s*\[\s*\{[^{}]*"function_name"\s*:', head)
        )
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("entries"), list):
        return True
    return bool(data) and all(
        isinstance(v, list) and all(isinstance(i, dict) and "function_name" in i for i in v) for v in data.values()
    )


# -- reading --------------------------------------------------------------------------------------------------------


def read_structured(
    text: str, source_file: str, report_file: str, *, keys: Mapping[str, Iterable[str]] | None = None
) -> FileReading:
    """The entries of one structured API description. `source_file` is its path relative to the docs root (it names
    the member when the file does not), `report_file` the path named in skipped rows; `keys` adds key words to
    roles (`{"params": ["inputs"]}`, see Vocabulary.extended)."""
    syntax = syntax_of(PurePosixPath(source_file).suffix, text)
    reader = _Reader(source_file, report_file, VOCABULARY.extended(keys) if keys else VOCABULARY)
    try:
        reader.root(load_data(text, syntax))
    except DataError as exc:
        return FileReading([], [Skipped(report_file, exc.line, "file", str(exc))], 0)
    except RecursionError:
        what = {"json": "JSON", "yaml": "YAML", "xml": "XML", "lua": "Lua"}[syntax]
        return FileReading([], [Skipped(report_file, 0, "file", f"{what} nested too deeply to read")], 0)
    return reader.finish()


@dataclass
class _Scope:
    owner: str = ""  # the qualified name of the enclosing module or class
    is_class: bool = False
    marks_methods: bool = False  # some members say "method": then a member that says "function" is static


class _Reader:
    def __init__(self, source_file: str, report_file: str, vocabulary: Vocabulary = VOCABULARY):
        self.source_file, self.report_file, self.v = source_file, report_file, vocabulary
        self.roles = vocabulary.role_keys()
        self.words = vocabulary.roles_of_words()
        self.entries: list[ApiEntry] = []
        self.by_name: dict[str, ApiEntry] = {}
        self.skipped: list[Skipped] = []
        self.grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)  # reason -> (line, name)
        self.candidates = 0

    def finish(self) -> FileReading:
        for reason, items in self.grouped.items():
            names = ", ".join(name for _, name in items[:EXAMPLE_NAMES])
            more = f", and {len(items) - EXAMPLE_NAMES} more" if len(items) > EXAMPLE_NAMES else ""
            what = f"{len(items)} item{'s' if len(items) > 1 else ''} ({names}{more})"
            self.skipped.append(Skipped(self.report_file, items[0][0], what, reason))
        return FileReading(self.entries, self.skipped, self.candidates)

    # -- the walk ----------------------------------------------------------------------------------------------------
    def root(self, data: Any) -> None:
        if isinstance(data, list):
            self.members([(None, None, item) for item in data], _Scope())
            return
        if not isinstance(data, Node):
            self.skipped.append(Skipped(self.report_file, 1, "file", "holds no object: not an API description"))
            return
        kind = self.kind(data, None)
        if self.name(data) is None and (kind in ENTRY_KINDS + ("other",) or self.explicit_kind(data) in SCOPES):
            owner, member = path_name(self.source_file, self.report_file)
            self.node(data, _Scope(owner), member, None)
        else:
            self.node(data, _Scope(), None, None)

    def node(self, node: Node, scope: _Scope, implied_name: str | None, hint: str | None) -> None:
        kind = self.kind(node, hint)
        name = self.name(node) or implied_name
        if kind in CALLABLE:
            self.callable(node, scope, name, kind)
        elif kind in ("value", "event"):
            self.value(node, scope, name, kind)
        elif kind == "other":
            self.grouped[f"of kind {self.explicit_word(node)!r}: not a function, method, field or event"].append(
                (node.line, name or "?")
            )
        elif kind in SCOPES or kind == "" or kind is None:
            members = list(self.children(node))
            if not members:
                return
            owner = qualify(scope.owner, name, ".") if name else scope.owner
            self.members(members, _Scope(owner, is_class=kind == "class"), "value" if kind == "enum" else None)

    def members(self, members: list, scope: _Scope, member_hint: str | None = None) -> None:
        scope.marks_methods = any(
            isinstance(m, Node) and (self.explicit_kind(m) or hint) == "method" for _, hint, m in members
        )
        for name, hint, member in members:
            if isinstance(member, list):  # `{"string": [...]}`: the key names a module holding the list
                self.members([(None, hint, m) for m in member], _Scope(qualify(scope.owner, name, ".")), hint)
            elif isinstance(member, Node):
                self.node(member, scope, name, hint or member_hint)

    def children(self, node: Node):
        """(implied name, default kind, member) of what a node holds: Nodes, or lists named by their key."""
        for key, value in node.items():
            if norm(key) in self.roles:
                continue
            hint = self.v.container_of(key)
            if key in node.elements:  # XML: children grouped by tag, the tag is what they are
                yield from ((None, hint or None, item) for item in value if isinstance(item, Node))
            elif isinstance(value, list):
                items = [item for item in value if isinstance(item, Node)]
                if not items:
                    continue
                if hint is not None:
                    yield from ((None, hint or None, item) for item in items)
                elif _is_name(key) and any(self.name(item) for item in items):
                    yield (key, None, items)
            elif isinstance(value, Node):
                if hint is not None:  # `"functions": {"format": {...}}`: members keyed by name
                    yield from ((k, hint or None, v) for k, v in value.items() if isinstance(v, Node) and _is_name(k))
                elif _is_name(key) and (self.describes(value) or self.holds_members(value)):
                    yield (key, None, value)

    def holds_members(self, node: Node) -> bool:
        """Whether a node holds objects, or a container key (`{"functions": [...]}`)."""
        return any(isinstance(v, Node) or self.v.container_of(k) is not None for k, v in node.items())

    def describes(self, node: Node) -> bool:
        """Whether a node has keys of its own (a kind, parameters, ...) rather than only members keyed by name."""
        return any(norm(k) in self.roles for k in node)

    # -- kinds and names ---------------------------------------------------------------------------------------------
    def explicit_word(self, node: Node) -> str | None:
        for key, value in node.items():
            if norm(key) in self.v.kind and isinstance(value, str) and self.v.kind_of(value):
                return value
        return node.tag if node.tag and self.v.kind_of(node.tag) else None

    def explicit_kind(self, node: Node) -> str | None:
        word = self.explicit_word(node)
        return self.v.kind_of(word) if word else None

    def kind(self, node: Node, hint: str | None) -> str | None:
        kind = self.explicit_kind(node)
        calls = any(self.key(node, role) for role in ("params", "returns", "signature", "variants"))
        members = kind in (None, "type") and any(True for _ in self.children(node))
        if kind == "type":
            return "function" if self.key(node, "params") else "module" if members else "value"
        if kind is not None:
            return kind
        if calls:  # `methods: [{name, params}]`: the list says what they are
            return hint if hint in CALLABLE + ("event",) else "function"
        if members:  # a wrapper (`<GlobalFunctions>`) or a named group of members
            return hint if hint in SCOPES else ""
        return hint

    def key(self, node: Node, role: str) -> str | None:
        """The node's first key of a role (`params`, `returns`, ...), None when it has none."""
        if node.roles is None:  # worked out once per node: the walk asks each node for several roles
            node.roles = {}
            for key in node:
                for found in self.words.get(norm(key), ()):
                    node.roles.setdefault(found, key)
        return node.roles.get(role)

    def written_name(self, node: Node) -> str:
        """The name as written (a parameter's may be `...` or `[x]`), "" when none."""
        return next((v.strip() for k, v in node.items() if norm(k) in self.v.name and isinstance(v, str)), "")

    def name(self, node: Node) -> str | None:
        """The node's name, when it is a Lua name (`format`, `string.format`, `file:read`) or a signature."""
        for word in self.v.name:
            for key, value in node.items():
                if norm(key) == word and isinstance(value, str):
                    name = value.strip().strip("`").removesuffix("()").strip()
                    if QUALIFIED.fullmatch(name) or (("(" in name) and _signature_name(name)):
                        return name
        return None

    # -- entries -----------------------------------------------------------------------------------------------------
    def callable(self, node: Node, scope: _Scope, name: str | None, kind: str) -> None:
        self.candidates += 1
        roles = ("params", "returns", "value_type", "signature", "variants", "description")
        documented = any(self.key(node, r) for r in roles)
        signature = self.key(node, "signature")
        if name is None and signature is not None and isinstance(node[signature], str):
            name = _signature_name(node[signature])  # `{"signature": "gfx.line(x1, y1 [, color])"}`
        if name is None:
            self.grouped["a callable with no name: not an entry"].append((node.line, "?"))
            return
        if not documented:
            self.grouped[
                "known by name only (no parameters, returns, description or signature): an index of what exists,"
                " not documentation of how to call it; not an entry"
            ].append((node.line, name))
            return
        try:
            forms = self.forms(node, name if "(" in name else None)
        except ApiError as exc:
            self.skipped.append(Skipped(self.report_file, node.line, f"entry {name!r}", str(exc)))
            return
        if "(" in name:  # the name key holds the signature
            name = _signature_name(name) or name
        if not QUALIFIED.fullmatch(name):
            self.grouped["a callable whose name is not a Lua name: not an entry"].append((node.line, repr(name)))
            return
        method = self.is_method(node, scope, kind)
        for form in forms:  # `self` first: a method of the owner, called `owner:name(...)` without it
            if scope.owner and form.params and form.params[0].name == "self":
                form.params.pop(0)
                method = True
        full = qualify(scope.owner, name, ":" if method else ".")
        description = self.text(node, "description")
        examples = self.examples(node)
        self.add(full, forms, description, examples, node.line)

    def is_method(self, node: Node, scope: _Scope, kind: str) -> bool:
        if kind != "function":
            return kind == "method"
        for role, answer in (("static", False), ("method", True)):
            key = self.key(node, role)
            if key is not None and _flag(node[key]) is not None:
                return answer if _flag(node[key]) else not answer
        return scope.is_class and not scope.marks_methods

    def forms(self, node: Node, written: str | None) -> list[CallForm]:
        """Every way to call it: each variant or overload, else the node's own parameters, returns and signature
        (or `written`, a name that is a signature)."""
        variants = self.key(node, "variants")
        shapes = [node]
        if variants is not None:
            value = node[variants]
            items = value if isinstance(value, list) else list(value.values()) if isinstance(value, Node) else []
            shapes = [v for v in items if isinstance(v, Node)] or [node]
        forms = []
        for shape in shapes:
            params_key, signature_key = self.key(shape, "params"), self.key(shape, "signature")
            returns_key = self.key(shape, "returns") or self.key(shape, "value_type")
            params: list[Param] = []
            returns: list[Return] = []
            signature = shape[signature_key] if signature_key is not None else written
            if isinstance(signature, str) and not isinstance(signature, Code):
                form = parse_call_form(signature)
                params, returns = form.params, form.returns
            if params_key is not None:
                params = self.params(shape[params_key], params_key)
            if returns_key is not None:
                returns = self.returns(shape[returns_key]) or returns
            outer = self.key(node, "returns") or self.key(node, "value_type")
            if shape is not node and not returns and outer:
                returns = self.returns(node[outer])
            forms.append(CallForm("", params, returns))
        return forms

    def add(self, name: str, forms: list[CallForm], description: str, examples: list[str], line: int) -> None:
        for form in forms:
            form.signature = _signature(name, form.params)
        existing = self.by_name.get(name)
        if existing is not None:  # documented twice: one more way to call it, when it differs
            known = {f.signature for f in existing.forms} or {existing.signature}
            new = [f for f in forms if f.signature not in known]
            if new:
                existing.forms = existing.forms or [CallForm(existing.signature, existing.params, existing.returns)]
                existing.forms += new
                existing.signature = "\n".join(f.signature for f in existing.forms)
            return
        unique = list({f.signature: f for f in forms}.values())
        entry = ApiEntry(
            name=name,
            kind="method" if ":" in name else "function",
            module=_module(name),
            signature="\n".join(f.signature for f in unique),
            params=unique[0].params,
            returns=unique[0].returns,
            description=description,
            examples=examples,
            source=Source(self.source_file, line),
            forms=unique if len(unique) > 1 else [],
            owner=name.split(":")[0] if ":" in name else "",
        )
        self.keep(entry, line)

    def value(self, node: Node, scope: _Scope, name: str | None, kind: str) -> None:
        self.candidates += 1
        if name is None or not QUALIFIED.fullmatch(name) or ":" in name:
            written = name or self.written_name(node)
            what = "field" if kind == "value" else kind
            self.grouped[f"a {what} whose name is not a Lua name: not an entry"].append((node.line, repr(written)))
            return
        full = qualify(scope.owner, name, ".")
        entry = ApiEntry(
            name=full,
            kind="field" if kind == "value" else "event",
            module=_module(full),
            signature=full,
            description=self.text(node, "description"),
            examples=self.examples(node),
            source=Source(self.source_file, node.line),
            owner=scope.owner if scope.is_class else "",
        )
        if full in self.by_name:
            self.grouped["described again in this file: the first description is kept"].append((node.line, full))
        else:
            self.keep(entry, node.line)

    def keep(self, entry: ApiEntry, line: int) -> None:
        try:
            entry.validate(f"{self.report_file}:{line}")
        except ApiError as exc:
            self.skipped.append(Skipped(self.report_file, line, f"entry {entry.name!r}", str(exc)))
            return
        self.by_name[entry.name] = entry
        self.entries.append(entry)

    # -- parameters and returns --------------------------------------------------------------------------------------
    def params(self, value: Any, where: str) -> list[Param]:
        if isinstance(value, str):
            inside = value.strip()
            if inside.startswith("(") and inside.endswith(")"):
                inside = inside[1:-1]
            return parse_params(inside)
        if isinstance(value, Node):
            if self.name(value) is not None or self.describes(value):
                return [self.param(value, None, 0)]
            return [self.param_item(item, key, i) for i, (key, item) in enumerate(value.items())]
        if isinstance(value, list):
            out: list[Param] = []
            for i, item in enumerate(value):
                if isinstance(item, Node) and item.elements and not self.written_name(item):
                    # `<parameters><parameter .../></parameters>`: the list's element; its receiver is not passed
                    lists = [v for k, v in item.items() if k in item.elements and norm(k) not in self.v.receiver]
                    out += self.params([x for v in lists for x in v], where)
                elif item is not None and item != "":
                    out.append(self.param_item(item, None, i))
            return out
        if value is None:
            return []
        raise ApiError(f"'{where}' must hold parameters (a list, a map by name or a string), not {value!r:.60}")

    def param_item(self, item: Any, implied: str | None, index: int) -> Param:
        if isinstance(item, Node):
            return self.param(item, implied, index)
        if isinstance(item, str) and implied is None:
            param = read_param(item)
            if param is None:
                raise ApiError(f"cannot read a parameter from {item!r}")
            return param
        return Param(name=implied or f"arg{index + 1}", type=str(item) if isinstance(item, str) else "any")

    def param(self, node: Node, implied: str | None, index: int) -> Param:
        name = self.written_name(node) or implied or ""
        type_ = self.type_text(node)
        optional = False
        key = self.key(node, "optional")
        if key is not None:
            optional = bool(_flag(node[key]))
        key = self.key(node, "required")
        if key is not None and _flag(node[key]) is not None:
            optional = not _flag(node[key])
        default = ""
        key = self.key(node, "default")
        if key is not None and node[key] is not None:
            default = _lua_literal(node[key])
            optional = True
        if name.startswith("[") and name.endswith("]"):
            name, optional = name[1:-1].strip(), True
        if name.endswith("?") or type_.endswith("?"):
            name, type_, optional = name.rstrip("?"), type_.rstrip("?") or "any", True
        if "nil" in re.split(r"\s*\|\s*", type_):
            optional = True
        key = self.key(node, "vararg")
        if name in ("...", "\u2026") or name.endswith("...") or type_ == "..." or (key and _flag(node[key])):
            name, optional = VARARG, True
        if not name:
            name = f"arg{index + 1}"
        fields_key = self.key(node, "table_fields")
        fields = self.params(node[fields_key], f"{name}: {fields_key}") if fields_key else []
        return Param(
            name=name,
            type=type_ or "any",
            optional=optional,
            description=self.text(node, "description"),
            default=default,
            fields=fields,
        )

    def type_text(self, node: Node) -> str:
        key = self.key(node, "param_type")
        if key is None:
            return "any"
        value = node[key]
        if isinstance(value, Node):  # `<type name="gint"/>`
            value = [value]
        if isinstance(value, list):
            parts = [(self.name(v) or self.type_text(v)) if isinstance(v, Node) else str(v) for v in value]
            return "|".join(p for p in parts if p and p != "any") or "any"
        return str(value).strip() or "any"

    def returns(self, value: Any) -> list[Return]:
        if isinstance(value, str):
            parts = [p.strip() for p in split_top(value) if p.strip()]
            if len(parts) == 1 and parts[0].lower() in ("void", "nil", "none", "nothing"):
                return []
            return [_return_text(p) for p in parts]
        if isinstance(value, Node):
            if self.name(value) is None and not self.describes(value):
                return self.returns([x for v in value.values() if isinstance(v, list) for x in v])
            return [self.return_node(value)]
        if isinstance(value, list):
            return [self.return_node(v) if isinstance(v, Node) else Return(type=str(v)) for v in value if v]
        return []

    def return_node(self, node: Node) -> Return:
        name, description = self.name(node) or "", self.text(node, "description")
        if self.key(node, "param_type") is None:  # `{"Category": "Primitive", "Name": "bool"}`: a type, named
            return Return(type=name or "any", description=description)
        return Return(type=self.type_text(node), name=name, description=description)

    # -- text --------------------------------------------------------------------------------------------------------
    def text(self, node: Node, role: str) -> str:
        key = self.key(node, role)
        return self.text_of(node[key]) if key is not None else ""

    def text_of(self, value: Any) -> str:
        """Prose as written (entities decoded); a list's items one per line; an object's descriptions."""
        if isinstance(value, Code):
            return ""
        if isinstance(value, str):
            return html.unescape(value).strip()
        if isinstance(value, list):
            return "\n".join(t for t in map(self.text_of, value) if t)
        if isinstance(value, Node):
            return "\n".join(
                t for t in (self.text_of(v) for k, v in value.items() if norm(k) in self.v.description) if t
            )
        return ""

    def examples(self, node: Node) -> list[str]:
        key = self.key(node, "examples")
        if key is None:
            return []
        value = node[key]
        items = value if isinstance(value, list) else [value]
        return [item.strip("\n") for item in items if isinstance(item, str) and not isinstance(item, Code) and item]


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and not isinstance(value, Code):
        word = value.strip().lower()
        return True if word in TRUE else False if word in ("false", "no", "0", "off") else None
    return None


def _lua_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _return_text(text: str) -> Return:
    words = text.split()
    if len(words) == 2 and IDENT.fullmatch(words[1]):
        return Return(type=words[0], name=words[1])
    return Return(type=text)


def _is_name(key: str) -> bool:
    return bool(IDENT.fullmatch(key))


def _signature_name(text: str) -> str | None:
    try:
        return parse_call_form(text).name.replace(" ", "")
    except ApiError:
        return None


def _signature(name: str, params: list[Param]) -> str:
    return f"{name}({', '.join(f'[{p.name}]' if p.optional and p.name != VARARG else p.name for p in params)})"


def _module(name: str) -> str:
    return re.split(r"[.:]", name)[0] if re.search(r"[.:]", name) else "_G"


def qualify(owner: str, name: str, separator: str) -> str:
    if not owner or "." in name or ":" in name:
        return name
    return f"{owner}{separator}{name}"


# -- names from the path --------------------------------------------------------------------------------------------


def path_name(source_file: str, report_file: str) -> tuple[str, str]:
    """(owner, member) of a file that describes one member and does not name it. The file's stem is the member (an
    `init` or `index` file's is its folder's name); the owner is the chain of folders above it that are each
    described by a file beside them (`tes3.lua` beside `tes3/`) or inside them (`tes3/init.lua`). A folder with no
    description is a grouping (`global/`, `events/`), not a name; and with no file on disk to look beside, none is
    known."""
    member = PurePosixPath(source_file).stem
    real = Path(report_file)
    if not real.is_file():
        return "", member
    chain: list[str] = []
    folder = real.resolve().parent
    if member in INDEX_STEMS:
        member, folder = folder.name, folder.parent
    while QUALIFIED.fullmatch(folder.name) and _described(folder):
        chain.insert(0, folder.name)
        folder = folder.parent
    return ".".join(chain), member


def _described(folder: Path) -> bool:
    return folder.name in _file_stems(folder.parent) or bool(_file_stems(folder) & INDEX_STEMS)


@cache
def _file_stems(folder: Path) -> frozenset[str]:
    try:
        return frozenset(p.stem for p in folder.iterdir() if p.is_file())
    except OSError:
        return frozenset()
