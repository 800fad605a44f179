"""What each shared corpus documents, derived from its raw files by the rules of ../shared/corpora/README.md (line
patterns counted character by character; the structured descriptions with other tools than the reader's: the
standard library's ElementTree, PyYAML's safe_load, Lua itself), never by the readers under test. One place for every
set's truth.

`SETS[set][1]()` gives {qualified name: [(required, optional) per documented call form]} of the set's documented
functions and methods; `[]` where the docs give the name but no countable parameter list. `score(api, truth)` says
how a reading compares: names found, parameter counts right (of the entries whose forms have parameters) and false
callables (function or method entries that name nothing the truth has). The tests (test_docs_corpora.py,
test_structured_corpora.py) and the benchmark (benchmarks/bench_docs_reader.py) all use it.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
ITGMANIA = CORPORA / "itgmania-luadoc-xml" / "Docs" / "Luadoc"
MWSE = CORPORA / "mwse-lua-definitions" / "autocomplete" / "definitions"
DEFOLD = CORPORA / "defold-steam-script-api" / "steam" / "api"


def counts(inside: str, optional_names: set[str] = frozenset()) -> tuple[int, int]:
    """(required, optional) arguments of a written argument list: top-level commas, `[ ]` depth, `...`, `= x`."""
    required = optional = 0
    paren = bracket = 0
    token, token_optional = "", False
    inside = re.sub(r"(?<=\w)\[\]", "", inside)  # `Actor[] actors`: an array type, not an optional part
    for ch in inside + ",":
        if ch in "({":
            paren += 1
        elif ch in ")}":
            paren -= 1
        if paren == 0 and ch in "[],":
            name = token.strip()
            if name:
                bare = re.sub(r"\W+$", "", name.split("=")[0].split()[-1]) if name.split("=")[0].split() else name
                outside = re.sub(r"\{.*\}|\(.*\)", "", name)  # `x = 1`, `...`; not inside `{ k=v, ... }`
                vararg = "..." in outside or "\u00b7" in outside
                if token_optional or vararg or "=" in outside or bare in optional_names:
                    optional += 1
                else:
                    required += 1
            token = ""
            bracket += {"[": 1, "]": -1, ",": 0}[ch]
            token_optional = bracket > 0
            continue
        if not token.strip() and not ch.isspace():
            token_optional = token_optional or bracket > 0
        token += ch
    return required, optional


Truth = dict[str, list[tuple[int, int]]]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def luv() -> Truth:
    out: Truth = {}
    for line in _lines(CORPORA / "luvit-luv" / "docs" / "docs.md"):
        heading = re.match(r"^### `(uv\.\w+)\((.*)\)`\s*$", line)
        if heading:
            out[heading.group(1)] = [counts(heading.group(2))]
    return out


def solar2d() -> Truth:
    """Pages whose __Type__ row says Function; the forms are the tab-indented lines of their `## Syntax*` sections
    that call the page's name; one line with no [ ] takes its optional marks from its `##### name ~^(optional)^~`."""
    api = CORPORA / "solar2d-corona-docs" / "markdown" / "api"
    out: Truth = {}
    for path in sorted(api.rglob("*.markdown")):
        text = "\n".join(_lines(path))
        if not re.search(r"^>\s*__Type__\s+\[Function\]", text, re.MULTILINE):
            continue
        title = re.search(r"^# (.+?)\s*$", text, re.MULTILINE).group(1)
        title = re.sub(r"<span style=\"display: none;\">.*?</span>", "", title)
        written = title.split("(")[0].strip()
        name = written
        if ":" in name:
            name = path.parent.name + ":" + name.split(":")[1]
        forms = []
        for syntax in re.finditer(r"^## Syntax[^\n]*$(.*?)(?=^## )", text + "\n## ", re.MULTILINE | re.DOTALL):
            lines = [
                call.group(1)
                for line in re.findall(r"^\t+(\S.*?)\s*$", syntax.group(1), re.MULTILINE)
                if (call := re.match(re.escape(written) + r"\s*\((.*)\)", line.split("--")[0].strip()))
            ]
            marked = set()
            if len(lines) == 1 and "[" not in lines[0]:
                for heading in re.findall(r"^##### (.+?) ~\^\(optional\)\^~", syntax.group(1), re.MULTILINE):
                    marked |= {n.strip(" []") for n in re.split(r"[,/]", heading)}
            forms += [counts(args, marked) for args in lines]
        out[name] = forms
    # Functions and methods documented inside another page, under a heading of their own (display.newMesh's
    # `##### object.path:setVertex()`) or as a list item that opens with the call (`* `sqlite3.open( path )` ...`).
    for path in sorted(api.rglob("*.markdown")):
        for line in _lines(path)[1:]:
            heading = re.match(r"^(?:#{2,6} |\* `)([A-Za-z_][\w.]*[.:][A-Za-z_]\w*)\s*\(", line)
            if heading and heading.group(1) not in out:
                out.setdefault(heading.group(1), [])
    return out


