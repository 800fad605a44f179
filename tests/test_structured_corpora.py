"""Structured API descriptions nobody in this project wrote, read with no layout (../shared/corpora, see its README).

Each corpus is read once per session. What each test expects is derived here from the raw files by the corpus
README's rules, with other tools than the reader's: the standard library's ElementTree for the XML, PyYAML's
safe_load for Defold's YAML, and Lua itself (lupa, each definition file run as a data chunk in an empty environment)
for the MWSE tables. Targets: >= 95% of the documented functions and methods found under their qualified name,
>= 95% of those with a parameter list read with the right required and optional counts, false callables <= 2%.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml
from conftest import CORPORA, need

from luacoder.apidocs import read_docs

ITGMANIA = CORPORA / "itgmania-luadoc-xml" / "Docs" / "Luadoc"
MWSE = CORPORA / "mwse-lua-definitions" / "autocomplete" / "definitions"
DEFOLD = CORPORA / "defold-steam-script-api" / "steam" / "api"
CALLABLE = ("function", "method")


def split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch in "({[") - (ch in ")}]")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in parts + [current] if p.strip()]


def score(result, truth: dict[str, tuple[int, int, bool]]) -> dict[str, float]:
    """Found, right counts among those with a parameter list, and false callables, as shares; `truth` maps a
    qualified name to (required, optional, has a parameter list)."""
    got = {e.name: e for e in result.api if e.kind in CALLABLE}
    found = [n for n in truth if n in got]
    listed = [n for n in truth if truth[n][2] and n in got]
    right = [
        n
        for n in listed
        if (sum(not p.optional for p in got[n].params), sum(p.optional for p in got[n].params)) == truth[n][:2]
    ]
    false = [n for n in got if n not in truth]
    return {
        "found": len(found) / len(truth),
        "right": len(right) / sum(1 for t in truth.values() if t[2]),
        "false": len(false) / len(got),
        "wrong": sorted(set(listed) - set(right))[:10] + sorted(set(truth) - set(found))[:10] + false[:10],
    }


def assert_targets(scores: dict) -> None:
    assert scores["found"] >= 0.95 and scores["right"] >= 0.95 and scores["false"] <= 0.02, scores


# -- itgmania: the StepMania Lua documentation as XML ---------------------------------------------------------------


def itgmania_truth() -> dict[str, tuple[int, int, bool]]:
    """`<GlobalFunctions>` functions are global, a `<Namespace>`'s are `NS.name`, a `<Class>`'s are methods
    `Class:name`; arguments are `arguments=` (or `args=`) split at top-level commas, `...` optional, `void` none."""
    ns = "{http://www.stepmania.com}"
    root = ElementTree.parse(ITGMANIA / "LuaDocumentation.xml").getroot()
    truth: dict[str, tuple[int, int, bool]] = {}

    def add(name: str, function) -> None:
        raw = function.get("arguments", function.get("args")) or ""
        args = [] if raw.strip() == "void" else split_top(raw)
        truth.setdefault(name, (sum(a != "..." for a in args), sum(a == "..." for a in args), bool(raw.strip())))

    for function in root.find(ns + "GlobalFunctions").iter(ns + "Function"):
        add(function.get("name"), function)
    for section, separator in (("Namespace", "."), ("Class", ":")):
        for owner in root.iter(ns + section):
            for function in owner.iter(ns + "Function"):
                add(owner.get("name") + separator + function.get("name"), function)
    return truth


@pytest.fixture(scope="session")
def itgmania():
    need(ITGMANIA)
    return read_docs([ITGMANIA])


def test_itgmania_xml_functions_namespaces_and_class_methods(itgmania):
    truth = itgmania_truth()
    # 1,898 `<Function>` elements; two are documented twice (README), one entry each with both forms
    assert len(truth) == 1896 and sum(t[2] for t in truth.values()) == 1080
    scores = score(itgmania, truth)
    assert_targets(scores)
    assert scores["found"] == 1.0 and scores["right"] == 1.0 and scores["false"] == 0, scores
    alpha = itgmania.api.get("Alpha")
    assert [(p.name, p.type) for p in alpha.params] == [("c", "color"), ("percent", "float")]
    assert alpha.returns[0].type == "color" and alpha.description.startswith("[02 Colors.lua] Returns a color")
    assert itgmania.api.get("Actor:zoom").owner == "Actor" and itgmania.api.get("ActorUtil.IsRegisteredClass")


def test_itgmania_names_only_dump_adds_no_callables_and_schemas_are_not_read(itgmania):
    """Lua.xml lists what the engine registers by name only: no function of it becomes an entry (the grader would
    take each for a call with no arguments); one row says so. Its named constants are fields. Lua.xsd and Lua.xsl
    describe the XML, not the API: not read."""
    assert set(itgmania.layouts) == {str(ITGMANIA / "Lua.xml"), str(ITGMANIA / "LuaDocumentation.xml")}
    from_dump = [e for e in itgmania.api if e.source.file == "Lua.xml"]
    assert from_dump and all(e.kind == "field" for e in from_dump)
    assert itgmania.api.get("SCREEN_WIDTH").kind == "field"
    rows = [r for r in itgmania.skipped if r.file.endswith("Lua.xml") and r.reason.startswith("known by name only")]
    assert len(rows) == 1 and rows[0].what.startswith("1963 items")


# -- MWSE: one Lua table per member, named by its path ---------------------------------------------------------------

TOP_TYPE = re.compile(r'^(?:\t| {4})type = "(\w+)"', re.MULTILINE)  # two files indent with spaces


def mwse_files() -> dict[Path, str]:
    """Each definition file with a top-level type, and the type."""
    out = {}
    for file in sorted(MWSE.rglob("*.lua")):
        match = TOP_TYPE.search(file.read_text(encoding="utf-8"))
        if match:
            out[file] = match.group(1)
    return out


def mwse_truth(files: dict[Path, str]) -> dict[str, tuple[int, int, bool]]:
    """`global/a/b.lua` is `a.b`, `global/f.lua` the global `f`; `namedTypes/T/m.lua` is `T:m` (method) or `T.m`.
    An argument is optional with `optional = true`, a `?` or `|nil` type, a `default`, or as `...`."""
    import lupa

    lua = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    run = lua.eval("function(text) return load(text, 'definition', 't', {})() end")
    truth = {}
    for file, kind in files.items():
        if kind not in CALLABLE:
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
        truth[name] = (required, optional, arguments is not None)
    return truth


@pytest.fixture(scope="session")
def mwse():
    need(MWSE)
    return read_docs([MWSE])


def test_mwse_callables_named_from_their_paths(mwse):
    files = mwse_files()
    truth = mwse_truth(files)
    # README: 660 `function` + 708 `method` files indented with a tab, 974 with `arguments`; two more files indent
    # with spaces, one of them with arguments
    assert len(truth) == 1370 and sum(t[2] for t in truth.values()) == 975
    scores = score(mwse, truth)
    assert_targets(scores)
    assert scores["found"] == 1.0 and scores["right"] == 1.0 and scores["false"] == 0, scores
    ray = mwse.api.get("tes3.rayTest")
    assert [p.name for p in ray.params] == ["params"] and len(ray.params[0].fields) > 10
    assert mwse.api.get("tes3vector3.new").kind == "function" and mwse.api.get("math.ease.quadIn")


def test_mwse_values_events_and_classes_are_not_callables_and_examples_not_entries(mwse):
    kinds = {str(file.relative_to(MWSE)): kind for file, kind in mwse_files().items()}
    expected = {"function": "function", "method": "method", "value": "field", "event": "event"}
    structured = [e for e in mwse.api if mwse.layouts[str(MWSE / e.source.file)] == "structured"]
    assert len(structured) > 4000
    wrong = [(e.name, e.kind) for e in structured if expected.get(kinds.get(e.source.file)) != e.kind]
    assert wrong == []  # each from a definition file of its own kind: no example script is read as a description
    # The example scripts with LuaCATS annotations go to the LuaCATS reader, which finds no callable in them.
    assert not [e.name for e in mwse.api if e.kind in CALLABLE and e.source.file not in kinds]
    events = [e for e in mwse.api if e.kind == "event"]
    assert len(events) == list(kinds.values()).count("event") == 178
    assert mwse.api.get("activate").kind == "event"  # events/standard/activate.lua: `standard/` is a grouping
    operators = [r for r in mwse.skipped if "of kind 'operator'" in r.reason]
    assert len(operators) == list(kinds.values()).count("operator") == 30


# -- Defold: a YAML description beside LuaCATS stubs of the same API ----------------------------------------------


def defold_truth() -> dict[str, tuple[int, int, bool]]:
    data = yaml.safe_load((DEFOLD / "steam.script_api").read_text(encoding="utf-8"))
    return {
        f"steam.{m['name']}": (len(m.get("parameters") or []), 0, "parameters" in m)
        for m in data[0]["members"]
        if m["type"] == "function"
    }


@pytest.fixture(scope="session")
def defold():
    need(DEFOLD)
    return read_docs([DEFOLD])


def test_defold_script_api_wins_over_its_stubs_which_add_what_it_lacks(defold):
    truth = defold_truth()
    assert len(truth) == 110 and sum(t[2] for t in truth.values()) == 81
    scores = score(defold, truth)
    assert_targets(scores)
    assert scores["found"] == 1.0 and scores["right"] == 1.0, scores
    callables = [e for e in defold.api if e.kind in CALLABLE]
    from_stubs = sorted(e.name for e in callables if e.source.file == "steam.lua")
    assert from_stubs == ["steam.apps_is_subscribed_app", "steam.remote_storage_file_delete"]
    assert defold.api.get("steam.init").params == []  # the YAML's; the stubs say `init(appid)`
    duplicates = [r for r in defold.skipped if r.reason.startswith("duplicate")]
    assert len(duplicates) == 110 and all(r.file.endswith("steam.lua") for r in duplicates)
    constants = [e for e in defold.api if e.kind == "field"]
    assert len(constants) == 99 and defold.api.get("steam.ELeaderboardSortMethodAscending").kind == "field"
