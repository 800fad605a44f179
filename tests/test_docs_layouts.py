"""Layouts as overrides on the document model (a few YAML lines), their checks, and what read_docs keeps or lists."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs import ApiEntry, ApiError, ApiSet, DocsResult, Skipped, read_docs, save_api
from luacoder.apidocs.layout import Layout, LayoutError, Rule, load_layout, parse_layout, shipped_layout_names


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# A convention the reader cannot guess: bare signatures in paragraphs of their own, once each, with no mark.
TERSE = """
    # Robot

    ## Motion

    move(dx, dy)

    Moves by dx, dy.

    ## Sensing

    distance(direction)

    How far the nearest wall is.

    See turn(angle) for turning.
"""


def test_a_three_line_override_reads_what_the_reader_cannot_guess(tmp_path):
    doc = write(tmp_path / "robot.md", TERSE)
    with pytest.raises(ApiError, match="too little evidence"):
        read_docs([doc])  # one bare paragraph per section: nothing says these are signatures
    layout = write(tmp_path / "robot.yaml", "name: robot\nentries: [{kind: paragraph}]\ncontext: [{heading: 1}]\n")
    result = read_docs([doc], layout=layout)
    assert [(e.name, e.arity(), e.description) for e in result.api] == [
        ("Robot.move", (2, 2), "Moves by dx, dy."),
        ("Robot.distance", (1, 1), "How far the nearest wall is.\n\nSee turn(angle) for turning."),
    ]
    assert set(result.layouts.values()) == {"robot"}


def test_ignore_and_class_rules(tmp_path):
    doc = write(
        tmp_path / "ref.html",
        """
        <html><body>
        <h3><code>io.load(path)</code></h3><p>Loads.</p>
        <h3 class="deprecated"><code>io.slurp(path)</code></h3><p>Old.</p>
        <h3><code>io.save(path, data)</code></h3><p>Saves.</p>
        </body></html>
        """,
    )
    assert sorted(e.name for e in read_docs([doc]).api) == ["io.load", "io.save", "io.slurp"]
    layout = write(tmp_path / "io.yaml", "name: io\nignore: [{class: deprecat*}]\n")
    assert sorted(e.name for e in read_docs([doc], layout=layout).api) == ["io.load", "io.save"]


# A structured description whose every key the shape reader cannot guess: which key holds the entries, names them,
# lists their parameters, says what they return and describes them.
ROBOT_API = {
    "robot": {
        "procs": [
            {"ident": "move", "takes": [{"ident": "dx"}, {"ident": "dy"}, {"ident": "speed", "maybe": True}],
             "gives": "boolean", "blurb": "Moves by dx, dy."},
            {"ident": "beep", "takes": [], "blurb": "Beeps."},
        ]
    }
}  # fmt: skip


def test_a_key_override_reads_a_description_whose_keys_the_reader_cannot_guess(tmp_path, capsys):
    from luacoder.apidocs import load_api
    from luacoder.cli import main

    doc = tmp_path / "robot.json"
    doc.write_text(json.dumps(ROBOT_API, indent=1), encoding="utf-8")
    with pytest.raises(ApiError, match="robot.json is neither LuaCoder's JSON nor .* a layout's `keys` names them"):
        read_docs([doc])  # no key it knows: read as LuaCoder's own JSON, which this is not
    layout = write(
        tmp_path / "robot.yaml",
        """
        name: robot
        keys:
          members: [procs]
          name: [ident]
          params: [takes]
          optional: [maybe]
          returns: [gives]
          description: [blurb]
        """,
    )
    assert main(["docs", str(doc), "--layout", str(layout), "-o", str(tmp_path / "api.json"), "-q"]) == 0
    api = load_api(tmp_path / "api.json")
    assert [(e.name, e.signature, [r.type for r in e.returns], e.description) for e in api] == [
        ("robot.move", "robot.move(dx, dy, [speed])", ["boolean"], "Moves by dx, dy."),
        ("robot.beep", "robot.beep()", [], "Beeps."),
    ]
    assert "files read: 1 (robot 1)" in capsys.readouterr().out


def test_rules_match_the_document_model():
    from luacoder.apidocs.model import Block

    heading = Block("heading", 1, text="x", level=4)
    directive = Block("directive", 2, text="f(x)", name="lua:function")
    assert Rule(heading=4).matches(heading) and not Rule(heading=3).matches(heading)
    assert Rule(directive="lua:*").matches(directive) and not Rule(directive="py:*").matches(directive)
    assert Rule(kind="directive", text=r"^f\(").matches(directive) and not Rule(kind="heading").matches(directive)


def test_the_shipped_layouts_are_examples_that_change_nothing():
    assert shipped_layout_names() == ["lua54", "luv", "solar2d"]
    for name in shipped_layout_names():
        layout = load_layout(name)
        assert layout.name == name and layout.description and layout.entries
    plain = read_docs([BUNDLED_DOCS]).api
    overridden = read_docs([BUNDLED_DOCS], layout="lua54").api
    assert [e.to_dict() for e in overridden] == [e.to_dict() for e in plain]


def test_the_layout_docstring_is_the_schema_reference():
    from luacoder.apidocs import layout as layout_module

    doc = layout_module.__doc__
    reference = doc[doc.index("    name: my_api") : doc.index("\nA rule matches")]
    yaml_text = "\n".join(line.split("#", 1)[0].rstrip() for line in textwrap.dedent(reference).splitlines())
    documented = parse_layout(yaml_text, "docstring")
    documented.path = ""
    assert documented == Layout(name="my_api")
    example = doc[doc.index("    name: mygame") : doc.index("\nThe shipped layouts")]
    assert parse_layout(textwrap.dedent(example), "example").entries == [Rule(heading=4)]
    example = doc[doc.index("    name: robots") : doc.index("\nRoles:")]
    keys = {"members": ["procs"], "name": ["ident"], "params": ["takes"]}
    assert parse_layout(textwrap.dedent(example), "example").keys == keys


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("name: x\nentires: []\n", r"bad.yaml:2: unknown key 'entires'; did you mean 'entries'"),
        ("name: x\nentries: [{headng: 2}]\n", r"bad.yaml:2: unknown key 'entries\[0\].headng'"),
        ("name: x\nentries: [{kind: para}]\n", r"'entries\[0\]': unknown kind 'para'; kinds are heading, paragraph"),
        ("name: x\nentries: [{heading: 9}]\n", r"'entries\[0\]': 'heading' must be a heading level from 1 to 6"),
        ("name: x\nignore: [{}]\n", r"'ignore\[0\]' sets no key"),
        ("name: x\ncontext: [{text: '('}]\n", r"'context\[0\]': 'text' is not a regular expression"),
        ("name: x\nentries: [{code: maybe}]\n", r"bad.yaml:2: 'entries\[0\].code' must be true or false"),
        ("name: [x\n", r"bad.yaml: not valid YAML"),
        ("", r"bad.yaml: empty layout"),
        ("name: x\nkeys:\n  parms: [inputs]\n", r"bad.yaml:3: 'keys.parms': no such role; did you mean 'params'"),
        ("name: x\nkeys: [params]\n", r"bad.yaml:2: 'keys' must be a mapping"),
        ("name: x\nkeys: {params: ['']}\n", r"bad.yaml: 'keys.params' names an empty key"),
    ],
)
def test_a_wrong_layout_yaml_is_an_error_naming_file_line_and_key(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(LayoutError, match=message):
        load_layout(path)
    write(tmp_path / "d" / "m.md", "# `m`\n\n## m.f()\n")
    with pytest.raises(ApiError, match=message):  # read_docs reports it the same way
        read_docs([tmp_path / "d"], layout=path)


def test_unknown_layout_names_and_files(tmp_path):
    with pytest.raises(LayoutError, match=r"no layout named 'sphinx'; shipped layouts are lua54, luv, solar2d"):
        load_layout("sphinx")
    with pytest.raises(LayoutError, match=r"nothere.yaml: no such layout file"):
        load_layout(tmp_path / "nothere.yaml")


# -- what is kept, what is listed ---------------------------------------------------------------------------------


def test_the_same_api_documented_twice_keeps_the_first_and_lists_the_second(tmp_path):
    first = write(tmp_path / "d" / "a.md", "# `m`\n\n## m.f(x)\n\nFirst.\n")
    second = write(tmp_path / "d" / "b.md", "# `m`\n\n## m.g()\n\nG.\n\n## m.f(x, y)\n\nSecond.\n")
    result = read_docs([tmp_path / "d"])
    assert [(e.name, e.description) for e in result.api] == [("m.f", "First."), ("m.g", "G.")]
    assert result.skipped == [Skipped(str(second), 7, "entry 'm.f'", "duplicate: m.f is documented at a.md:3")]
    assert str(first) in result.layouts


def test_json_docs_are_read_next_to_markdown(tmp_path):
    api_json = tmp_path / "extra.json"
    save_api(ApiSet("extra", [ApiEntry(name="m.h", kind="function", module="m", signature="m.h()")]), api_json)
    md = write(tmp_path / "d" / "a.md", "# `m`\n\n## m.f(x)\n\nF.\n")
    result = read_docs([md.parent, api_json])
    assert [e.name for e in result.api] == ["m.f", "m.h"]
    assert result.layouts == {str(md): "markdown", str(api_json): "json"} and result.files == 2


def test_a_folder_of_json_docs_without_other_docs_is_read_as_json(tmp_path):
    folder = tmp_path / "json"
    for name in ("a", "b"):
        entry = ApiEntry(name=f"m.{name}", kind="function", module="m", signature=f"m.{name}()")
        save_api(ApiSet(name, [entry]), folder / f"{name}.json")
    result = read_docs([folder])
    assert [e.name for e in result.api] == ["m.a", "m.b"]
    assert result.layouts == {str(folder / "a.json"): "json", str(folder / "b.json"): "json"} and result.files == 2


def test_a_named_unreadable_file_is_an_error_but_one_in_a_folder_is_a_skipped_row(tmp_path):
    good = write(tmp_path / "d" / "a.md", "# `m`\n\n## m.f()\n\nF.\n")
    bad = tmp_path / "d" / "b.md"
    bad.write_bytes(b"# `m`\n\n## m.g()\n\ncaf\xe9\n")
    with pytest.raises(ApiError, match=r"b.md: not valid UTF-8 \(invalid continuation byte at byte 20\)"):
        read_docs([bad])
    result = read_docs([good.parent])
    assert [e.name for e in result.api] == ["m.f"]
    assert result.skipped == [Skipped(str(bad), 0, "file", "not valid UTF-8 (invalid continuation byte at byte 20)")]
    assert result.files == 1 and list(result.layouts) == [str(good)]  # `files read` counts only files read


def test_missing_paths_and_empty_sets_are_errors(tmp_path):
    with pytest.raises(ApiError, match=r"nowhere: no such file or folder"):
        read_docs([tmp_path / "nowhere"])
    with pytest.raises(ApiError, match=r"no docs given"):
        read_docs([])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ApiError, match=r"empty: no documentation files in this folder"):
        read_docs([tmp_path / "empty"])


def test_read_docs_returns_its_documented_shape(tmp_path):
    md = write(tmp_path / "a.md", "# `m`\n\n## m.f()\n\nF.\n")
    result = read_docs([md])
    assert isinstance(result, DocsResult) and isinstance(result.api, ApiSet)
    assert result.api.name == "a" and result.files == 1 and result.skipped == []
    assert json.loads(json.dumps(result.api.to_dict()))["entries"][0]["source"] == {"file": "a.md", "line": 3}
