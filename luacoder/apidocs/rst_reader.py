"""reStructuredText API references, read with docutils: definition lists whose terms are call signatures.

    ``mp.get_property(name [,def])``          <- a term: one entry (``(global)`` after it is a note)
        Return the value of the given property.   <- its definition: description, `::` literal blocks as examples

A term may hold several signatures (```msg.fatal(...)``, ``msg.error(...)``, ...``): one entry each. Terms nested
inside a definition (the methods of a returned timer, `stop()`; the keys of an options table) belong to the entry
around them and make no entry of their own. Section titles (`.. function::`-free docs such as mpv's) are kept as the
entry's group only for the log. Directives and roles docutils does not know are not errors here: the file is read
for its definition lists, and docutils' own messages are not shown.
"""

from __future__ import annotations

import re

import docutils.core
import docutils.utils
from docutils import nodes

from luacoder.apidocs.call_forms import parse_call_form
from luacoder.apidocs.layout_reader import FileReading, Skipped
from luacoder.apidocs.schema import ApiEntry, ApiError, CallForm, Source

# Quiet (docutils' warnings about unknown roles are not the reader's), and never reading other files or raw HTML.
SETTINGS = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False}
CALL = re.compile(r"^[A-Za-z_][\w.:]*\s*\(")


def read_rst(text: str, source_file: str, report_file: str) -> FileReading:
    try:
        tree = docutils.core.publish_doctree(
            text,
            source_path=report_file,
            settings_overrides={
                "report_level": 5,
                "halt_level": 5,
                "file_insertion_enabled": False,
                "raw_enabled": False,
            },
        )
    except (docutils.utils.SystemMessage, ValueError) as exc:
        return FileReading([], [Skipped(report_file, 0, "file", f"cannot be parsed as reStructuredText: {exc}")], 0)
    entries: list[ApiEntry] = []
    skipped: list[Skipped] = []
    by_name: dict[str, ApiEntry] = {}
    for item in tree.findall(nodes.definition_list_item):
        if any(isinstance(a, nodes.definition) for a in _ancestors(item)):
            continue  # a nested term: part of the entry around it
        term = next(iter(item.findall(nodes.term)), None)
        if term is None:
            continue
        literals = [lit.astext() for lit in term.findall(nodes.literal)]
        candidates = [lit for lit in literals if CALL.match(lit)] or (
            [term.astext()] if CALL.match(term.astext()) else []
        )
        definition = next(iter(item.findall(nodes.definition)), None)
        description, examples = _definition(definition)
        line = item.line or term.line or 0
        for signature in candidates:
            try:
                form = parse_call_form(signature)
            except ApiError as exc:
                skipped.append(Skipped(report_file, line, f"term {signature!r}", str(exc)))
                continue
            name = form.name.replace(" ", "")
            if name in by_name:
                entry = by_name[name]
                if not entry.forms:
                    entry.forms = [CallForm(entry.signature, entry.params, list(entry.returns))]
                entry.forms.append(form)
                continue
            entry = ApiEntry(
                name=name,
                kind="method" if ":" in name else "function",
                module=re.split(r"[.:]", name)[0] if re.search(r"[.:]", name) else "_G",
                signature=form.signature,
                params=form.params,
                returns=form.returns,
                description=description,
                examples=examples,
                source=Source(source_file, line),
                owner=name.split(":")[0] if ":" in name else "",
            )
            by_name[name] = entry
            entries.append(entry)
    return FileReading(entries, skipped, len(entries))


def _ancestors(node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _definition(definition) -> tuple[str, list[str]]:
    if definition is None:
        return "", []
    parts, examples = [], []
    for child in definition.children:
        if isinstance(child, nodes.literal_block):
            examples.append(child.astext() + "\n")
        else:
            parts.append(child.astext())
    return "\n\n".join(p.strip() for p in parts if p.strip()), examples