def luanti() -> Truth:
    """Bullets that open with a qualified call (`core.*`, `vector.*` and the other tables; overloads are forms), and
    bare method bullets, a method of the type that the nearest heading above names in a code span (`` `ObjectRef` ``
    over `---`), else a global."""
    out: Truth = defaultdict(list)
    lines = _lines(CORPORA / "luanti-lua-api" / "doc" / "lua_api.md")
    stack: list[tuple[int, str]] = []
    fence = False
    for i, line in enumerate(lines):
        if re.match(r"^ {0,3}```", line):
            fence = not fence
        if fence:
            continue
        level, title = 0, ""
        atx = re.match(r"^(#{1,6})\s+(.*?)\s*#*$", line)
        if atx:
            level, title = len(atx.group(1)), atx.group(2)
        elif (
            i + 1 < len(lines)
            and line.strip()
            and re.match(r"^(=+|-+)\s*$", lines[i + 1])
            and not line.startswith(("*", "-", " "))
        ):
            level, title = (1 if lines[i + 1].startswith("=") else 2), line.strip()
        if level:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            continue
        call = re.match(r"^\* `([A-Za-z_]\w*[.:][A-Za-z0-9_.:]*)\((.*?)\)(?:`| ->)", line)
        wrapped = re.match(r"^\* `([A-Za-z_]\w*[.:][A-Za-z0-9_.:]*)\(", line)
        bare = re.match(r"^\* `([a-z_][A-Za-z0-9_]*)\((.*?)\)`", line)
        if call:
            out[call.group(1)].append(counts(call.group(2)))
        elif wrapped:
            out.setdefault(wrapped.group(1), [])
        elif bare:
            owner = next((t.strip("`") for _, t in reversed(stack) if re.fullmatch(r"`[A-Za-z_]\w*`", t)), "")
            out[f"{owner}:{bare.group(1)}" if owner else bare.group(1)].append(counts(bare.group(2)))
    return dict(out)


def openra() -> Truth:
    out: Truth = {}
    scope = group = ""
    for line in _lines(CORPORA / "openra-lua-api" / "api" / "lua.md"):
        if line.startswith("## "):
            scope = line[3:].strip()
        elif line.startswith("### "):
            group = line[4:].strip()
        row = re.match(r"^\| \*\*(?:<s>)?(?:[\w\[\]<>.]+ )?(\w+)\((.*?)\)", line)
        if row:
            owner = scope.split()[0]
            name = f"{group}.{row.group(1)}" if scope == "Global Tables" else f"{owner}:{row.group(1)}"
            out.setdefault(name, []).append(counts(row.group(2)))
    return out


def mpv() -> Truth:
    out: Truth = {}
    for line in _lines(CORPORA / "mpv-lua-rst" / "DOCS" / "man" / "lua.rst"):
        if re.match(r"^``[A-Za-z_.]+\(.*``( \(global\))?$", line):
            for name, args in re.findall(r"``([A-Za-z_.]+)\((.*?)\)``", line):
                out.setdefault(name, []).append(counts(args))
    return out


def lua54_manual() -> Truth:
    text = (CORPORA / "lua54-manual-html" / "doc" / "en-us" / "54" / "manual.html").read_text(encoding="utf-8")
    out: Truth = {}
    for name, code in re.findall(r'<h3><a name="pdf-([^"]*)"><code>([^<]*)</code>', text):
        if "(" in code:
            out[name] = [counts(code.split("(", 1)[1].rsplit(")", 1)[0].replace("&middot;&middot;&middot;", "..."))]
    return out


