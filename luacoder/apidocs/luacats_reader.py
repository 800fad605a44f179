"""LuaCATS / EmmyLua annotations (the Lua Language Server's `---@` tags), read with tree-sitter-lua.

    ---Constructs a sprite.                       <- description
    ---@param parent? scenenodeObj # The parent   <- `name?`: optional; text after `#` describes it
    ---@param x number
    ---@return spriteObj # A new sprite object
    ---@overload fun(parent?: scenenodeObj, pos: ncine.vec2): spriteObj
    function ncine.sprite.new(parent, x) end      <- the name and the parameter order come from this line

tree-sitter finds the function statements (`function M.f(a, b) end`, `M.f = function(a, b) end`) and the comments
right above them; only the tag lines are read by pattern, as the annotation grammar defines them. A name defined
twice (stubs of overloads) is one entry with a form per definition; `---@overload` adds a form; `---@field` lines
under a `---@class` are fields of that class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from luacoder.apidocs.reading import FileReading, Skipped
from luacoder.apidocs.schema import VARARG, ApiEntry, CallForm, Param, Return, Source
from luacoder.lua.calls import parse

FUNCTION_VALUES = ("function_definition",)


@dataclass
class DocBlock:
    """A doc comment and the function statement under it (name "" when the comment documents no statement)."""

    lines: list[str]  # comment text without the leading dashes' first two characters (`-@param`, `- summary`)
    raw: list[str]  # the comment lines as written
    name: str
    params: list[str]
    line: int  # 1-based line of the function statement (or of the comment)
    local: bool = False


def doc_blocks(text: str) -> list[DocBlock]:
    """Every function statement with the comment lines right above it, and every comment block standing alone."""
    tree = parse(text.encode("utf-8"))
    blocks: list[DocBlock] = []
    used_comments: set[int] = set()
    for node in _walk(tree.root_node):
        name, params, local = _function(node)
        if not name:
            continue
        comments = []
        previous, row = node.prev_sibling, node.start_point[0]
        while previous is not None and previous.type == "comment" and previous.end_point[0] == row - 1:
            comments.insert(0, previous)
            row = previous.start_point[0]
            previous = previous.prev_sibling
        used_comments.update(c.id for c in comments)
        raw = [c.text.decode("utf-8", "replace") for c in comments]
        blocks.append(DocBlock([_body(r) for r in raw], raw, name, params, node.start_point[0] + 1, local))
    # Comment blocks not above a statement (LDoc `@function`, LuaCATS `---@class` blocks)
    run: list = []
    for node in list(tree.root_node.children) + [None]:
        if node is not None and node.type == "comment" and node.id not in used_comments:
            if run and node.start_point[0] != run[-1].end_point[0] + 1:
                blocks.append(_standalone(run))
                run = []
            run.append(node)
            continue
        if run:
            blocks.append(_standalone(run))
            run = []
    blocks.sort(key=lambda b: b.line)
    return blocks


def _standalone(run) -> DocBlock:
    raw = [c.text.decode("utf-8", "replace") for c in run]
    return DocBlock([_body(r) for r in raw], raw, "", [], run[0].start_point[0] + 1)


def _body(comment: str) -> str:
    """`---@param x` -> `-@param x`, `-- @param x` -> ` @param x`: the text after `--`."""
    return comment[2:] if comment.startswith("--") else comment


def _walk(node):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _function(node) -> tuple[str, list[str], bool]:
    if node.type == "function_declaration":
        name_node = node.child_by_field_name("name")
        params_node = node.child_by_field_name("parameters")
        local = any(c.type == "local" for c in node.children)
        return _txt(name_node), _param_names(params_node), local
    if node.type in ("assignment_statement", "variable_declaration"):
        target = node
        if node.type == "variable_declaration":
            target = next((c for c in node.children if c.type == "assignment_statement"), None)
            if target is None:
                return "", [], False
        variables = next((c for c in target.children if c.type == "variable_list"), None)
        values = next((c for c in target.children if c.type == "expression_list"), None)
        if variables is None or values is None or len(variables.named_children) != 1:
            return "", [], False
        value = values.named_children[0] if values.named_children else None
        if value is None or value.type not in FUNCTION_VALUES:
            return "", [], False
        return _txt(variables.named_children[0]), _param_names(value.child_by_field_name("parameters")), False
    return "", [], False


def _txt(node) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def _param_names(node) -> list[str]:
    if node is None:
        return []
    return [VARARG if c.type == "vararg_expression" else _txt(c) for c in node.named_children if c.type != "comment"]


TAG = re.compile(r"^-\s*@(\w+)\s*(.*)$")
FIELD = re.compile(
    r"^(?:(?:public|protected|private|package)\s+)?(?P<name>[A-Za-z_]\w*)(?P<opt>\?)?\s+(?P<type>\S+)"
    r"(?:\s*#?\s*(?P<desc>.*))?$"
)
CLASS = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)")
OVERLOAD = re.compile(r"^fun\s*\((?P<params>.*?)\)(?:\s*:\s*(?P<ret>.+))?$")


def _split_type(text: str) -> tuple[str, str]:
    """`number # desc` -> (number, desc); types may hold spaces inside `fun(...)` or `table<...>`."""
    depth, i = 0, 0
    for i, ch in enumerate(text):
        if ch in "(<{[":
            depth += 1
        elif ch in ")>}]":
            depth -= 1
        elif ch == " " and depth == 0:
            rest = text[i:].strip()
            return text[:i], rest.lstrip("#").strip()
    return text, ""


def read_luacats(text: str, source_file: str, report_file: str) -> FileReading:
    entries: list[ApiEntry] = []
    skipped: list[Skipped] = []
    by_name: dict[str, ApiEntry] = {}
    for block in doc_blocks(text):
        if not any(TAG.match(line) for line in block.lines) and not block.name:
            continue
        description, params, returns, overloads, fields, klass = [], {}, [], [], [], ""
        for offset, line in enumerate(block.lines):
            match = TAG.match(line)
            if not match:
                if not any(TAG.match(x) for x in block.lines[:offset]):
                    description.append(line.lstrip("-").strip())
                continue
            tag, value = match.group(1), match.group(2).strip()
            if tag == "param":
                name, _, rest = value.partition(" ")
                optional = name.endswith("?")
                name = name.rstrip("?")
                type_, desc = _split_type(rest.strip())
                optional = optional or type_.endswith("?") or "nil" in re.split(r"[|?]", type_)
                params[name] = Param(name=name, type=type_ or "any", optional=optional, description=desc)
            elif tag == "return":  # `type [name] [# description]`
                typed, _, desc = value.partition("#")
                type_, ret_name = _split_type(typed.strip())
                if not re.fullmatch(r"[A-Za-z_]\w*", ret_name):
                    desc, ret_name = f"{ret_name} {desc}".strip(), ""
                returns.append(Return(type=type_ or "any", name=ret_name, description=desc.strip()))
            elif tag == "overload":
                match = OVERLOAD.match(value)
                if match:
                    overloads.append(match)
                else:
                    skipped.append(Skipped(report_file, block.line, f"@overload {value!r}", "not a fun(...) type"))
            elif tag == "class":
                klass_match = CLASS.match(value)
                klass = klass_match.group("name") if klass_match else ""
            elif tag == "field":
                field = FIELD.match(value)
                if field:
                    fields.append(field)
        if klass and fields:
            for field in fields:
                name = f"{klass}.{field.group('name')}"
                if name not in by_name:
                    entry = ApiEntry(
                        name=name,
                        kind="field",
                        module=klass.split(".")[0],
                        signature=name,
                        description=(field.group("desc") or "").strip(),
                        source=Source(source_file, block.line),
                        owner=klass,
                    )
                    by_name[name] = entry
                    entries.append(entry)
        if not block.name or block.local:
            continue
        form_params = []
        for pname in block.params:
            documented = params.get(pname)
            if pname == VARARG:
                documented = params.get(VARARG) or documented
            form_params.append(
                Param(
                    name=pname,
                    type=documented.type if documented else "any",
                    optional=(documented.optional if documented else False) or pname == VARARG,
                    description=documented.description if documented else "",
                )
            )
        signature = f"{block.name}({', '.join(block.params)})"
        forms = [CallForm(signature, form_params, returns)]
        for overload in overloads:
            forms.append(_overload_form(block.name, overload))
        _add(entries, by_name, block, forms, "\n".join(description).strip(), source_file)
    return FileReading(entries, skipped, len(entries))


def _overload_form(name: str, match) -> CallForm:
    params = []
    for part in _top_commas(match.group("params")):
        part = part.strip()
        if not part:
            continue
        pname, _, ptype = part.partition(":")
        pname = pname.strip()
        optional = pname.endswith("?") or pname == VARARG
        params.append(Param(name=pname.rstrip("?"), type=ptype.strip() or "any", optional=optional))
    returns = [Return(type=match.group("ret").strip())] if match.group("ret") else []
    return CallForm(f"{name}({match.group('params')})", params, returns)


def _top_commas(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "(<{[":
            depth += 1
        elif ch in ")>}]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _add(entries, by_name, block: DocBlock, forms: list[CallForm], description: str, source_file: str) -> None:
    """One entry per name; a name defined again (an overload's stub) adds its forms."""
    name = block.name.replace(" ", "")
    if name in by_name:
        entry = by_name[name]
        if not entry.forms:
            entry.forms = [CallForm(entry.signature, entry.params, list(entry.returns))]
        known = {f.signature for f in entry.forms}
        entry.forms += [f for f in forms if f.signature not in known]
        entry.signature = "\n".join(f.signature for f in entry.forms)
        return
    first = forms[0]
    entry = ApiEntry(
        name=name,
        kind="method" if ":" in name else "function",
        module=re.split(r"[.:]", name)[0] if re.search(r"[.:]", name) else "_G",
        signature="\n".join(f.signature for f in forms),
        params=first.params,
        returns=first.returns,
        description=description,
        source=Source(source_file, block.line),
        forms=forms if len(forms) > 1 else [],
        owner=name.split(":")[0] if ":" in name else "",
    )
    by_name[name] = entry
    entries.append(entry)
