"""JSON docs: api.json and the older LuaCoder layout read into an ApiSet, and exported back."""

from __future__ import annotations

import json
import math

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs import ApiError, save_api
from luacoder.apidocs.json_docs import read_json_docs
from luacoder.apidocs.markdown import read_markdown_docs

LEGACY = {
    "_G": [
        {
            "function_name": "print",
            "description": "Prints its arguments.",
            "args": [{"name": "...", "type": "any", "comment": "values"}],
            "return": "",
            "example": "print('hi')",
        }
    ],
    "display": [
        {
            "function_name": "newRect",
            "description": "Creates a rectangle.",
            "args": [
                {"name": "parent", "type": "GroupObject?", "comment": "optional group"},
                {"name": "x", "type": "number", "comment": ""},
                {"name": "y", "type": "number", "comment": ""},
                {"name": "[width]", "type": "number", "comment": ""},
            ],
            "return": [{"type": "ShapeObject", "comment": "the rectangle"}],
            "example": ["local r = display.newRect(0, 0, 10, 10)"],
        },
        {"function_name": "display.remove", "args": ["object"], "return": "nil"},
        {"function_name": "ShapeObject:setFillColor()", "args": [{"name": "gray", "type": "number"}]},
    ],
}


def test_legacy_layout_is_read_with_qualified_names_and_optional_flags(tmp_path):
    path = tmp_path / "corona.json"
    path.write_text(json.dumps(LEGACY))
    api = read_json_docs(path)
    assert [e.name for e in api] == ["print", "display.newRect", "display.remove", "ShapeObject:setFillColor"]
    assert [e.kind for e in api] == ["function", "function", "function", "method"]
    rect = api.get("display.newRect")
    assert [(p.name, p.type, p.optional) for p in rect.params] == [
        ("parent", "GroupObject", True),
        ("x", "number", False),
        ("y", "number", False),
        ("width", "number", True),
    ]
    assert rect.arity() == (2, 4)
    assert rect.signature == "display.newRect([parent], x, y, [width])"
    assert [(r.type, r.description) for r in rect.returns] == [("ShapeObject", "the rectangle")]
    assert rect.examples == ["local r = display.newRect(0, 0, 10, 10)"]
    assert rect.module == "display" and rect.source.file == "corona.json"
    assert api.get("print").module == "" and api.get("print").arity() == (0, math.inf)
    assert api.get("print").returns == []


def to_legacy(api) -> dict[str, list[dict]]:
    """The older LuaCoder layout of the functions and methods of `api` (functions keep their qualified names; a global
    documented with a module, `require` with `package`, goes under `_G`, where the older layout's readers look)."""
    modules: dict[str, list[dict]] = {}
    for entry in api:
        if entry.kind not in ("function", "method"):
            continue
        is_global = "." not in entry.name and ":" not in entry.name
        modules.setdefault("_G" if is_global or not entry.module else entry.module, []).append(
            {
                "function_name": entry.name,
                "description": entry.description,
                "args": [
                    {"name": p.name, "type": p.type, "comment": p.description, "optional": p.optional}
                    for p in entry.params
                ],
                "return": [{"type": r.type, "name": r.name, "comment": r.description} for r in entry.returns],
                "example": list(entry.examples),
            }
        )
    return modules


def test_bundled_docs_survive_a_round_trip_through_the_older_layout(tmp_path):
    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    (tmp_path / "legacy.json").write_text(json.dumps(to_legacy(api)))
    back = read_json_docs(tmp_path / "legacy.json")
    callable_entries = [e for e in api if e.kind in ("function", "method")]
    assert sorted(e.name for e in back) == sorted(e.name for e in callable_entries)
    for before in callable_entries:
        after = back.get(before.name)
        assert after.kind == before.kind
        assert after.arity() == before.arity(), before.name
        assert [p.name for p in after.params] == [p.name for p in before.params]
        assert after.examples == before.examples
    assert set(to_legacy(api)) == {e.module for e in callable_entries if e.module} | {"_G"}
    assert back.get("require").module == ""  # a global, documented with `package`


def test_api_json_and_a_folder_of_json_docs(tmp_path):
    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    save_api(api, tmp_path / "api.json")
    assert read_json_docs(tmp_path / "api.json").to_dict() == api.to_dict()

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"m": [{"function_name": "f", "args": []}]}))
    (folder / "sub").mkdir()
    (folder / "sub" / "b.json").write_text(json.dumps({"m": [{"function_name": "g", "args": []}]}))
    merged = read_json_docs(folder)
    assert [e.name for e in merged] == ["m.f", "m.g"]
    assert merged.name == "docs" and merged.get("m.g").source.file == "sub/b.json"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"m": [{"function_name": "f",}]}', "malformed JSON"),
        ("[1, 2]", "got a JSON list"),
        ('{"m": {"function_name": "f"}}', "module 'm': expected a list of functions"),
        ('{"m": [{"description": "no name"}]}', "module 'm', item 0: missing or empty 'function_name'"),
        ('{"m": [{"function_name": "f", "argz": []}]}', "(f): unknown field(s) ['argz']"),
        ('{"m": [{"function_name": "f", "args": [{"name": "a", "optional": "yes"}]}]}', "args[0]: 'optional'"),
        ('{"m": [{"function_name": "f", "return": 3}]}', "f): return: expected a string or a list"),
        ('{"m": [{"function_name": "f"}, {"function_name": "m.f"}]}', "entry 1 (m.f) duplicates entry 0"),
    ],
)
def test_bad_json_docs_are_refused_with_the_place_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ApiError) as info:
        read_json_docs(path)
    assert message in str(info.value)
    assert "bad.json" in str(info.value) or "duplicates" in message


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(ApiError, match="no such file"):
        read_json_docs(tmp_path / "nope.json")
    with pytest.raises(ApiError, match="no .json files"):
        read_json_docs(tmp_path)
    (tmp_path / "latin1.json").write_bytes(b'{"m": [{"function_name": "caf\xe9"}]}')
    with pytest.raises(ApiError, match="not valid UTF-8"):
        read_json_docs(tmp_path / "latin1.json")
