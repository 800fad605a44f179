"""Every function call in a piece of Lua source, found with tree-sitter-lua (never with regular expressions).

    report = extract_calls('local fmt = string.format\\nprint(fmt("%d", 1))')
    [(c.name, c.resolved, c.args) for c in report.calls]
    # [('print', 'print', 1), ('fmt', 'string.format', 2)]

A call's `name` is the callee as written (`string.format`, `ngx.req.get_headers`, `obj:method`,
`io.open(...):read`); `resolved` follows simple aliases (`local fmt = string.format`, `local s = string`) and
names the string library for methods called on a string literal (`("%d"):format(n)` is `string.format`). Calls to
functions the source defines itself, and plain calls through a local variable (a parameter, a loop variable, a local
holding a closure), are marked `local`: they are not calls of a documented API. Calls inside strings and comments
are not calls. Calls are listed in source order, an outer call before the calls in its arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import tree_sitter
import tree_sitter_lua

LANGUAGE = tree_sitter.Language(tree_sitter_lua.language())
_PARSER = tree_sitter.Parser(LANGUAGE)

# Nodes that open a scope for `local` declarations.
_SCOPES = {"chunk", "block", "function_declaration", "function_definition", "for_statement"}
_FUNCTIONS = {"function_declaration", "function_definition"}
_MAX_LITERAL = 24


@dataclass
class Call:
    name: str  # the callee as written: `string.format`, `obj:method`, `io.open(...):read`
    resolved: str  # after alias resolution: `fmt` -> `string.format`; equal to `name` when there is no alias
    line: int  # 1-based line of the called name (of the method name in a chain)
    column: int  # 1-based
    args: int  # arguments as written; `self` is not counted for a method call
    open_ended: bool = False  # the last argument is `...` or a call, so more values may be passed
    is_method: bool = False  # called with `:`
    local: bool = False  # a function defined in this source, or a call through a local variable

    @property
    def method_name(self) -> str:
        """The last part of the name: `read` for `f:read`, `format` for `string.format`."""
        return _short(self.resolved)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyntaxIssue:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


@dataclass
class CallReport:
    calls: list[Call] = field(default_factory=list)
    errors: list[SyntaxIssue] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)  # names of the functions the source defines

    @property
    def syntax_ok(self) -> bool:
        return not self.errors

    def names(self) -> list[str]:
        return [c.resolved for c in self.calls]


def parse(source: str | bytes) -> tree_sitter.Tree:
    return _PARSER.parse(source.encode("utf-8") if isinstance(source, str) else source)


def is_valid_lua(source: str | bytes) -> bool:
    """Whether tree-sitter-lua parses the source without an error."""
    return not parse(source).root_node.has_error


def extract_calls(source: str | bytes) -> CallReport:
    tree = parse(source)
    report = CallReport(errors=list(_syntax_issues(tree.root_node)))
    defined, methods = _definitions(tree.root_node)
    report.defined = defined
    _Walker(report, defined, methods).walk(tree.root_node)
    return report


# ---------------------------------------------------------------------------------------------------------------
# Syntax errors


def _syntax_issues(root: tree_sitter.Node) -> Iterator[SyntaxIssue]:
    if not root.has_error:
        return
    for node in _preorder(root):
        if node.is_missing:
            row, col = node.start_point
            yield SyntaxIssue(row + 1, col + 1, f"missing {node.type!r}")
        elif node.is_error:
            row, col = node.start_point
            text = _text(node).splitlines()[0][:40] if _text(node) else ""
            yield SyntaxIssue(row + 1, col + 1, f"unexpected {text!r}" if text else "syntax error")


def _preorder(root: tree_sitter.Node, skip_error_children: bool = True) -> Iterator[tree_sitter.Node]:
    # Iterative: generated code can nest deeper than Python's recursion limit.
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if node.is_error and skip_error_children and node is not root:
            continue
        stack.extend(reversed(node.children))


# ---------------------------------------------------------------------------------------------------------------
# Names


def _text(node: tree_sitter.Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text is not None else ""


def _short(name: str) -> str:
    for sep in (":", "."):
        if sep in name:
            return name.rsplit(sep, 1)[1]
    return name


def written_name(node: tree_sitter.Node) -> str:
    """The callee as written, with the arguments of inner calls shortened to `(...)`."""
    kind = node.type
    if kind == "identifier":
        return _text(node)
    if kind == "dot_index_expression":
        return f"{written_name(node.child_by_field_name('table'))}.{_text(node.child_by_field_name('field'))}"
    if kind == "method_index_expression":
        return f"{written_name(node.child_by_field_name('table'))}:{_text(node.child_by_field_name('method'))}"
    if kind == "bracket_index_expression":
        return f"{written_name(node.child_by_field_name('table'))}[...]"
    if kind == "function_call":
        return f"{written_name(node.child_by_field_name('name'))}(...)"
    if kind == "parenthesized_expression":
        inner = node.named_children[0] if node.named_children else None
        return f"({written_name(inner)})" if inner is not None else "()"
    if kind == "string":
        text = _text(node)
        return text if len(text) <= _MAX_LITERAL and "\n" not in text else '"..."'
    if kind == "function_definition":
        return "function"
    if kind == "table_constructor":
        return "{...}"
    text = " ".join(_text(node).split())
    return text if len(text) <= _MAX_LITERAL else text[: _MAX_LITERAL - 3] + "..."


def _is_name_expression(node: tree_sitter.Node | None) -> bool:
    """`a`, `a.b.c`: what an alias may stand for."""
    while node is not None and node.type == "dot_index_expression":
        node = node.child_by_field_name("table")
    return node is not None and node.type == "identifier"


def _base_identifier(node: tree_sitter.Node) -> tree_sitter.Node | None:
    while node.type in ("dot_index_expression", "method_index_expression", "bracket_index_expression"):
        node = node.child_by_field_name("table")
    return node if node.type == "identifier" else None


def _unparen(node: tree_sitter.Node | None) -> tree_sitter.Node | None:
    while node is not None and node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


# ---------------------------------------------------------------------------------------------------------------
# Definitions: a first pass, so that a call before the function's definition is still local


def _definitions(root: tree_sitter.Node) -> tuple[set[str], set[str]]:
    defined: set[str] = set()
    methods: set[str] = set()  # `m` of every `function T:m()`
    for node in _preorder(root):
        if node.type == "function_declaration":
            name = node.child_by_field_name("name")
            if name is not None:
                defined.add(written_name(name))
                if name.type == "method_index_expression":
                    methods.add(_text(name.child_by_field_name("method")))
                    defined.add(written_name(name).replace(":", "."))
        elif node.type == "assignment_statement":
            for target, value in _pairs(node):
                if not _is_name_expression(target):
                    continue
                value = _unparen(value)
                if value is not None and value.type == "function_definition":
                    defined.add(written_name(target))
                elif value is not None and value.type == "table_constructor":
                    for fld in value.named_children:
                        key, val = fld.child_by_field_name("name"), fld.child_by_field_name("value")
                        if key is not None and val is not None and _unparen(val).type == "function_definition":
                            defined.add(f"{written_name(target)}.{_text(key)}")
    return defined, methods


def _pairs(assignment: tree_sitter.Node) -> list[tuple[tree_sitter.Node, tree_sitter.Node | None]]:
    """(target, value) pairs of `a, b = x, y`; a target without a value gets None."""
    targets_node = next((c for c in assignment.named_children if c.type == "variable_list"), None)
    values_node = next((c for c in assignment.named_children if c.type == "expression_list"), None)
    targets = [c for c in targets_node.named_children if c.type != "attribute"] if targets_node else []
    values = [c for c in values_node.named_children if c.type != "comment"] if values_node else []
    return [(t, values[i] if i < len(values) else None) for i, t in enumerate(targets)]


# ---------------------------------------------------------------------------------------------------------------
# The walk: scopes, aliases and calls


@dataclass
class _Binding:
    kind: str  # "alias" (stands for `target`), "module" (a `require` result), "local" (any other local value)
    target: str = ""


class _Scope:
    def __init__(self, parent: _Scope | None):
        self.parent = parent
        self.names: dict[str, _Binding] = {}

    def lookup(self, name: str) -> _Binding | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def owner(self, name: str) -> _Scope | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope
            scope = scope.parent
        return None


class _Walker:
    def __init__(self, report: CallReport, defined: set[str], methods: set[str]):
        self.report, self.defined, self.methods = report, defined, methods
        self.globals: dict[str, _Binding] = {}  # `fmt = string.format` at any level, without `local`

    def walk(self, root: tree_sitter.Node) -> None:
        # Items are (node, scope) to visit, or a callable to run once the nodes pushed before it are done.
        stack: list[Any] = [(root, _Scope(None))]
        while stack:
            item = stack.pop()
            if callable(item):
                item()
                continue
            node, scope = item
            if node.type in _SCOPES:
                scope = _Scope(scope)
                self._bind_scope_names(node, scope)
            if node.type == "function_call":
                self._record(node, scope)
            children = node.children
            if node.type == "assignment_statement":
                stack.append(lambda node=node, scope=scope: self._assign(node, scope))
            elif node.type == "variable_declaration" and not any(c.type == "assignment_statement" for c in children):
                stack.append(lambda node=node, scope=scope: self._declare(node, scope))
            stack.extend((child, scope) for child in reversed(children))

    def _bind_scope_names(self, node: tree_sitter.Node, scope: _Scope) -> None:
        if node.type in _FUNCTIONS:
            params = node.child_by_field_name("parameters")
            for p in params.named_children if params is not None else []:
                if p.type == "identifier":
                    scope.names[_text(p)] = _Binding("local")
            name = node.child_by_field_name("name")
            if name is not None and name.type == "method_index_expression":
                scope.names["self"] = _Binding("local")
            if node.type == "function_declaration" and _text(node).startswith("local") and name is not None:
                # `local function f` is visible in its own body and after it, in the enclosing scope.
                assert scope.parent is not None
                scope.parent.names[_text(name)] = _Binding("local")
        elif node.type == "for_statement":
            clause = node.child_by_field_name("clause")
            if clause is not None:
                names = [clause.child_by_field_name("name")]
                names += [c for v in clause.named_children if v.type == "variable_list" for c in v.named_children]
                for n in names:
                    if n is not None and n.type == "identifier":
                        scope.names[_text(n)] = _Binding("local")

    def _declare(self, node: tree_sitter.Node, scope: _Scope) -> None:
        """`local a, b` without values."""
        for lst in node.named_children:
            if lst.type == "variable_list":
                for n in lst.named_children:
                    if n.type == "identifier":
                        scope.names[_text(n)] = _Binding("local")

    def _assign(self, node: tree_sitter.Node, scope: _Scope) -> None:
        """Runs after the values were walked, so `local string = string` sees the outer `string`."""
        is_local = node.parent is not None and node.parent.type == "variable_declaration"
        bindings = [(target, self._binding_for(value, scope)) for target, value in _pairs(node)]
        for target, binding in bindings:
            if target.type != "identifier":
                continue
            name = _text(target)
            if is_local:
                scope.names[name] = binding
            elif (owner := scope.owner(name)) is not None:
                owner.names[name] = binding
            elif binding.kind == "alias":
                self.globals[name] = binding
            else:
                self.globals.pop(name, None)

    def _binding_for(self, value: tree_sitter.Node | None, scope: _Scope) -> _Binding:
        value = _unparen(value)
        if value is not None and _is_name_expression(value):
            resolved, _base = self._resolve(value, scope)
            return _Binding("alias", resolved)
        if value is not None and value.type == "function_call":
            callee = value.child_by_field_name("name")
            if callee is not None and _text(callee) == "require" and scope.lookup("require") is None:
                return _Binding("module")
        return _Binding("local")

    def _resolve(self, node: tree_sitter.Node, scope: _Scope) -> tuple[str, _Binding | None]:
        """The resolved name of a callee, and the binding of its base identifier (None for a global)."""
        kind = node.type
        if kind == "identifier":
            name = _text(node)
            binding = scope.lookup(name)
            if binding is None:
                binding = self.globals.get(name)
                return (binding.target if binding else name), None
            return (binding.target if binding.kind == "alias" else name), binding
        if kind in ("dot_index_expression", "method_index_expression"):
            table = node.child_by_field_name("table")
            sep, part = (".", "field") if kind == "dot_index_expression" else (":", "method")
            member = _text(node.child_by_field_name(part))
            literal = _unparen(table)
            if kind == "method_index_expression" and literal is not None and literal.type == "string":
                return f"string.{member}", None
            base, binding = self._resolve(table, scope)
            return f"{base}{sep}{member}", binding
        if kind == "function_call":
            base, binding = self._resolve(node.child_by_field_name("name"), scope)
            return f"{base}(...)", binding
        return written_name(node), _Binding("local")

    def _record(self, node: tree_sitter.Node, scope: _Scope) -> None:
        callee = node.child_by_field_name("name")
        if callee is None:
            return
        args_node = node.child_by_field_name("arguments")
        args = [c for c in args_node.named_children if c.type != "comment"] if args_node is not None else []
        name = written_name(callee)
        resolved, binding = self._resolve(callee, scope)
        is_method = callee.type == "method_index_expression"
        open_ended = bool(args) and args[-1].type in ("vararg_expression", "function_call")
        if binding is not None and binding.kind == "alias":
            local = resolved in self.defined  # `local f = helper` is local; `local fmt = string.format` is not
        else:
            local = name in self.defined or resolved in self.defined
        if is_method:
            local = local or _text(callee.child_by_field_name("method")) in self.methods
        elif binding is not None and binding.kind == "local" and _base_identifier(callee) is not None:
            local = True
        where = callee
        if callee.type == "method_index_expression":
            where = callee.child_by_field_name("method")
        elif callee.type == "dot_index_expression":
            where = callee.child_by_field_name("field")
        row, col = where.start_point
        self.report.calls.append(Call(name, resolved, row + 1, col + 1, len(args), open_ended, is_method, local))