def _ncine(folder: Path, optional_rule) -> Truth:
    out: Truth = defaultdict(list)
    for path in sorted(folder.glob("*.lua")):
        lines = _lines(path)
        for number, line in enumerate(lines):
            match = re.match(r"^function ([A-Za-z_][\w.]*\.[A-Za-z_]\w*)\((.*)\)", line)
            if not match:
                continue
            above, back = set(), number - 1
            while back >= 0 and lines[back].startswith("--"):
                above |= optional_rule(lines[back])
                back -= 1
            out[match.group(1)].append(counts(match.group(2), above))
    return dict(out)


def ncine_luacats() -> Truth:
    """The `function X.Y(...) end` stubs, and the global functions of ncinelua.lua."""
    library = CORPORA / "ncine-luacats" / "library"
    out = _ncine(library, lambda line: set(re.findall(r"^---@param ([A-Za-z_]\w*)\?", line)))
    for line in _lines(library / "ncinelua.lua"):
        match = re.match(r"^function ([A-Za-z_]\w*)\((.*)\)", line)
        if match:
            out.setdefault(match.group(1), []).append(counts(match.group(2)))
    return out


def penlight() -> Truth:
    """What LDoc itself documents: the function items of its HTML output (`docs/libraries/*.html`,
    `docs/classes/*.html`, each `<dt>` whose `<strong>` is `name (args)`; 525, README), named as a caller writes them.
    A bare name on a module's page is `pl.x.name`; a class page's `pl.c:m` (LDoc's spelling of the class's own items)
    is the constructor `C` when `m` is the class's name, else `C.m` or `C:m` as the source spells it (its `@function`
    or `@name` tag, else its definition); other names as written. A module that has a class page is read from it.
    The HTML was generated at release 1.15.0: items the source changed since differ (README)."""
    root = CORPORA / "penlight-ldoc"
    pages = sorted((root / "docs" / "classes").glob("*.html"))
    classes = {page.stem for page in pages}
    pages += [page for page in sorted((root / "docs" / "libraries").glob("*.html")) if page.stem not in classes]
    out: Truth = {}
    for page in pages:
        module = page.stem
        short = module.rsplit(".", 1)[-1]
        source_path = root / "lua" / "pl" / f"{short}.lua"
        source = source_path.read_text(encoding="utf-8") if source_path.exists() else ""
        for written, args in re.findall(r"^    <strong>([^<]*?) \((.*)\)</strong>$", page.read_text("utf-8"), re.M):
            name = html.unescape(written)
            if name.startswith(module.lower() + ":"):
                member = name.split(":", 1)[1]
                spelled = re.search(rf"@(?:function|name)\s+{short}([.:]){member}\b", source) or re.search(
                    rf"^(?:function\s+)?{short}([.:]){member}\b", source, re.MULTILINE
                )
                name = short if member == short else f"{short}{spelled.group(1) if spelled else ':'}{member}"
            elif "." not in name and ":" not in name:
                name = f"{module}.{name}"
            form = counts(html.unescape(args))
            if form not in out.setdefault(name, []):
                out[name].append(form)
    return out


def haproxy() -> Truth:
    out: Truth = {}
    for line in _lines(CORPORA / "haproxy-lua-sphinx" / "doc" / "lua-api" / "index.rst"):
        match = re.match(r"^\.\. js:function:: ([^(]+)\((.*)\)\s*$", line)
        if match:
            out[match.group(1).strip()] = [counts(match.group(2))]
    return out


