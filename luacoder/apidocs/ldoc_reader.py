"""LDoc comments in Lua source, read with tree-sitter-lua (the function statements) and LDoc's tag grammar.

    --- generate a table of all numbers in a range.     <- `---` opens a doc comment: its summary
    -- @int start  number                                <- typed shortcuts: @string @int @number @bool @tab @func
    -- @int[opt=1] step  make this negative              <- [opt], [opt=default]: optional
    -- @tparam type name desc / @param name desc / @return desc / @treturn type desc / @usage code
    function tablex.range (start,finish,step)

Also read: `-- @function name` blocks (or the older `@class function` with `@name name`) that document an item
assigned rather than defined (`List.new = List`); `@module pl.tablex` / `@classmod pl.List`, which give the public
name as LDoc does: in a module, a bare name and a name on the module's own table (its short name, or the table the
file returns, `local M = {}` ... `return M`) are the module's (`tablex.copy` in the source is `pl.tablex.copy`, with
`tablex.copy` kept as an alias; `@function chdir` is `pl.path.chdir`), other names stay as written (`table.pack`);
a class keeps its own names (`List.new`, `List:append`). `type|nil name` and `type name|nil` are optional; LDoc
written LuaCATS-style (`---@tparam`) reads the same. As in LDoc, only comments that open with `---` (or `--[[--`)
document anything, and `@local` items are left out.
"""

from __future__ import annotations

import re

from luacoder.apidocs.luacats_reader import DocBlock, doc_blocks
from luacoder.apidocs.reading import FileReading, Skipped
from luacoder.apidocs.schema import VARARG, ApiEntry, CallForm, Param, Return, Source

TAG = re.compile(r"^-*\s*@(?P<tag>\w+)(?:\[(?P<mod>[^\]]*)\])?\s*(?P<value>.*)$")
SHORT_TYPES = {
    "string": "string",
    "int": "integer",
    "number": "number",
    "bool": "boolean",
    "tab": "table",
    "func": "function",
    "array": "array",
    "thread": "thread",
}
RETURN_TAGS = ("return", "treturn", "ret")
_RETURNED = re.compile(r"^return\s+([A-Za-z_]\w*)\s*;?\s*$", re.MULTILINE)  # a module file's table


def _clean(line: str) -> str:
    return line.lstrip("-").strip()


