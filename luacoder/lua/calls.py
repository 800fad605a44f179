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

What the grader tells `extract_calls` about the API (all optional, so that the extraction alone knows no API):
`modules` are the API's module names (a function parameter named `uv` then stands for the module `uv`, the
`function(uv) ... end` idiom of code that is handed its library), `requires` maps `require` names to the module they
load (`{"luv": "uv"}`: `local _uv = require('luv')` is an alias of `uv`), and `known` says whether a resolved name
is documented, so that `local unpack = table.unpack or unpack` and `local ipairs = compat and compat.ipairs or ipairs`
resolve to the documented operand. Scopes are kept: a variable holding a call's result is only that variable in
the scope that assigned it (`Call.receiver_value`), not a same-named parameter of a callback elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterator, Mapping
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
_ROOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
    # For a method call: the resolved callee of the call whose result the receiver is (`io.open` for `f:read()`
    # after `local f = io.open(p)`, or for `io.open(p):read()`); "" when the receiver is not a call's result.
    receiver_value: str = ""
    # The global name the callee starts from (`lstrip` for `lstrip(s)`, `string` for `s.format` after
    # `local s = string`); "" when it starts from a local variable or a literal.
    global_root: str = ""

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
    assigned: set[str] = field(default_factory=set)  # global names the source assigns (`M = {}`, `M.f = g`)

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


def extract_calls(
    source: str | bytes,
    *,
    modules: Container[str] = (),
    requires: Mapping[str, str] | None = None,
    known: Callable[[str], bool] | None = None,
) -> CallReport:
    """The calls of `source`; `modules`, `requires` and `known` describe the API (see the module docstring)."""
    tree = parse(source)
    report = CallReport(errors=list(_syntax_issues(tree.root_node)))
    defined, methods = _definitions(tree.root_node)
    report.defined = defined
    walker = _Walker(report, defined, methods)
    walker.modules, walker.requires, walker.known = modules, dict(requires or {}), known
    walker.walk(tree.root_node)
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
    # "alias" (stands for `target`), "module" (a `require` result), "result" (the result of a call of `target`),
    # "local" (any other local value)
    kind: str
    target: str = ""
    free: bool = False  # an alias whose target starts from a global name


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
        self.modules: Container[str] = ()
        self.requires: dict[str, str] = {}
        self.known: Callable[[str], bool] | None = None

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
                    name = _text(p)
                    # `function(uv) uv.tcp_bind(...) end`: code handed its library under the module's own name.
                    module = name in self.modules
                    scope.names[name] = _Binding("alias", name, free=True) if module else _Binding("local")
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
            base = _base_identifier(target)
            if not is_local and base is not None and scope.lookup(_text(base)) is None:
                self.report.assigned.add(_text(base))
            if target.type != "identifier":
                continue
            name = _text(target)
            if is_local:
                scope.names[name] = binding
            elif (owner := scope.owner(name)) is not None:
                owner.names[name] = binding
            elif binding.kind in ("alias", "result"):
                self.globals[name] = binding
            else:
                self.globals.pop(name, None)

    def _binding_for(self, value: tree_sitter.Node | None, scope: _Scope) -> _Binding:
        value = _unparen(value)
        if value is not None and _is_name_expression(value):
            return self._alias(value, scope)
        if value is not None and value.type == "binary_expression":
            names = [n for n in _or_operands(value) if _is_name_expression(n)]
            # `tostr or tostring` with `tostr` a parameter may be the caller's own function: not an alias.
            held = [self._resolve(n, scope)[1] for n in names]
            if names and not any(b is not None and b.kind in ("local", "result") for b in held):
                aliases = [self._alias(n, scope) for n in names]
                documented = [a for a in aliases if self.known is not None and self.known(a.target)]
                return (documented or aliases)[-1 if not documented else 0]
        if value is not None and value.type == "function_call":
            callee = value.child_by_field_name("name")
            if callee is not None and _text(callee) == "require" and scope.lookup("require") is None:
                loaded = _string_argument(value)
                module = self.requires.get(loaded, loaded if loaded in self.modules else None)
                return _Binding("alias", module, free=True) if module else _Binding("module", loaded or "")
            producer = self._producer(value, scope)
            return _Binding("result", producer) if producer else _Binding("local")
        return _Binding("local")

    def _alias(self, value: tree_sitter.Node, scope: _Scope) -> _Binding:
        resolved, base = self._resolve(value, scope)
        free = base is None or (base.kind == "alias" and base.free)
        return _Binding("alias", resolved, free=free)

    def _producer(self, value: tree_sitter.Node, scope: _Scope) -> str:
        """The resolved callee of the call whose result `value` (a function call) is, through `assert(...)`; ""
        when it is a local function or a call through a local value."""
        callee = value.child_by_field_name("name")
        if callee is None:
            return ""
        resolved, binding = self._resolve(callee, scope)
        if resolved == "assert" and binding is None:
            first = _first_argument(value)
            first = _unparen(first)
            return self._producer(first, scope) if first is not None and first.type == "function_call" else ""
        if self._is_local_call(callee, resolved, binding):
            return ""
        return resolved

    def _is_local_call(self, callee: tree_sitter.Node, resolved: str, binding: _Binding | None) -> bool:
        name = written_name(callee)
        if binding is not None and binding.kind == "alias":
            local = resolved in self.defined  # `local f = helper` is local; `local fmt = string.format` is not
        else:
            local = name in self.defined or resolved in self.defined
        if callee.type == "method_index_expression":
            return local or _text(callee.child_by_field_name("method")) in self.methods
        if binding is not None and binding.kind in ("local", "result") and _base_identifier(callee) is not None:
            return True
        return local

    def _resolve(self, node: tree_sitter.Node, scope: _Scope) -> tuple[str, _Binding | None]:
        """The resolved name of a callee, and the binding of its base identifier (None for a global)."""
        kind = node.type
        if kind == "identifier":
            name = _text(node)
            binding = scope.lookup(name)
            if binding is None:
                binding = self.globals.get(name)
                if binding is not None and binding.kind == "result":
                    return name, binding
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
        if self.report.errors and _glued_string_argument(callee, args_node):
            return
        args = [c for c in args_node.named_children if c.type != "comment"] if args_node is not None else []
        name = written_name(callee)
        resolved, binding = self._resolve(callee, scope)
        is_method = callee.type == "method_index_expression"
        open_ended = bool(args) and args[-1].type in ("vararg_expression", "function_call")
        local = self._is_local_call(callee, resolved, binding)
        receiver_value = ""
        if is_method:
            receiver = _unparen(callee.child_by_field_name("table"))
            if receiver is not None and receiver.type == "function_call":
                receiver_value = self._producer(receiver, scope)
            elif receiver is not None and receiver.type == "identifier":
                held = self._resolve(receiver, scope)[1]
                receiver_value = held.target if held is not None and held.kind == "result" else ""
        global_root = ""
        base = _base_identifier(callee)
        if base is not None and (binding is None or (binding.kind == "alias" and binding.free)):
            global_root = _ROOT_NAME.match(resolved).group(0) if _ROOT_NAME.match(resolved) else ""
        where = callee
        if callee.type == "method_index_expression":
            where = callee.child_by_field_name("method")
        elif callee.type == "dot_index_expression":
            where = callee.child_by_field_name("field")
        row, col = where.start_point
        self.report.calls.append(
            Call(
                name, resolved, row + 1, col + 1, len(args), open_ended, is_method, local, receiver_value, global_root
            )
        )