def haka() -> Truth:
    """Function and method directives, less events (`:objtype: event`) and callback prototypes nested in another
    entry; a bare name is a member of the class directive it is nested in (`Class:m` for a method), else of the
    module directive in force (unless its `:module:` option is empty); continuation lines are more signatures."""
    root = CORPORA / "haka-lua-sphinx"
    out: Truth = {}
    for path in sorted((root / "doc" / "ref").glob("*.rst")) + sorted(root.glob("modules/*/*/doc/*.rst")):
        lines = _lines(path)
        module = ""
        opened: list[tuple[int, str, str]] = []  # (indent, directive kind, name) of the directives above
        i = 0
        while i < len(lines):
            line = lines[i]
            match = re.match(r"^( *)\.\. haka:(\w+):: ?(.*)$", line)
            if not match:
                i += 1
                continue
            indent, kind, argument = len(match.group(1)), match.group(2), match.group(3).strip()
            while opened and opened[-1][0] >= indent:
                opened.pop()
            signatures, options, j = [argument], {}, i + 1
            while j < len(lines) and lines[j].strip() and not lines[j].strip().startswith(":"):
                signatures.append(lines[j].strip())
                j += 1
            while j < len(lines) and re.match(r"^ *:(\w+):(.*)$", lines[j]):
                option = re.match(r"^ *:(\w+):(.*)$", lines[j])
                options[option.group(1)] = option.group(2).strip()
                j += 1
            if kind == "module":
                module = argument
            nested = any(k in ("function", "method", "data", "attribute") for _, k, _ in opened)
            if kind in ("function", "method") and not nested and options.get("objtype", "") not in ("event", "events"):
                container = next((n for _, k, n in reversed(opened) if k == "class"), "")
                for signature in signatures:
                    call = re.match(r"^([\w.:<>]+)\s*([({])(.*)$", signature)
                    if not call or "<" in call.group(1):
                        continue
                    written = call.group(1)
                    if "." in written or ":" in written:
                        name = written
                    elif container:
                        name = f"{container}{':' if kind == 'method' else '.'}{written}"
                    elif module and not ("module" in options and not options["module"]):
                        name = f"{module}.{written}"
                    else:
                        name = written
                    if call.group(2) == "{":
                        form = (1, 0)
                    else:
                        form = counts(call.group(3).rsplit(")", 1)[0])
                    out.setdefault(name, []).append(form)
            opened.append((indent, kind, argument.split("(")[0].strip()))
            i = j
    return out


def fceux() -> Truth:
    out: Truth = {}
    text = (CORPORA / "fceux-lua-html" / "web" / "help" / "LuaFunctionsList.html").read_text(encoding="utf-8")
    for line in text.replace("\r", "").split("\n"):
        if not line.startswith('<p class="rvps2">'):
            continue
        plain = html.unescape(re.sub(r"<[^>]*>", "", line.replace("&nbsp;", " "))).strip()
        match = re.match(r"^(?:[A-Za-z]+ )?([a-z0-9_]+\.[A-Za-z0-9_]+|[A-Z]+) ?\((.*)\) *$", plain)
        if match:
            out.setdefault(match.group(1), []).append(counts(match.group(2)))
    return out


def textadept() -> Truth:
    out: Truth = {}
    for line in _lines(CORPORA / "textadept-api-md" / "docs" / "api.md"):
        match = re.match(r"^#### `([^`]*)`\((.*)\)\s*$", line)
        if match:
            out[match.group(1)] = [counts(match.group(2).replace("*", ""))]
    return out


def aseprite() -> Truth:
    """H2s that are a name and `()`; the forms are the lines of the ```lua block right under one that call its
    name (a table or string argument is one argument)."""
    out: Truth = {}
    for path in sorted((CORPORA / "aseprite-api-md" / "api").glob("*.md")):
        lines = _lines(path)
        for i, line in enumerate(lines):
            heading = re.match(r"^## ([A-Za-z_.:]+)\(\) *$", line)
            if not heading:
                continue
            name = heading.group(1)
            short = re.split(r"[.:]", name)[-1]
            forms = []
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and lines[j].startswith("```lua"):
                j += 1
                while j < len(lines) and not lines[j].startswith("```"):
                    code = lines[j].split("--")[0].strip()
                    call = re.search(r"(?:^|[\s=])[\w.:]*\b" + re.escape(short) + r"\s*(\(|\{|\"|')(.*)$", code)
                    if call and call.group(1) == "(":
                        forms.append(counts(call.group(2).rsplit(")", 1)[0]))
                    elif call:
                        forms.append((1, 0))
                    j += 1
            out[name] = forms
    return out


