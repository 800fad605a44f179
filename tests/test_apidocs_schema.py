"""api.json validation and the Markdown reader's errors: each names the file, line or entry and what is wrong."""

from __future__ import annotations

import json
import math

import pytest

from luacoder.apidocs import ApiEntry, ApiError, ApiSet, Param, load_api, save_api
from luacoder.apidocs.call_forms import parse_call_form
from luacoder.apidocs.markdown import read_markdown_file
from luacoder.apidocs.signature import Signature
from luacoder.files import atomic_open, write_text


@pytest.mark.parametrize(
    "signature, name, kind, params",
    [
        (
            "string.find(s, pattern [, init [, plain]])",
            "string.find",
            "function",
            [("s", False), ("pattern", False), ("init", True), ("plain", True)],
        ),
        (
            "table.insert(list, [pos,] value)",
            "table.insert",
            "function",
            [("list", False), ("pos", True), ("value", False)],
        ),
        ("pcall(f [, arg1, ...])", "pcall", "function", [("f", False), ("arg1", True), ("...", True)]),
        ("file:seek([whence [, offset]])", "file:seek", "method", [("whence", True), ("offset", True)]),
        ("math.pi", "math.pi", "field", []),
        ("__index(t, k)", "__index", "event", [("t", False), ("k", False)]),
        (
            "`uv.tcp_bind(tcp, host, port, [flags])`",
            "uv.tcp_bind",
            "function",
            [("tcp", False), ("host", False), ("port", False), ("flags", True)],
        ),
    ],
)
def test_parse_signature(signature, name, kind, params):
    form = parse_call_form(signature)
    assert (form.name, Signature(form.name, form.params, form.callable).kind) == (name, kind)
    assert [(p.name, p.optional) for p in form.params] == params


def test_arity_counts_optional_and_variadic_parameters():
    entry = ApiEntry(
        name="f",
        kind="function",
        module="_G",
        signature="f(a [, b], ...)",
        params=[Param("a"), Param("b", optional=True), Param("...", optional=True)],
    )
    assert entry.arity() == (1, math.inf)
    assert ApiEntry(name="g", kind="function", module="", signature="g()").arity() == (0, 0)


def test_round_trip_through_api_json(tmp_path):
    api = ApiSet(
        "demo",
        [
            ApiEntry(
                name="m.f",
                kind="function",
                module="m",
                signature="m.f(x)",
                params=[Param("x", "integer")],
                examples=["print(m.f(1))"],
            )
        ],
    )
    save_api(api, tmp_path / "api.json")
    again = load_api(tmp_path / "api.json")
    assert again.to_dict() == api.to_dict()


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"name": "m.f", "kind": "procedure"}], r"entry 0 \(m.f\): 'kind' is 'procedure'"),
        (
            [{"name": "m.f", "kind": "function", "params": [{"name": "x", "optional": "yes"}]}],
            r"entry 0 \(m.f\): params\[0\].optional must be true or false",
        ),
        ([{"kind": "function"}], r"entry 0: missing required field 'name'"),
        ([{"name": "m.f", "kind": "function", "colour": "red"}], r"unknown field\(s\) \['colour'\]"),
        (
            [{"name": "m.f", "kind": "function"}, {"name": "m.f", "kind": "field"}],
            r"entry 1 \(m.f\) duplicates entry 0",
        ),
    ],
)
def test_invalid_entries_are_named_in_the_error(tmp_path, entries, message):
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"name": "x", "entries": entries}))
    with pytest.raises(ApiError, match=message):
        load_api(path)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("aliases", "strlen", "'aliases' must be a list, got a JSON string ('strlen')"),
        ("examples", "print(1)", "'examples' must be a list, got a JSON string ('print(1)')"),
        ("returns", "string", "'returns' must be a list, got a JSON string ('string')"),
        ("needs_host", 0, "'needs_host' must be a list, got a JSON number (0)"),
        ("forms", "f(s)", "'forms' must be a list, got a JSON string ('f(s)')"),
        ("aliases", None, "'aliases' must be a list, got a JSON null (None)"),
        ("params", "s", "params: must be a list of parameters, got a JSON string ('s')"),
    ],
)
def test_a_list_field_given_otherwise_is_refused_naming_file_entry_and_field(tmp_path, field, value, message):
    """`list("strlen")` would make five one-letter aliases, and the grader would take `s("hello")` as documented."""
    path = tmp_path / "api.json"
    entry = {"name": "string.len", "kind": "function", "signature": "string.len(s)", field: value}
    path.write_text(json.dumps({"name": "x", "entries": [{"name": "f", "kind": "function"}, entry]}))
    with pytest.raises(ApiError) as error:
        load_api(path)
    assert str(error.value) == f"{path}: entry 1 (string.len): {message}"


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "api.json"
    path.write_text('{"name": "x",\n "entries": [,]}')
    with pytest.raises(ApiError, match=r"api.json:2:\d+: malformed JSON"):
        load_api(path)


