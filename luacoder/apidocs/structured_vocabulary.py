"""The key words of structured API descriptions: which keys name an object, give its kind, parameters, returns,
description, signature, variants, examples, and which words of a kind key (or an XML tag) mean function, method,
value, event, class, module or enum. Keys are compared as `norm` spells them: lower case, letters and digits only.

    VOCABULARY.kind_of("Function")            # "function"
    VOCABULARY.container_of("namedTypes")     # "class": what the members of such a key are by default
    VOCABULARY.extended({"params": ["inputs"]})   # the override for keys it cannot guess
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from luacoder.apidocs.schema import ApiError


def _words(*words: str) -> frozenset[str]:
    return frozenset(words)


@dataclass(frozen=True)
class Vocabulary:
    """The key words of each role, and the kind words of each kind, normalised (lower case, no `_` or `-`)."""

    name: tuple[str, ...] = (
        "name", "functionname", "methodname", "fullname", "qualifiedname", "identifier", "symbol", "id", "title",
        "label", "key",
    )  # fmt: skip
    kind: frozenset[str] = _words(
        "kind", "type", "membertype", "entrytype", "nodetype", "itemtype", "what", "category"
    )
    params: frozenset[str] = _words(
        "params", "parameters", "param", "parameter", "args", "arguments", "argument", "arg", "arglist",
        "argumentlist", "paramlist", "parameterlist", "inputs", "input", "formals",
    )  # fmt: skip
    returns: frozenset[str] = _words(
        "returns", "return", "returntype", "returntypes", "returnvalue", "returnvalues", "rettype", "ret", "rets",
        "result", "results", "outputs", "output", "rtype",
    )  # fmt: skip
    # the type of what it gives: a callable's one return, a value's type; not a sign of a callable by itself
    value_type: frozenset[str] = _words("valuetype", "resulttype")
    description: frozenset[str] = _words(
        "description", "desc", "doc", "docs", "documentation", "docstring", "summary", "brief", "comment",
        "comments", "text", "help", "details", "detail", "notes", "note", "remarks", "about",
    )  # fmt: skip
    signature: frozenset[str] = _words("signature", "syntax", "prototype", "proto", "declaration", "decl", "callform")
    variants: frozenset[str] = _words(
        "variants", "variant", "overloads", "overload", "signatures", "forms", "callforms", "variations", "syntaxes"
    )
    examples: frozenset[str] = _words("example", "examples", "usage", "usages", "sample", "samples", "snippet", "code")
    optional: frozenset[str] = _words("optional", "isoptional", "opt", "nullable", "canbenil")
    required: frozenset[str] = _words("required", "isrequired", "mandatory")
    default: frozenset[str] = _words("default", "defaultvalue", "defaultval", "defval")
    vararg: frozenset[str] = _words("vararg", "varargs", "variadic", "isvararg", "isvariadic", "rest", "repeated")
    param_type: frozenset[str] = _words("type", "types", "valuetype", "datatype", "luatype", "typename")
    table_fields: frozenset[str] = _words(
        "fields", "tableparams", "tablefields", "tablekeys", "keys", "options", "properties", "members"
    )
    static: frozenset[str] = _words("static", "isstatic")
    receiver: frozenset[str] = _words("instanceparameter", "selfparameter", "receiver")  # the object of a method
    method: frozenset[str] = _words("method", "ismethod", "instance", "isinstance")
    # kind words (the value of a kind key, or an XML tag) -> kind
    kinds: tuple[tuple[str, frozenset[str]], ...] = (
        ("function", _words(
            "function", "func", "fn", "procedure", "routine", "subroutine", "callable", "globalfunction",
            "libraryfunction", "modulefunction", "builtin", "builtinfunction", "cfunction", "luafunction",
        )),
        ("static", _words("staticfunction", "staticmethod", "classmethod", "constructor", "ctor")),
        ("method", _words("method", "instancemethod", "membermethod", "memberfunction", "objectmethod")),
        ("value", _words(
            "value", "field", "property", "prop", "attribute", "attr", "variable", "var", "constant", "const",
            "typevalue", "enumvalue", "enummember", "enumitem",
        )),
        # a value's type given where a kind would be (`type: number`): a value, unless it has parameters (then a
        # function) or members (then a module)
        ("type", _words(
            "number", "integer", "int", "float", "double", "string", "boolean", "bool", "table", "userdata", "array",
            "object", "any",
        )),
        ("event", _words("event", "signal", "callback", "hook", "notification")),
        ("class", _words("class", "type", "interface", "struct", "record", "metatable", "prototype", "classdef")),
        ("module", _words("module", "lib", "library", "namespace", "package", "submodule", "service", "globals")),
        ("enum", _words("enum", "enumeration", "flags", "bitfield")),
        ("other", _words("operator", "metamethod", "typedef", "alias")),
    )  # fmt: skip
    # container key words (a key whose value holds members) -> the kind its members have by default
    containers: tuple[tuple[str, frozenset[str]], ...] = (
        ("function", _words(
            "functions", "funcs", "fns", "globalfunctions", "staticfunctions", "callables", "procedures", "routines",
        )),
        ("static", _words("staticmethods", "classmethods", "constructors")),
        ("method", _words("methods", "instancemethods", "membermethods", "memberfunctions")),
        ("class", _words("classes", "types", "namedtypes", "interfaces", "structs", "records", "objects")),
        ("module", _words("modules", "namespaces", "libraries", "libs", "packages", "submodules", "tables")),
        ("value", _words(
            "fields", "properties", "props", "attributes", "attrs", "variables", "vars", "constants", "consts",
            "values", "enumvalues",
        )),
        ("event", _words("events", "signals", "callbacks", "hooks")),
        ("enum", _words("enums", "enumerations")),
        ("", _words(
            "members", "member", "children", "items", "entries", "elements", "api", "apis", "definitions", "defs",
            "declarations", "symbols", "contents", "exports",
        )),
    )  # fmt: skip

    def kind_of(self, word: str) -> str | None:
        key = norm(word)
        return next((kind for kind, words in self.kinds if key in words), None)

    def container_of(self, key: str) -> str | None:
        """The default kind of a container key's members ("" for a generic container), None for no container."""
        word = norm(key)
        return next((kind for kind, words in self.containers if word in words), None)

    def role_keys(self) -> frozenset[str]:
        return (
            (frozenset(self.name) | self.kind | self.params | self.returns | self.value_type | self.description)
            | self.signature
            | self.variants
            | self.examples
        )

    def roles_of_words(self) -> dict[str, tuple[str, ...]]:
        """Each key word and the roles it has (`type`: kind and param_type)."""
        out: dict[str, tuple[str, ...]] = {}
        for role in KEY_ROLES:
            for word in getattr(self, role):
                out[word] = out.get(word, ()) + (role,)
        return out

    def extended(self, keys: Mapping[str, Iterable[str]]) -> Vocabulary:
        """This vocabulary with more key words for some roles (`{"params": ["inputs"]}`): the override for a
        description whose keys it cannot guess. A role's added words come first."""
        changes: dict[str, Any] = {}
        for role, words in keys.items():
            if role not in OVERRIDABLE:
                raise ApiError(f"no key role {role!r}; the roles are {', '.join(OVERRIDABLE)}")
            if isinstance(words, str):
                raise ApiError(f"key role {role!r}: expected a list of key names, got the string {words!r}")
            added = tuple(norm(w) for w in words)
            if role == "name":
                changes["name"] = added + self.name
            elif role == "members":
                changes["containers"] = (("", frozenset(added)),) + self.containers
            else:
                changes[role] = getattr(self, role) | frozenset(added)
        return replace(self, **changes)


KEY_ROLES = (
    "name", "kind", "params", "returns", "value_type", "description", "signature", "variants", "examples", "optional",
    "required", "default", "vararg", "param_type", "table_fields", "static", "method", "receiver",
)  # fmt: skip
OVERRIDABLE = (
    "name", "kind", "params", "returns", "description", "signature", "variants", "examples", "optional", "default",
    "vararg", "members",
)  # fmt: skip


VOCABULARY = Vocabulary()
CALLABLE = ("function", "static", "method")
ENTRY_KINDS = CALLABLE + ("value", "event")
SCOPES = ("class", "module", "enum")


@lru_cache(maxsize=65536)
def norm(key: Any) -> str:
    """A key as its role lists spell it: lower case, letters and digits only (`tableParams`, `return-value`)."""
    return re.sub(r"[^a-z0-9]", "", str(key).lower())
