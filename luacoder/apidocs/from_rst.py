"""reStructuredText into the document model, with docutils, every directive kept.

docutils knows a few dozen directives and reports any other (`.. js:function::`, `.. lua:method::`, a project's own
domain, Sphinx's `.. module::`) as an error and drops it. Here every directive name in the file is read by one
generic directive for the length of the parse: its arguments (every line of them: a directive may list several
signatures), its options (any `:name: value`), and its body parsed as reStructuredText, so that a directive is a
block whose children are its body's blocks. Code directives (`code`, `code-block`, `sourcecode`) keep their body as
code. Interpreted-text roles (`:js:func:`Socket.send``) are read as code. Sections are headings by depth; field
lists (`:param type name: text`) are terms named by the field; a `.. _label:` target is the anchor of what follows.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import docutils.core
import docutils.utils
from docutils import nodes
from docutils.parsers.rst import Directive, directives, roles

from luacoder.apidocs.inline import Piece
from luacoder.apidocs.model import Block, Builder, Document
from luacoder.apidocs.reading import Skipped

SETTINGS = {
    "report_level": 5,  # quiet: docutils' own messages are not the reader's
    "halt_level": 5,
    "file_insertion_enabled": False,  # never reading other files or raw HTML
    "raw_enabled": False,
    "doctitle_xform": False,  # the first title stays a heading
    "sectsubtitle_xform": False,
}
CODE_DIRECTIVES = ("code", "code-block", "sourcecode", "literalinclude", "highlight", "highlightlang")
_DIRECTIVE_NAME = re.compile(r"^\s*\.\.\s+([\w][\w:.+-]*)::", re.MULTILINE)
_ROLE_NAME = re.compile(r":([\w][\w:.+-]*):`")


class directive_node(nodes.Element):  # noqa: N801 (docutils names its node classes in lower case)
    pass


class _AnyOptions(dict):
    """An option spec that takes every option as plain text (not empty, or docutils would read no options)."""

    def __init__(self):
        super().__init__(any=directives.unchanged)

    def __contains__(self, key) -> bool:
        return True

    def __getitem__(self, key):
        return directives.unchanged


class _Generic(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec = _AnyOptions()

    def run(self):
        node = directive_node()
        node["name"] = self.name
        node["arguments"] = self.arguments[0] if self.arguments else ""
        node["options"] = {key: str(value or "") for key, value in self.options.items()}
        node.line = self.lineno
        short = self.name.rsplit(":", 1)[-1].lower()
        if short in CODE_DIRECTIVES:
            node["code"] = "\n".join(self.content) + "\n"
        elif self.content:
            self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def _literal_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [nodes.literal(rawtext, text)], []


@contextmanager
def _every_directive(text: str):
    """Register the generic directive and role for every name the text uses, and restore docutils' tables after."""
    saved_directives, saved_roles = dict(directives._directives), dict(roles._roles)
    try:
        for name in set(_DIRECTIVE_NAME.findall(text)):
            directives._directives[name] = _Generic
        for name in set(_ROLE_NAME.findall(text)):
            roles._roles[name] = _literal_role
        yield
    finally:
        directives._directives.clear()
        directives._directives.update(saved_directives)
        roles._roles.clear()
        roles._roles.update(saved_roles)


def parse_rst(text: str, path: str, report_file: str) -> Document:
    document = Document(path, "rst")
    try:
        with _every_directive(text):
            tree = docutils.core.publish_doctree(text, source_path=report_file, settings_overrides=SETTINGS)
    except (docutils.utils.SystemMessage, ValueError, AttributeError, IndexError) as exc:
        document.problems.append(Skipped(report_file, 0, "file", f"cannot be parsed as reStructuredText: {exc}"))
        return document
    _Walker(Builder(document)).children(tree, 0)
    return document