def darktable() -> Truth:
    """`function(` blocks under content/lua.api.manual/darktable: the nearest heading above, else the page's
    front-matter title, names them (a heading that is not a Lua name, `# [store]`, or one named `*_callback` gives
    the signature of a callback the caller passes: left out); one `name : type` line a parameter, `[name : type]`
    optional, `...` variadic."""
    out: Truth = {}
    for path in sorted(
        (CORPORA / "darktable-luadocs-hugo" / "content" / "lua.api.manual" / "darktable").rglob("*.md")
    ):
        lines = _lines(path)
        title = next(
            (re.match(r"^title:\s*(.+)$", line).group(1).strip() for line in lines[:12] if re.match(r"^title:", line)),
            "",
        )
        name = title
        for i, line in enumerate(lines):
            if re.match(r"^#+ ", line):
                name = line.split(" ", 1)[1].strip()
            if line != "function(" or not re.fullmatch(r"[A-Za-z_][\w.]*", name) or name.endswith("callback"):
                continue
            params = []
            j = i + 1
            while j < len(lines) and not lines[j].startswith(")"):
                params.append(lines[j].strip().rstrip(","))
                j += 1
            optional = sum(1 for p in params if p.startswith("[") or p.startswith("..."))
            out.setdefault(name, []).append((len(params) - optional, optional))
    return out


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch in "({[") - (ch in ")}]")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in parts + [current] if p.strip()]


def itgmania() -> Truth:
    """LuaDocumentation.xml, read with the standard library's ElementTree: `<GlobalFunctions>` functions are global,
    a `<Namespace>`'s are `NS.name`, a `<Class>`'s are methods `Class:name`; arguments are `arguments=` (or `args=`)
    split at top-level commas, `...` optional, `void` none; an empty list is no countable list. A function documented
    twice has a form each."""
    ns = "{http://www.stepmania.com}"
    root = ElementTree.parse(ITGMANIA / "LuaDocumentation.xml").getroot()
    out: Truth = {}

    def add(name: str, function) -> None:
        raw = (function.get("arguments", function.get("args")) or "").strip()
        args = [] if raw == "void" else _split_top(raw)
        forms = out.setdefault(name, [])
        form = (sum(a != "..." for a in args), sum(a == "..." for a in args))
        if raw and form not in forms:
            forms.append(form)

    for function in root.find(ns + "GlobalFunctions").iter(ns + "Function"):
        add(function.get("name"), function)
    for section, separator in (("Namespace", "."), ("Class", ":")):
        for owner in root.iter(ns + section):
            for function in owner.iter(ns + "Function"):
                add(owner.get("name") + separator + function.get("name"), function)
    return out


MWSE_TOP_TYPE = re.compile(r'^(?:\t| {4})type = "(\w+)"', re.MULTILINE)  # two files indent with spaces


def mwse_files() -> dict[Path, str]:
    """Each MWSE definition file with a top-level type, and the type."""
    out = {}
    for file in sorted(MWSE.rglob("*.lua")):
        match = MWSE_TOP_TYPE.search(file.read_text(encoding="utf-8"))
        if match:
            out[file] = match.group(1)
    return out


def mwse() -> Truth:
    """Each definition file run by Lua itself (lupa, as a data chunk in an empty environment): `global/a/b.lua` of
    type function is `a.b`, `global/f.lua` the global `f`; `namedTypes/T/m.lua` is `T:m` (method) or `T.m`. An
    argument is optional with `optional = true`, a `?` or `|nil` type, a `default`, or as `...`; a file with no
    `arguments` has no countable list."""
    import lupa

    lua = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    run = lua.eval("function(text) return load(text, 'definition', 't', {})() end")
    out: Truth = {}
    for file, kind in mwse_files().items():
        if kind not in ("function", "method"):
            continue
        parts = file.relative_to(MWSE).parts
        if parts[0] == "global":
            name = ".".join(parts[1:-1] + (file.stem,))
        else:
            name = parts[1] + (":" if kind == "method" else ".") + file.stem
        arguments = run(file.read_text(encoding="utf-8"))["arguments"]
        required = optional = 0
        for argument in arguments.values() if arguments is not None else []:
            type_ = argument["type"] or ""
            omitted = argument["optional"] is True or type_.endswith("?") or "nil" in type_.split("|")
            if omitted or argument["default"] is not None or argument["name"] == "...":
                optional += 1
            else:
                required += 1
        out[name] = [(required, optional)] if arguments is not None else []
    return out


