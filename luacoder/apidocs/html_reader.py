"""HTML API references, read with lxml: the Lua manual's style and per-page references such as LDoc's output.

- Headings whose text, or whose code element, is a call signature: the Lua manual's
  `<h3><a name="pdf-string.rep"><code>string.rep (s, n [, sep])</code></a></h3>`; the entry runs to the next
  heading or `<hr>`. A heading that is a plain name (`math.pi`, `_VERSION`) is a field when the name is qualified or
  starts with `_`; one followed by a C prototype (`<pre>void lua_pushinteger (...)`) is C API, not Lua's.
- Definition lists whose terms are signatures (LDoc: `<dt><strong>size (t)</strong></dt><dd>...`), with LDoc's
  parameter lists (`<span class="parameter">t</span>`, "(optional)", "(default 1)") and "Returns:" lists. Bare names
  on a page titled `Module <code>pl.tablex</code>` are qualified by it (alias `tablex.size` for `pl.tablex.size`).
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

from luacoder.apidocs.call_forms import parse_call_form
from luacoder.apidocs.layout_reader import FileReading, Skipped
from luacoder.apidocs.schema import ApiEntry, ApiError, CallForm, Param, Return, Source

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
C_PROTOTYPE = re.compile(r"^\s*(?:const\s+|unsigned\s+|struct\s+)?[A-Za-z_]\w*[\s*]+\**[A-Za-z_]\w*\s*[(;]")
QUALIFIED = re.compile(r"^[A-Za-z_]\w*(?:[.:][A-Za-z_]\w*)+$")
PAGE_TITLE = re.compile(r"^\s*(Module|Class|Library|Script)\s+(\S+)\s*$")


def _text(element) -> str:
    return " ".join(element.text_content().split())


def read_html(text: str, source_file: str, report_file: str) -> FileReading:
    if not text.strip():
        return FileReading([], [], 0)
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        return FileReading([], [Skipped(report_file, 0, "file", f"cannot be parsed as HTML: {exc}")], 0)
    reader = _Reader(source_file, report_file, _page_module(root))
    for element in root.iter(*HEADINGS, "dt"):
        if element.tag == "dt":
            reader.term(element)
        elif not _inside(element, "dd"):
            reader.heading(element)
    return FileReading(reader.entries, reader.skipped, len(reader.entries))


def _inside(element, tag: str) -> bool:
    return any(a.tag == tag for a in element.iterancestors())


def _page_module(root) -> str:
    for h1 in root.iter("h1"):
        match = PAGE_TITLE.match(_text(h1))
        if match:
            return match.group(2)
    return ""


class _Reader:
    def __init__(self, source_file: str, report_file: str, module: str):
        self.source_file, self.report_file, self.module = source_file, report_file, module
        self.entries: list[ApiEntry] = []
        self.skipped: list[Skipped] = []
        self.names: set[str] = set()

    def heading(self, element) -> None:
        code = element.find(".//code")
        text = _text(code) if code is not None else _text(element)
        if "(" not in text and code is None:
            return
        try:
            form = parse_call_form(text)
        except ApiError as exc:
            if "(" in text and code is not None:
                self.skipped.append(Skipped(self.report_file, element.sourceline or 0, f"heading {text!r}", str(exc)))
            return
        name = form.name.replace(" ", "")
        body = list(_section(element))
        if not form.callable:
            first_pre = next((e for e in body if e.tag == "pre"), None)
            if first_pre is not None and C_PROTOTYPE.match(first_pre.text_content()):
                return  # the C API (lua_pushinteger): not something Lua code calls
            if not (QUALIFIED.match(name) or name.startswith("_")):
                return
        elif code is None and not QUALIFIED.match(name):
            return
        description = "\n\n".join(_text(e) for e in body if e.tag in ("p", "ul", "ol", "dl") and _text(e))
        examples = [e.text_content() for e in body if e.tag == "pre" and not C_PROTOTYPE.match(e.text_content())]
        self.add(name, form, element.sourceline or 0, description, examples if form.callable else [], [], [])

    def term(self, element) -> None:
        strong = element.find(".//strong")
        code = element.find(".//code")
        holder = strong if strong is not None else code
        text = _text(holder) if holder is not None else _text(element)
        if "(" not in text:
            return
        try:
            form = parse_call_form(text)
        except ApiError as exc:
            self.skipped.append(Skipped(self.report_file, element.sourceline or 0, f"term {text!r}", str(exc)))
            return
        definition = element.getnext()
        params, returns, description, examples = [], [], "", []
        if definition is not None and definition.tag == "dd":
            params, returns, description, examples = _ldoc_definition(definition)
        name = form.name.replace(" ", "")
        self.add(name, form, element.sourceline or 0, description, examples, params, returns)

    def add(self, name, form, line, description, examples, params, returns) -> None:
        aliases = []
        if self.module and "." not in name and ":" not in name:
            name = f"{self.module}.{name}"
            short_module = self.module.rsplit(".", 1)[-1]
            if short_module != self.module:
                aliases.append(f"{short_module}.{name.rsplit('.', 1)[-1]}")
        if name in self.names:  # documented twice (a getter and a setter `Date:year`): one more form of the entry
            entry = next(e for e in self.entries if e.name == name)
            if not entry.forms:
                entry.forms = [CallForm(entry.signature, entry.params, list(entry.returns))]
            entry.forms.append(CallForm(form.signature, form.params, returns or form.returns))
            entry.signature += "\n" + form.signature
            return
        by_name = {p.name: p for p in params}
        for param in form.params:
            doc = by_name.get(param.name)
            if doc is not None:
                param.type = doc.type if param.type == "any" else param.type
                param.description = doc.description
                param.optional = param.optional or doc.optional
        kind = ("method" if ":" in name else "function") if form.callable else "field"
        module = re.split(r"[.:]", name)[0] if re.search(r"[.:]", name) else "_G"
        if self.module:
            module = self.module
        entry = ApiEntry(
            name=name,
            kind=kind,
            module=module,
            signature=form.signature if form.callable else name,
            params=form.params,
            returns=returns or form.returns,
            description=description,
            examples=examples,
            aliases=aliases,
            source=Source(self.source_file, line),
            owner=name.split(":")[0] if ":" in name else "",
        )
        try:
            entry.validate(f"{self.report_file}:{line}")
        except ApiError as exc:
            self.skipped.append(Skipped(self.report_file, line, f"entry {name!r}", str(exc)))
            return
        self.names.add(name)
        self.entries.append(entry)


def _section(heading):
    """The elements after a heading up to the next heading or `<hr>` (the manual's entries are flat siblings)."""
    for sibling in heading.itersiblings():
        if not isinstance(sibling.tag, str):
            continue
        if sibling.tag in HEADINGS or sibling.tag == "hr":
            return
        yield sibling


def _ldoc_definition(dd) -> tuple[list[Param], list[Return], str, list[str]]:
    params: list[Param] = []
    returns: list[Return] = []
    description_parts: list[str] = []
    if dd.text and dd.text.strip():
        description_parts.append(" ".join(dd.text.split()))
    role = ""
    examples = []
    for child in dd:
        if not isinstance(child.tag, str):
            continue
        if child.tag in HEADINGS:
            title = _text(child).lower().rstrip(":")
            role = "params" if title.startswith("param") else "returns" if title.startswith("return") else title
            continue
        if role == "params" and child.tag in ("ul", "ol"):
            for li in child.iter("li"):
                name_el = li.find(".//span[@class='parameter']")
                if name_el is None:
                    continue
                types = li.find(".//span[@class='types']")
                text = _text(li)
                params.append(
                    Param(
                        name=_text(name_el),
                        type=_text(types) if types is not None else "any",
                        optional="(optional)" in text or "(default" in text,
                        description=text,
                    )
                )
        elif role == "returns" and child.tag in ("ul", "ol"):
            types = child.find(".//span[@class='types']")
            returns.append(Return(type=_text(types) if types is not None else "any", description=_text(child)))
        elif role.startswith("usage") or child.tag == "pre":
            examples += [pre.text_content() for pre in child.iter("pre")]
        elif not role and child.tag not in ("h3",):
            description_parts.append(_text(child))
        if child.tail and child.tail.strip() and not role:
            description_parts.append(" ".join(child.tail.split()))
    return params, returns, "\n\n".join(p for p in description_parts if p), examples