def test_invalid_utf8_is_reported_with_the_file(tmp_path):
    path = tmp_path / "bad.md"
    path.write_bytes(b"# `m`: x\n\n## m.f()\n\ncaf\xe9\n")
    with pytest.raises(ApiError, match=r"bad.md: not valid UTF-8"):
        read_markdown_file(path)


def test_markdown_entry_before_module_heading_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "m.md"
    path.write_text("Intro\n\n## m.f(x)\n\nDoes f.\n")
    with pytest.raises(ApiError, match=r"m.md:3: an entry \(level-2 heading\) comes before"):
        read_markdown_file(path)


def test_markdown_parameter_list_must_match_the_signature(tmp_path):
    path = tmp_path / "m.md"
    path.write_text(
        "# `m`\n\n## m.f(x, y)\n\nDoes f.\n\n### Parameters\n\n- `x` (`integer`): one.\n- `z` (`any`): two.\n"
    )
    with pytest.raises(ApiError, match=r"m.md:3: the Parameters list \['x', 'z'\] does not match"):
        read_markdown_file(path)


def test_markdown_reader_reads_every_section(tmp_path):
    path = tmp_path / "m.md"
    path.write_text(
        "# `m`: a module\n\n## m.f(x [, y])\n\nDoes *f*.\n\nTwice.\n\n### Parameters\n\n"
        '- `x` (`integer`): the first.\n- `y` (`string`|`nil`, optional): the second; default `"a"`.\n\n'
        "### Returns\n\n- `boolean`: whether it worked.\n- `msg` (`string`): why not.\n\n"
        "### Aliases\n\n- `obj:f(y)`\n\n"
        "### Example\n\n```lua\nprint(m.f(1))\n```\n\n```lua needs-host\nos.exit(0)\n```\n"
    )
    [entry] = read_markdown_file(path)
    assert entry.name == "m.f" and entry.module == "m" and entry.kind == "function"
    assert entry.description == "Does *f*.\n\nTwice."
    assert [(p.name, p.type, p.optional, p.description) for p in entry.params] == [
        ("x", "integer", False, "the first."),
        ("y", "string|nil", True, 'the second; default `"a"`.'),
    ]
    assert [(r.name, r.type, r.description) for r in entry.returns] == [
        ("", "boolean", "whether it worked."),
        ("msg", "string", "why not."),
    ]
    assert entry.aliases == ["obj:f"]
    assert entry.examples == ["print(m.f(1))\n", "os.exit(0)\n"] and entry.needs_host == [1]
    assert entry.source.line == 3


def test_atomic_open_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_writes_get_the_mode_a_plain_open_would_give(tmp_path):
    plain, atomic = tmp_path / "plain.txt", tmp_path / "atomic.txt"
    plain.write_text("x")
    write_text(atomic, "x")
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
