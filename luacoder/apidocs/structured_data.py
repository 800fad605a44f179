"""Structured API description files (JSON, YAML, XML, Lua tables) parsed into plain data that keeps its source lines.

    data = load_data(text, "steam/api/steam.script_api")   # Node, list, str, int, float, bool, None or Code

Every object becomes a `Node`: a dict with the line it starts on. XML elements become Nodes too: attributes and
child elements are keys (local names, namespaces dropped), children grouped by tag into lists, and an element of
mixed content (text with inline markup, as in a description) is its text. Lua is read as data with tree-sitter-lua:
a table constructor is a Node (named fields) or a list (positional fields), and an expression that is not a literal
(a variable, a call, a function) is `Code` holding its source text. Nothing is ever executed.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any

import yaml
from lxml import etree

# The roots of W3C schema and stylesheet documents: XML that describes other XML, never an API.
SCHEMA_NAMESPACES = ("http://www.w3.org/2001/XMLSchema", "http://www.w3.org/1999/XSL/Transform")
TEXT_KEY = "#text"  # where an XML element's own text goes when it also has attributes or children


class Node(dict):
    """An object of the description, with the line it starts on and, for XML, its element's tag and the keys that
    hold child elements (lists grouped by tag, not values keyed by name)."""

    def __init__(self, *args, line: int = 0, tag: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.line = line
        self.tag = tag
        self.elements: set[str] = set()
        self.roles: dict[str, str] | None = None  # role -> key, worked out by the reader when it first asks


class Code(str):
    """A Lua expression that is not a literal (`timer.game`, `function() end`), kept as its source text."""


class DataError(ValueError):
    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


def syntax_of(suffix: str, text: str) -> str:
    """ "json", "yaml", "xml" or "lua": by the file's suffix, else by how the text starts."""
    suffix = suffix.lower()
    known = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".xml": "xml", ".lua": "lua"}
    if suffix in known:
        return known[suffix]
    start = text.lstrip("\ufeff \t\r\n")[:1]
    if start in "{[":
        return "json"
    if start == "<":
        return "xml"
    if re.search(r"^\s*(return|local)\b", text, re.MULTILINE) and not re.search(r"^\s*-?\s*\w+:\s", text, re.M):
        return "lua"
    return "yaml"


def load_data(text: str, syntax: str) -> Any:
    """The file's data; a file that does not parse is a DataError with the line it fails on."""
    text = text.removeprefix("\ufeff")
    return {"json": _json, "yaml": _yaml, "xml": _xml, "lua": _lua}[syntax](text)


# -- JSON -----------------------------------------------------------------------------------------------------------


def _json(text: str) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=Node)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    # Objects in document order are the opening braces outside strings, in order: each gets its brace's line (unless
    # a key given twice dropped an object, when they no longer pair up).
    braces = [m.start() for m in _JSON_TOKEN.finditer(text) if m.group() == "{"]
    nodes = list(_preorder(data))
    if len(braces) == len(nodes):
        starts = [m.start() for m in re.finditer("\n", text)]
        for node, brace in zip(nodes, braces, strict=True):
            node.line = bisect.bisect_right(starts, brace) + 1
    return data


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\{')


def _preorder(value: Any):
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, Node):
            yield value
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))


# -- YAML -----------------------------------------------------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where PyYAML has it
    pass


def _yaml_map(loader: _Loader, node: yaml.MappingNode):
    data = Node(line=node.start_mark.line + 1)
    yield data
    data.update((str(k), v) for k, v in loader.construct_mapping(node).items())


_Loader.add_constructor("tag:yaml.org,2002:map", _yaml_map)


def _yaml(text: str) -> Any:
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or exc
        raise DataError(f"malformed YAML: {problem}", mark.line + 1 if mark else 0) from None
    documents = [d for d in documents if d is not None]
    return documents[0] if len(documents) == 1 else documents


# -- XML ------------------------------------------------------------------------------------------------------------


def _xml(text: str) -> Any:
    parser = etree.XMLParser(
        encoding="utf-8", resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True,
        remove_pis=True,
    )  # fmt: skip
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise DataError(f"malformed XML: {exc.msg}", exc.lineno or 0) from None
    return _element(root)


def xml_root(text: str) -> tuple[str, str] | None:
    """(namespace, local name) of an XML text's root element, from its first start tag; None when there is none."""
    text = re.sub(r"<!--.*?(-->|$)", "", text, flags=re.DOTALL)
    match = re.search(r"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)([^>]*)>", re.sub(r"<[?!][^>]*>", "", text))
    if match is None:
        return None
    prefix = (match.group(1) or "").rstrip(":")
    declared = re.search(rf"xmlns{':' + prefix if prefix else ''}\s*=\s*[\"']([^\"']*)", match.group(3))
    return (declared.group(1) if declared else "", match.group(2))