class _Walker:
    def __init__(self, builder: Builder):
        self.builder = builder
        self.last_line = 1

    def line(self, node) -> int:
        found = node.line
        if found is None:
            for child in node.findall(include_self=False):
                if getattr(child, "line", None):
                    found = child.line
                    break
        self.last_line = found or self.last_line
        return self.last_line

    def children(self, node, section_depth: int) -> None:
        for child in node.children:
            self.node(child, section_depth)

    def contained(self, index: int, nodes_inside, section_depth: int) -> None:
        self.builder.enter(index)
        for child in nodes_inside:
            self.node(child, section_depth)
        self.builder.leave()

    def node(self, node, depth: int) -> None:
        b = self.builder
        if isinstance(node, nodes.section):
            title = next((c for c in node.children if isinstance(c, nodes.title)), None)
            if title is not None:
                b.add(self.inline("heading", title, level=min(depth + 1, 6), anchor=" ".join(node.get("ids", []))))
            for child in node.children:
                if child is not title:
                    self.node(child, depth + 1)
        elif isinstance(node, nodes.paragraph | nodes.rubric | nodes.line_block):
            block = self.inline("heading" if isinstance(node, nodes.rubric) else "paragraph", node)
            if isinstance(node, nodes.rubric):
                block.level = 6
            if block.text:
                b.add(block)
        elif isinstance(node, nodes.literal_block | nodes.doctest_block):
            classes = node.get("classes", [])
            language = next((c for c in classes if c != "code"), "")
            b.add(Block("code", self.line(node), text=node.astext() + "\n", language=language.lower()))
        elif isinstance(node, nodes.bullet_list | nodes.enumerated_list):
            for item in node.children:
                self.item(item, depth)
        elif isinstance(node, nodes.definition_list):
            for item in node.children:
                terms = [c for c in item.children if isinstance(c, nodes.term)]
                body = [c for c in item.children if isinstance(c, nodes.definition)]
                if not terms:
                    continue
                index = b.add(self.inline("term", terms[0]))
                self.contained(index, [g for d in body for g in d.children], depth)
        elif isinstance(node, nodes.field_list):
            for field in node.children:
                name = next((c for c in field.children if isinstance(c, nodes.field_name)), None)
                body = next((c for c in field.children if isinstance(c, nodes.field_body)), None)
                if name is None:
                    continue
                index = b.add(self.inline("term", name))
                self.contained(index, body.children if body is not None else [], depth)
        elif isinstance(node, nodes.table):
            self.table(node)
        elif isinstance(node, nodes.block_quote | nodes.Admonition | nodes.topic | nodes.sidebar | nodes.container):
            index = b.add(Block("quote", self.line(node)))
            self.contained(index, node.children, depth)
        elif isinstance(node, directive_node):
            if "code" in node.attributes:
                b.add(Block("code", self.line(node), text=node["code"], language=node["arguments"].strip().lower()))
                return
            block = Block(
                "directive", self.line(node), text=node["arguments"], name=node["name"], options=node["options"]
            )
            self.contained(b.add(block), node.children, depth)
        elif isinstance(node, nodes.target):
            ids = node.get("ids") or node.get("names")
            if ids:
                b.anchor = ids[0]
        elif isinstance(node, nodes.comment | nodes.substitution_definition | nodes.system_message | nodes.title):
            return
        elif isinstance(node, nodes.Element):
            self.children(node, depth)

    def item(self, item, depth: int) -> None:
        children = list(item.children)
        first = children[0] if children and isinstance(children[0], nodes.paragraph) else None
        block = self.inline("item", first) if first is not None else Block("item", self.line(item))
        self.contained(self.builder.add(block), children[1:] if first is not None else children, depth)

    def table(self, node) -> None:
        headers: list[str] = []
        for group in node.findall(nodes.tgroup):
            for part in group.children:
                for row in part.children if isinstance(part, nodes.thead | nodes.tbody) else []:
                    cells = [entry for entry in row.children if isinstance(entry, nodes.entry)]
                    texts = [" ".join(c.astext().split()) for c in cells]
                    if isinstance(part, nodes.thead):
                        headers = texts
                        continue
                    first = cells[0] if cells else None
                    pieces = _pieces(first) if first is not None else []
                    self.builder.add(
                        Block(
                            "row",
                            self.line(row),
                            text=texts[0] if texts else "",
                            source=" | ".join(texts),
                            cells=texts,
                            headers=headers,
                            _pieces=pieces,
                        )
                    )

    def inline(self, kind: str, node, **extra) -> Block:
        pieces = _pieces(node)
        text = " ".join("".join(p.text for p in pieces if p.kind in ("text", "code")).split())
        return Block(kind, self.line(node), text=text, _pieces=pieces, **extra)


def _pieces(node) -> list[Piece]:
    """The inline elements of a text node (its paragraphs' text, for a table cell or a field name)."""
    out: list[Piece] = []
    stack = [(node, False)]
    while stack:
        current, closing = stack.pop()
        if closing:
            out.append(Piece(closing))
            continue
        if isinstance(current, nodes.Text):
            out.append(Piece("text", str(current)))
        elif isinstance(current, nodes.literal):
            out.append(Piece("code", current.astext()))
        elif isinstance(current, nodes.Element):
            kind = (
                "strong"
                if isinstance(current, nodes.strong)
                else "em"
                if isinstance(current, nodes.emphasis)
                else "link"
                if isinstance(current, nodes.reference)
                else ""
            )
            if isinstance(current, nodes.system_message | nodes.problematic):
                continue
            if kind:
                out.append(Piece(f"{kind}_open", href=current.get("refuri", "")))
                stack.append((current, f"{kind}_close"))
            if current is not node and isinstance(current, nodes.paragraph) and out:
                out.append(Piece("break"))
            stack += [(child, False) for child in reversed(current.children)]
    return out