def _glued_string_argument(callee: tree_sitter.Node, args_node: tree_sitter.Node | None) -> bool:
    """`word", "` : a string argument glued to the name whose text starts with punctuation or a space. In code with
    a syntax error this is what error recovery makes of text whose quotes it lost track of (`{"name": "John",
    "city": "New York"}` gives "calls" of John, city and York), so it is not counted there as a call, nor is a call
    of its result; `require"x"` stays a call, and in code that parses every call does."""
    if callee is None:
        return False
    if callee.type == "function_call" and _glued_string_argument(
        callee.child_by_field_name("name"), callee.child_by_field_name("arguments")
    ):
        return True
    if args_node is None or not args_node.children or args_node.children[0].type != "string":
        return False
    text = _text(args_node.children[0])
    return args_node.start_byte == callee.end_byte and not re.match(r"""["']\w""", text)


def _or_operands(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The values `a and b or c` may take, in order: `b`, `c` (an `and`'s left operand is only a condition)."""
    node = _unparen(node)
    if node is None or node.type != "binary_expression":
        return [node] if node is not None else []
    operator = node.child_by_field_name("operator")
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if operator is None or left is None or right is None:
        return []
    if _text(operator) == "or":
        return _or_operands(left) + _or_operands(right)
    if _text(operator) == "and":
        return _or_operands(right)
    return []


def _first_argument(call: tree_sitter.Node) -> tree_sitter.Node | None:
    args = call.child_by_field_name("arguments")
    if args is None:
        return None
    return next((a for a in args.named_children if a.type != "comment"), None)


def _string_argument(call: tree_sitter.Node) -> str:
    """The text of a call's first argument when it is a string literal (`require "pl.utils"`), else ""."""
    first = _first_argument(call)
    if first is None or first.type != "string":
        return ""
    content = first.child_by_field_name("content")
    return _text(content) if content is not None else ""