def _element(element) -> Any:
    attributes = {etree.QName(k).localname: v for k, v in element.attrib.items()}
    children = [c for c in element if isinstance(c.tag, str)]
    mixed = bool((element.text or "").strip()) or any((c.tail or "").strip() for c in children)
    if mixed or not children:
        text = " ".join("".join(element.itertext()).split())
        if not attributes:
            return text
        node = Node(attributes, line=element.sourceline or 0, tag=etree.QName(element).localname)
        if text:
            node[TEXT_KEY] = text
        return node
    node = Node(attributes, line=element.sourceline or 0, tag=etree.QName(element).localname)
    for child in children:
        tag = etree.QName(child).localname
        if tag in node and tag not in node.elements:
            node[tag] = [node[tag]]  # an attribute and a child of the same name: both kept
        node.setdefault(tag, []).append(_element(child))
        node.elements.add(tag)
    return node


# -- Lua tables -----------------------------------------------------------------------------------------------------


def _lua(text: str) -> Any:
    from luacoder.lua.calls import parse

    root = parse(text).root_node
    if root.has_error:
        line = next((n.start_point[0] + 1 for n in _walk(root) if n.type == "ERROR" or n.is_missing), 0)
        raise DataError("not valid Lua", line)
    tables: dict[str, Any] = {}
    for statement in root.named_children:
        if statement.type == "return_statement":
            values = statement.named_children[0].named_children if statement.named_children else []
            if values and values[0].type == "table_constructor":
                return _lua_value(values[0])
            if values and values[0].type == "identifier" and values[0].text.decode() in tables:
                return tables[values[0].text.decode()]
            return None
        if statement.type in ("variable_declaration", "assignment_statement"):
            assignment = statement if statement.type == "assignment_statement" else statement.named_children[0]
            if assignment.type != "assignment_statement":
                continue
            names, values = assignment.named_children[0], assignment.named_children[-1]
            for name, value in zip(names.named_children, values.named_children, strict=False):
                if value.type == "table_constructor" and name.type in ("identifier", "dot_index_expression"):
                    tables[name.text.decode()] = _lua_value(value)
    # No `return`: the file assigns its tables to names (`steam = { init = {...} }`); the names are the keys.
    node = Node(line=1)
    node.update(tables)
    return node


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _lua_value(node) -> Any:
    kind = node.type
    if kind == "table_constructor":
        return _lua_table(node)
    if kind == "string":
        return _lua_string(node)
    if kind == "number" or (kind == "unary_expression" and node.named_children[0].type == "number"):
        return _lua_number(node.text.decode())
    if kind in ("true", "false"):
        return kind == "true"
    if kind == "nil":
        return None
    if kind == "parenthesized_expression" and node.named_children:
        return _lua_value(node.named_children[0])
    return Code(node.text.decode("utf-8", errors="replace"))


def _lua_table(node) -> Any:
    named: list[tuple[str, Any]] = []
    positional: list[Any] = []
    for field in node.named_children:
        if field.type != "field":
            continue
        value = field.child_by_field_name("value")
        key = field.child_by_field_name("name")
        if value is None:
            continue
        if key is None:
            positional.append(_lua_value(value))
        elif key.type == "identifier":
            named.append((key.text.decode(), _lua_value(value)))
        else:  # `["name"] = v`, `[3] = v`
            literal = _lua_value(key)
            named.append((str(literal), _lua_value(value)))
    if positional and not named:
        return positional
    table = Node(named, line=node.start_point[0] + 1)
    for i, value in enumerate(positional, 1):
        table.setdefault(str(i), value)
    return table


_ESCAPES = dict(zip("abfnrtv\\\"'", "\a\b\f\n\r\t\v\\\"'", strict=True))
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\\"'])|z\s*|x([0-9A-Fa-f]{2})|(\d{1,3})|u\{([0-9A-Fa-f]+)\}|(\r\n?|\n\r?))")


def _lua_string(node) -> str:
    raw = node.text.decode("utf-8", errors="replace")
    long = re.match(r"\[(=*)\[", raw)
    if long:
        body = raw[long.end() : len(raw) - len(long.group(0))]
        return body[1:] if body.startswith("\n") else body  # Lua drops the newline right after the opening
    return _ESCAPE.sub(_unescape, raw[1:-1])


def _unescape(match: re.Match) -> str:
    simple, hex_code, decimal, unicode, newline = match.groups()
    if simple:
        return _ESCAPES[simple]
    if hex_code:
        return chr(int(hex_code, 16))
    if decimal:
        return chr(int(decimal))
    if unicode:
        return chr(int(unicode, 16))
    return "\n" if newline else ""  # `\z` skips the white space that follows it


def _lua_number(text: str) -> int | float | str:
    compact = text.replace(" ", "")
    try:
        return int(compact, 0)
    except ValueError:
        pass
    try:
        return float(compact) if "x" not in compact.lower() else float.fromhex(compact)
    except ValueError:
        return Code(text)