def defold() -> Truth:
    """steam.script_api read with PyYAML's safe_load: the `type: function` members of the one table, `steam.name`;
    every parameter required (none says otherwise)."""
    data = yaml.safe_load((DEFOLD / "steam.script_api").read_text(encoding="utf-8"))
    return {
        f"steam.{m['name']}": [(len(m.get("parameters") or []), 0)] if "parameters" in m else []
        for m in data[0]["members"]
        if m["type"] == "function"
    }


def bundled() -> Truth:
    """`## name(args)` headings (metamethods `__x` are events); a parameter is optional when the signature
    brackets it or its `### Parameters` item says `optional`."""
    out: Truth = {}
    for path in sorted(BUNDLED_DOCS.glob("*.md")):
        text = "\n".join(_lines(path))
        for match in re.finditer(r"^## ([\w.:]+)\(([^\n]*)\)[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL):
            name, args, body = match.groups()
            if name.split(".")[-1].split(":")[-1].startswith("__"):
                continue
            optional = set(re.findall(r"^- `([\w.]+)` \([^)]*\boptional\)", body, re.MULTILINE))
            out[name] = [counts(args, optional)]
    return out


# set name: (the path `luacoder docs` reads, the truth)
SETS = {
    "bundled lua54": (BUNDLED_DOCS, bundled),
    "luvit-luv": (CORPORA / "luvit-luv" / "docs" / "docs.md", luv),
    "solar2d-corona-docs": (CORPORA / "solar2d-corona-docs" / "markdown" / "api", solar2d),
    "luanti-lua-api": (CORPORA / "luanti-lua-api" / "doc" / "lua_api.md", luanti),
    "openra-lua-api": (CORPORA / "openra-lua-api" / "api" / "lua.md", openra),
    "mpv-lua-rst": (CORPORA / "mpv-lua-rst" / "DOCS" / "man" / "lua.rst", mpv),
    "lua54-manual-html": (CORPORA / "lua54-manual-html" / "doc" / "en-us" / "54" / "manual.html", lua54_manual),
    "ncine-luacats": (CORPORA / "ncine-luacats" / "library", ncine_luacats),
    "penlight-ldoc": (CORPORA / "penlight-ldoc" / "lua" / "pl", penlight),
    "haproxy-lua-sphinx": (CORPORA / "haproxy-lua-sphinx" / "doc" / "lua-api", haproxy),
    "haka-lua-sphinx": (CORPORA / "haka-lua-sphinx", haka),
    "fceux-lua-html": (CORPORA / "fceux-lua-html" / "web" / "help" / "LuaFunctionsList.html", fceux),
    "aseprite-api-md": (CORPORA / "aseprite-api-md" / "api", aseprite),
    "textadept-api-md": (CORPORA / "textadept-api-md" / "docs" / "api.md", textadept),
    "darktable-luadocs-hugo": (CORPORA / "darktable-luadocs-hugo" / "content", darktable),
    "itgmania-luadoc-xml": (ITGMANIA, itgmania),
    "mwse-lua-definitions": (MWSE, mwse),
    "defold-steam-script-api": (DEFOLD, defold),
}


@dataclass
class Score:
    expected: int
    found: int
    with_params: int
    params_right: int
    callables: int  # function and method entries read
    false: list[str] = field(default_factory=list)  # callables that name nothing documented
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"found {self.found}/{self.expected}, params right {self.params_right}/{self.with_params},"
            f" false {len(self.false)}/{self.callables}"
        )


def entry_counts(entry) -> set[tuple[int, int]]:
    forms = [f.params for f in entry.forms] or [entry.params]
    return {(sum(not p.optional for p in ps), sum(p.optional for p in ps)) for ps in forms}


def score(api, truth: Truth) -> Score:
    by_name = {e.name: e for e in api}
    callables = [e for e in api if e.kind in ("function", "method")]
    result = Score(len(truth), 0, 0, 0, len(callables))
    for name, forms in truth.items():
        entry = by_name.get(name)
        if entry is None:
            result.missing.append(name)
            continue
        result.found += 1
        if any(f != (0, 0) for f in forms):
            result.with_params += 1
            got = entry_counts(entry)
            if set(forms) <= got:
                result.params_right += 1
            else:
                result.wrong.append(f"{name}: forms {sorted(got)}, expected {sorted(set(forms))}")
    result.false = [e.name for e in callables if e.name not in truth]
    return result