def read_ldoc(text: str, source_file: str, report_file: str) -> FileReading:
    entries: list[ApiEntry] = []
    skipped: list[Skipped] = []
    by_name: dict[str, ApiEntry] = {}
    module, classmod = "", False
    returned = _RETURNED.findall(text)
    module_table = returned[-1] if returned else ""
    blocks = doc_blocks(text)
    for block in blocks:
        for line in block.lines:
            match = TAG.match("-" + _clean(line))
            if match and match.group("tag") in ("module", "classmod", "submodule", "library"):
                module = match.group("value").split()[0] if match.group("value").split() else ""
                classmod = match.group("tag") == "classmod"  # a class keeps its own name: `List.new`, `List:append`
    for block in blocks:
        if not _is_doc(block):
            continue
        tags = [(m.group("tag"), m.group("mod") or "", m.group("value").strip()) for m in _tags(block)]
        names = {t for t, _, _ in tags}
        if "local" in names:
            continue
        if any(t == "class" and v.split()[:1] != ["function"] for t, _, v in tags):
            continue  # `@class table`, `@class field`: not a function
        declared = next((v.split()[0] for t, _, v in tags if t in ("function", "name") and v.split()), "")
        name = block.name or declared
        if not name or (block.local and not declared):
            continue
        if declared:
            name = declared
        params: dict[str, Param] = {}
        order: list[str] = []
        returns: list[Return] = []
        examples: list[str] = []
        description = []
        in_usage = None
        for raw in block.lines:
            clean = _clean(raw)
            match = TAG.match("-" + clean) if clean.startswith("@") else None
            if match is None:
                if in_usage is not None:
                    in_usage.append(raw.lstrip("-")[1:] if raw.startswith("- ") else raw.lstrip("-"))
                elif not tags or not any(_clean(x).startswith("@") for x in block.lines[: block.lines.index(raw)]):
                    description.append(clean)
                continue
            if in_usage is not None:
                examples.append("\n".join(in_usage).strip("\n") + "\n")
                in_usage = None
            tag, mod, value = match.group("tag"), match.group("mod") or "", match.group("value").strip()
            optional = mod.startswith("opt")
            default = mod.split("=", 1)[1] if "=" in mod else ""
            if tag == "param" or tag in SHORT_TYPES:
                pname, _, desc = value.partition(" ")
                ptype = SHORT_TYPES.get(tag, "any")
                param = _param(pname, ptype, desc, optional, default)
            elif tag == "tparam":
                ptype, _, rest = value.partition(" ")
                pname, _, desc = rest.strip().partition(" ")
                param = _param(pname, ptype, desc, optional, default)
            elif tag in RETURN_TAGS:
                if tag == "treturn":
                    rtype, _, desc = value.partition(" ")
                    returns.append(Return(type=rtype, description=desc.strip()))
                else:
                    returns.append(Return(description=value))
                continue
            elif tag == "usage":
                in_usage = [value] if value else []
                continue
            else:
                continue
            words = value.split(" ", 2) if tag == "tparam" else ["", *value.split(" ", 1)]
            written_name = words[1] if len(words) > 1 else ""
            if param is None and "." in written_name:  # `@string cnfg.delim ...`: a key of the table `cnfg`
                owner_name, _, key = written_name.partition(".")
                if owner_name in params:
                    key_type = words[0] if tag == "tparam" else SHORT_TYPES.get(tag, "any")
                    key_desc = words[2] if len(words) > 2 else ""
                    key_param = _param(key, key_type, key_desc, optional, default)
                    if key_param is not None:
                        params[owner_name].fields.append(key_param)
                        continue
            if param is None:
                skipped.append(Skipped(report_file, block.line, f"@{tag} {value!r}", "no parameter name"))
                continue
            params[param.name] = param
            order.append(param.name)
        if in_usage is not None:
            examples.append("\n".join(in_usage).strip("\n") + "\n")
        written = block.params if block.name and not declared else order
        form_params = []
        for pname in written:
            doc = params.get(pname)
            form_params.append(
                Param(
                    name=pname,
                    type=doc.type if doc else "any",
                    optional=(doc.optional if doc else False) or pname == VARARG,
                    description=doc.description if doc else "",
                    default=doc.default if doc else "",
                    fields=doc.fields if doc else [],
                )
            )
        public, aliases = (name, []) if classmod else _public(name, module, module_table)
        signature = f"{public}({', '.join(written)})"
        if public in by_name:
            entry = by_name[public]
            if not entry.forms:
                entry.forms = [CallForm(entry.signature, entry.params, list(entry.returns))]
            if signature not in {f.signature for f in entry.forms}:
                entry.forms.append(CallForm(signature, form_params, returns))
                entry.signature += "\n" + signature
            continue
        entry = ApiEntry(
            name=public,
            kind="method" if ":" in public else "function",
            module=module or (re.split(r"[.:]", public)[0] if re.search(r"[.:]", public) else "_G"),
            signature=signature,
            params=form_params,
            returns=returns,
            description="\n".join(description).strip(),
            examples=examples,
            aliases=aliases,
            source=Source(source_file, block.line),
            owner=public.split(":")[0] if ":" in public else "",
        )
        by_name[public] = entry
        entries.append(entry)
    return FileReading(entries, skipped, len(entries))


def _is_doc(block: DocBlock) -> bool:
    """LDoc reads a comment that opens with `---` (or `--[[--`); a plain `--` comment documents nothing, whatever
    tags it holds."""
    return bool(block.raw) and block.raw[0].startswith(("---", "--[[--"))


def _tags(block: DocBlock):
    for raw in block.lines:
        clean = _clean(raw)
        if clean.startswith("@"):
            match = TAG.match("-" + clean)
            if match:
                yield match


def _param(name: str, type_: str, desc: str, optional: bool, default: str) -> Param | None:
    """`name|nil` and `type|nil` are optional (both spellings occur); so is `name[opt=8]`."""
    bracket = re.match(r"^(\w+)\[(opt[^\]]*)\]$", name)
    if bracket:
        name, optional = bracket.group(1), True
        default = bracket.group(2).split("=", 1)[1] if "=" in bracket.group(2) else default
    if name != VARARG:
        name = name.rstrip(".,:;")
    if name.endswith("|nil"):
        name, optional = name[: -len("|nil")], True
    if "nil" in type_.split("|"):
        optional = True
    if name == VARARG:
        optional = True
    elif not re.fullmatch(r"[A-Za-z_]\w*", name):
        return None
    optional = optional or bool(default)
    return Param(name=name, type=type_ or "any", optional=optional, description=desc.strip(), default=default)


def _public(name: str, module: str, module_table: str) -> tuple[str, list[str]]:
    """The name a caller writes, and the source's spelling when a caller may write that too: under `@module
    pl.tablex`, `tablex.copy` -> (`pl.tablex.copy`, [`tablex.copy`]); `M.copy` in a file that returns `M`, or a
    bare `copy`, -> `pl.tablex.copy`."""
    if not module:
        return name, []
    short = module.rsplit(".", 1)[-1]
    root, sep, rest = _split_root(name)
    if not sep:
        return f"{module}.{name}", []
    if root in (short, module_table) and sep == ".":
        return f"{module}.{rest}", [name] if root == short and name != f"{module}.{rest}" else []
    return name, []


def _split_root(name: str) -> tuple[str, str, str]:
    match = re.match(r"^([A-Za-z_]\w*)([.:])(.*)$", name)
    return (match.group(1), match.group(2), match.group(3)) if match else (name, "", "")
