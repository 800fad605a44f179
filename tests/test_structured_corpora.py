"""Structured API descriptions nobody in this project wrote, read with no layout (../shared/corpora, see its README):
what each convention gives beyond the names and counts that test_docs_corpora.py checks on every set.

The readings are the session's (conftest's `corpus_reading`), the truth corpora_truth.py's: derived from the raw
files with other tools than the reader's (ElementTree for the XML, PyYAML for Defold's YAML, Lua itself for MWSE).
"""

from __future__ import annotations

import pytest
from corpora_truth import ITGMANIA, MWSE, SETS, mwse_files, score

CALLABLE = ("function", "method")


def exact(result, name: str):
    """The set's score, asserted whole: every documented callable found, every count right, nothing false."""
    got = score(result.api, SETS[name][1]())
    assert (got.found, got.params_right, got.false) == (got.expected, got.with_params, []), got.row()
    return got


@pytest.fixture(scope="session")
def itgmania(corpus_reading):
    return corpus_reading("itgmania-luadoc-xml")


@pytest.fixture(scope="session")
def mwse(corpus_reading):
    return corpus_reading("mwse-lua-definitions")


@pytest.fixture(scope="session")
def defold(corpus_reading):
    return corpus_reading("defold-steam-script-api")


# -- itgmania: the StepMania Lua documentation as XML ---------------------------------------------------------------


def test_itgmania_xml_functions_namespaces_and_class_methods(itgmania):
    truth = SETS["itgmania-luadoc-xml"][1]()
    # 1,898 `<Function>` elements, 1,080 with arguments; two are documented twice (README), one entry each
    assert len(truth) == 1896 and sum(bool(forms) for forms in truth.values()) == 1080
    exact(itgmania, "itgmania-luadoc-xml")
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


def test_mwse_callables_named_from_their_paths(mwse):
    truth = SETS["mwse-lua-definitions"][1]()
    # README: 660 `function` + 708 `method` files indented with a tab, 974 with `arguments`; two more files indent
    # with spaces, one of them with arguments
    assert len(truth) == 1370 and sum(bool(forms) for forms in truth.values()) == 975
    exact(mwse, "mwse-lua-definitions")
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


def test_defold_script_api_wins_over_its_stubs_which_add_what_it_lacks(defold):
    truth = SETS["defold-steam-script-api"][1]()
    assert len(truth) == 110 and sum(bool(forms) for forms in truth.values()) == 81
    got = score(defold.api, truth)
    assert (got.found, got.params_right) == (110, got.with_params), got.row()
    assert sorted(got.false) == ["steam.apps_is_subscribed_app", "steam.remote_storage_file_delete"]
    callables = [e for e in defold.api if e.kind in CALLABLE]
    from_stubs = sorted(e.name for e in callables if e.source.file == "steam.lua")
    assert from_stubs == ["steam.apps_is_subscribed_app", "steam.remote_storage_file_delete"]
    assert defold.api.get("steam.init").params == []  # the YAML's; the stubs say `init(appid)`
    duplicates = [r for r in defold.skipped if r.reason.startswith("duplicate")]
    assert len(duplicates) == 110 and all(r.file.endswith("steam.lua") for r in duplicates)
    constants = [e for e in defold.api if e.kind == "field"]
    assert len(constants) == 99 and defold.api.get("steam.ELeaderboardSortMethodAscending").kind == "field"
