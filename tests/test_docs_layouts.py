"""The layout-driven docs reader on small docs written for each rule: layouts, YAML checks, detection, errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

from luacoder.apidocs import ApiEntry, ApiError, ApiSet, DocsResult, Skipped, read_docs, save_api
from luacoder.apidocs.layout import LayoutError, load_layout, parse_layout, shipped_layout_names


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


LUV_STYLE = """
    # A binding

    Intro text.

    ### Not an entry

    - `AF_INET`: "inet"

    ## `uv_tcp_t` - TCP handle

    ### `uv.tcp_bind(tcp, host, port, [flags])`

    > method form `tcp:bind(host, port, [flags])`

    **Parameters:**
    - `tcp`: `uv_tcp_t userdata`
    - `host`: `string`
    - `port`: `integer`
    - `flags`: `table` or `nil`
      - `ipv6only`: `boolean`

    Bind the handle.

    **Returns:** `0` or `fail`

    ### `uv.fs_close(fd, [callback])`

    **Parameters:**
    - `fd`: `integer`
    - `callback`: `callable` or `nil` (async if provided)
      - `err`: `nil` or `string`

    Equivalent to `close(2)`.

    **Returns (sync version):** `boolean` or `fail`

    **Returns (async version):** `uv_fs_t userdata`

    ```lua
    uv.fs_close(fd)
    ```

    **Note**: be careful.

    ### `uv.spawn(path, options)`

    **Returns:** `uv_process_t userdata` or `nil`, `integer` or `string`

    ## Reference counting

    ```lua
    print("not an example of any entry")
    ```
"""

SOLAR_FUNCTION = """
    # object:setFillColor()

    > --------------------- ----------------------------------
    > __Type__              [Function][api.type.Function]
    > __Object__            [ShapeObject][api.type.ShapeObject]
    > __Library__           [display.*][api.library.display]
    > __Return value__      none
    > __See also__          [object:setStrokeColor()][api.type.ShapeObject.setStrokeColor]
    > --------------------- ----------------------------------

    ## Overview

    Sets the fill color, see [display.newRect()][api.library.display.newRect].

    ## Syntax

    \tobject:setFillColor( gray )
    \tobject:setFillColor( red, green, blue [, alpha] )

    ##### gray, red, green, blue ~^(required)^~
    _[Number][api.type.Number]._ A channel.

    ##### alpha ~^(optional)^~
    _[Number][api.type.Number]_ or _[Table][api.type.Table]._ Opacity.

    ## Parameter Reference

    ##### notAParameter ~^(optional)^~
    _[Number][api.type.Number]._ An option field.

    ## Examples

    ##### Vector

    ``````lua
    local rect = display.newRect( 0, 0, 10, 10 )
    rect:setFillColor( 1, 0.2, 0.2 )
    ``````

    ``````lualocal broken = 1
    ``````
"""


# -- luv-style: bold labels, method-form quotes --------------------------------------------------------------------


def test_luv_layout_reads_labels_aliases_and_first_returns(tmp_path):
    path = write(tmp_path / "docs.md", LUV_STYLE)
    result = read_docs([path], layout="luv")
    api = result.api
    assert [e.name for e in api] == ["uv.tcp_bind", "uv.fs_close", "uv.spawn"]
    bind = api.get("uv.tcp_bind")
    assert (bind.kind, bind.module, bind.signature) == ("function", "uv", "uv.tcp_bind(tcp, host, port, [flags])")
    assert [(p.name, p.type, p.optional) for p in bind.params] == [
        ("tcp", "uv_tcp_t userdata", False),
        ("host", "string", False),
        ("port", "integer", False),
        ("flags", "table|nil", True),  # nested `ipv6only` is a table field, not a parameter
    ]
    assert bind.aliases == ["tcp:bind"]
    assert [(r.type, r.name) for r in bind.returns] == [("0|fail", "")]
    assert bind.description == "Bind the handle."
    assert (bind.source.file, bind.source.line) == ("docs.md", 11)

    close = api.get("uv.fs_close")
    assert [(p.name, p.type, p.optional, p.description) for p in close.params] == [
        ("fd", "integer", False, ""),
        ("callback", "callable|nil", True, "(async if provided)"),
    ]
    # The first Returns label gives the return values; the async one stays in the description.
    assert [r.type for r in close.returns] == ["boolean|fail"]
    assert close.description == (
        "Equivalent to `close(2)`.\n\n**Returns (async version):** `uv_fs_t userdata`\n\n**Note**: be careful."
    )
    assert close.examples == ["uv.fs_close(fd)\n"]  # examples: anywhere

    spawn = api.get("uv.spawn")
    assert [p.name for p in spawn.params] == ["path", "options"]  # no list: the signature's
    assert [r.type for r in spawn.returns] == ["uv_process_t userdata|nil", "integer|string"]
    assert result.skipped == []
    assert result.layouts == {str(path): "luv"}


def test_luv_layout_skips_an_entry_whose_list_contradicts_its_signature(tmp_path):
    path = write(
        tmp_path / "docs.md",
        """
        ### `uv.good(a)`

        **Parameters:**
        - `a`: `integer`

        ### `uv.bad(a, b)`

        **Parameters:**
        - `a`: `integer`
        - `c`: `string`
        """,
    )
    result = read_docs([path], layout="luv")
    assert [e.name for e in result.api] == ["uv.good"]
    assert result.skipped == [
        Skipped(
            str(path),
            6,
            "entry 'uv.bad(a, b)'",
            "the Parameters list ['a', 'c'] does not match the signature ['a', 'b']",
        )
    ]


# -- Solar2D-style: metadata rows, pandoc marks, object types -------------------------------------------------------


def solar_tree(tmp_path: Path) -> Path:
    root = tmp_path / "api"
    write(root / "type" / "ShapeObject" / "setFillColor.markdown", SOLAR_FUNCTION)
    write(
        root / "type" / "ButtonWidget" / "setLabel.markdown",
        """
        # object:setLabel()

        > __Type__              [Function][api.type.Function]
        > __Library__           [widget.*][api.library.widget]
        > __Return value__      [Boolean][api.type.Boolean]

        ## Syntax

        \tobject:setLabel( label )

        ##### label ~^(required)^~
        _[String][api.type.String]._ The new label.
        """,
    )
    write(
        root / "library" / "package" / "require.markdown",
        """
        # requir<span style="display: none;">X</span>e()

        > __Type__              [Function][api.type.Function]
        > __Library__           [(globals)][api.library.global]

        ## Syntax

        \tlocal name = require( "moduleName" )

        ##### moduleName ~^(required)^~
        _[String][api.type.String]._ The module.
        """,
    )
    write(
        root / "library" / "display" / "contentWidth.markdown",
        """
        # display.contentWidth

        > __Type__              [Number][api.type.Number]
        > __Library__           [display.*][api.library.display]
        """,
    )
    write(root / "index.markdown", "Just a list of links.\n")
    return root


def test_solar2d_layout_reads_rows_marks_and_object_types(tmp_path):
    root = solar_tree(tmp_path)
    result = read_docs([root], layout="solar2d")
    api = result.api
    assert sorted(e.name for e in api) == ["ButtonWidget:setLabel", "ShapeObject:setFillColor", "require"]

    fill = api.get("ShapeObject:setFillColor")
    assert (fill.kind, fill.module) == ("method", "display")  # type from the __Object__ row
    assert fill.signature == "ShapeObject:setFillColor( gray )\nShapeObject:setFillColor( red, green, blue [, alpha] )"
    # Each signature line is one call form, typed by the parameter headings; `[ ]` says what is optional.
    assert [[(p.name, p.type, p.optional) for p in form.params] for form in fill.forms] == [
        [("gray", "Number", False)],
        [("red", "Number", False), ("green", "Number", False), ("blue", "Number", False)]
        + [("alpha", "Number|Table", True)],  # `notAParameter` is under Parameter Reference, not Syntax
    ]
    assert fill.params == fill.forms[0].params and fill.arities() == [(1, 1), (3, 4)]
    assert fill.forms[1].params[3].description == "Opacity."
    assert fill.returns == []  # __Return value__ none
    assert fill.description == "Sets the fill color, see display.newRect()."  # reference links keep their text
    assert fill.examples == ["local rect = display.newRect( 0, 0, 10, 10 )\nrect:setFillColor( 1, 0.2, 0.2 )\n"]
    assert fill.source.file == "type/ShapeObject/setFillColor.markdown" and fill.source.line == 1

    label = api.get("ButtonWidget:setLabel")  # no __Object__ row: the folder names the type
    assert (label.module, [r.type for r in label.returns]) == ("widget", ["Boolean"])

    require = api.get("require")  # hidden inline HTML is not part of the name
    assert (require.module, [p.name for p in require.params]) == ("_G", ["moduleName"])

    rows = {(Path(s.file).name, s.what, s.reason) for s in result.skipped}
    assert rows == {
        (
            "contentWidth.markdown",
            "entry 'display.contentWidth'",
            "its __Type__ is Number; this layout reads only Function",
        ),
        ("index.markdown", "file", "no entry: the file has no level-1 heading (layout solar2d)"),
        (
            "setFillColor.markdown",
            "example",
            "the fence's info string 'lualocal broken = 1' is not a language name (code written on the fence"
            " line?); the example is left out",
        ),
    }
    # Every file is one entry or one skipped row; the broken example is extra.
    assert result.files == 5 == len(api) + sum(s.what != "example" for s in result.skipped)


def test_a_method_without_any_object_type_is_skipped_not_guessed(tmp_path):
    shipped = (REPO / "luacoder" / "apidocs" / "layouts" / "solar2d.yaml").read_text()
    assert 'object_type: ["meta:Object", folder]' in shipped
    layout = write(
        tmp_path / "no_folder.yaml",
        shipped.replace('object_type: ["meta:Object", folder]', 'object_type: ["meta:Object"]'),
    )
    function_row = "\n\n> __Type__ [Function][api.type.Function]\n"
    spin = write(tmp_path / "api" / "type" / "Thing" / "spin.markdown", "# object:spin()" + function_row)
    write(tmp_path / "api" / "library" / "m" / "f.markdown", "# m.f()" + function_row)
    result = read_docs([tmp_path / "api"], layout=layout)
    assert [e.name for e in result.api] == ["m.f"]
    assert result.skipped == [
        Skipped(
            str(spin),
            1,
            "entry 'object:spin()'",
            "object:spin is a method, but its object type is not given (meta:Object)",
        )
    ]
    # The shipped layout falls back to the folder the page is in.
    assert [e.name for e in read_docs([tmp_path / "api"], layout="solar2d").api] == ["m.f", "Thing:spin"]


# -- a user's own convention, described in YAML only ----------------------------------------------------------------

USER_LAYOUT = """
name: mygame
description: one file per class, #### entries
files: ["*.txt.md"]
module:
  heading: 2
  heading_code: false
  sources: [heading]
entry:
  heading: 4
  code_heading: true
sections:
  heading: 5
  titles:
    "arg*": params
    result: returns
    sample: examples
  before: description
params:
  must_match_signature: true
examples:
  languages: [lua, luau]
"""

USER_DOC = """
## Player

#### `Player.jump(height [, boost])`

Makes the player jump.

##### Arguments

- `height` (`number`): how high.
- `boost` (`boolean`, optional): faster.

##### Result

- `ok` (`boolean`): whether it jumped.

##### Sample

```luau
Player.jump(3)
```

#### `Player.name`

The name.
"""


def test_a_user_layout_in_yaml_reads_a_new_convention(tmp_path):
    layout = write(tmp_path / "mygame.yaml", USER_LAYOUT)
    docs = write(tmp_path / "docs" / "player.txt.md", USER_DOC)
    write(tmp_path / "docs" / "notes.md", "## not read: the layout reads *.txt.md only\n")
    result = read_docs([tmp_path / "docs"], layout=layout)
    assert result.layouts == {str(docs): "mygame"} and result.files == 1
    jump, name = result.api.entries
    assert (jump.name, jump.kind, jump.module) == ("Player.jump", "function", "Player")
    assert [(p.name, p.type, p.optional, p.description) for p in jump.params] == [
        ("height", "number", False, "how high."),
        ("boost", "boolean", True, "faster."),
    ]
    assert [(r.name, r.type) for r in jump.returns] == [("ok", "boolean")]
    assert jump.examples == ["Player.jump(3)\n"] and jump.description == "Makes the player jump."
    assert (name.name, name.kind) == ("Player.name", "field")


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("name: x\nentry:\n  headng: 2\n", r"bad.yaml:3: unknown key 'entry.headng'; did you mean 'heading'\?"),
        ("name: x\nentry:\n  heading: two\n", r"bad.yaml:3: 'entry.heading' must be a whole number, got 'two'"),
        (
            "name: x\nparams:\n  marks: latex\n",
            r"bad.yaml:3: 'params.marks' is 'latex', expected one of paren, pandoc",
        ),
        ("name: x\nsections:\n  heading: 3\n  titles: {args: parameters}\n", r"unknown role 'parameters'"),
        ("name: x\nentry:\n  code_heading: maybe\n", r"bad.yaml:3: 'entry.code_heading' must be true or false"),
        ("entry:\n  heading: 2\n", r"bad.yaml:1: missing key\(s\) name"),
        ("name: x\nreturns:\n  meta_row: Return value\n", r"bad.yaml: metadata rows are used .* but 'meta' is none"),
        ("name: x\nmodule: [1, 2]\n", r"bad.yaml:2: module must be a mapping"),
        (
            "name: x\nentry: {heading: 2, kinds: {Function: procedure}, kind_row: Type}\nmeta: blockquote_rows\n",
            r"'entry.kinds.Function' is 'procedure', expected one of function, method, field, event",
        ),
        ("name: [x\n", r"bad.yaml: not valid YAML"),
        ("", r"bad.yaml: empty layout"),
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


def test_shipped_layouts_are_documented_and_valid():
    assert shipped_layout_names() == ["lua54", "luv", "solar2d"]
    for name in shipped_layout_names():
        layout = load_layout(name)
        assert layout.name == name and layout.description
    # The layout module's docstring is the schema's reference: every key it lists parses to its default.
    from luacoder.apidocs import layout as layout_module

    doc = layout_module.__doc__
    reference = doc[doc.index("    name: my_api") : doc.index("\nHow the reader applies them")]
    yaml_text = "\n".join(line.split("#", 1)[0].rstrip() for line in textwrap.dedent(reference).splitlines())
    documented = parse_layout(yaml_text, "docstring")
    defaults = parse_layout("name: my_api\n", "defaults")
    documented.path = defaults.path = ""
    assert documented == defaults


# -- auto-detection ---------------------------------------------------------------------------------------------


def test_each_path_gets_the_layout_that_finds_the_most_entries(tmp_path, caplog):
    luv = write(tmp_path / "luv" / "docs.md", LUV_STYLE)
    solar = solar_tree(tmp_path)
    lua54 = write(tmp_path / "std" / "m.md", "# `m`: a module\n\n## m.f(x)\n\nDoes f.\n")
    with caplog.at_level("INFO", logger="luacoder.apidocs.docs"):
        result = read_docs([luv, solar, lua54.parent], name="mixed")
    assert result.api.name == "mixed"
    assert len(result.api) == 3 + 3 + 1
    assert set(result.layouts.values()) == {"luv", "solar2d", "lua54"}
    assert result.layouts[str(luv)] == "luv" and result.layouts[str(lua54)] == "lua54"
    assert [(d.layout, d.scores) for d in result.detections] == [
        # The generic reader finds as many; a layout written for the convention wins then.
        ("luv", {"lua54": 0, "luv": 3, "solar2d": 0, "generic": 3}),
        ("solar2d", {"lua54": 0, "luv": 0, "solar2d": 3, "generic": 3}),
        ("lua54", {"lua54": 1, "luv": 0, "solar2d": 0, "generic": 1}),
    ]
    assert f"{luv}: layout luv, picked by entries found in 1 file(s): luv 3" in caplog.text


def test_a_given_layout_wins_over_detection(tmp_path):
    path = write(tmp_path / "docs.md", LUV_STYLE)
    with pytest.raises(ApiError, match=r"no API entries found in .*docs.md: 1 file\(s\) read, \d+ skipped\n.*module"):
        read_docs([path], layout="lua54")


def test_a_folder_no_layout_understands_is_an_error(tmp_path):
    write(tmp_path / "notes" / "a.md", "# Notes\n\nNothing documented.\n")
    with pytest.raises(
        ApiError, match=r"notes: no shipped layout finds an API entry here, nor does the generic reader .* --layout"
    ):
        read_docs([tmp_path / "notes"])


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
    assert result.layouts == {str(md): "lua54", str(api_json): "json"} and result.files == 2


def test_a_folder_of_json_docs_without_markdown_is_read_as_json(tmp_path):
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
        read_docs([bad], layout="lua54")
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
    with pytest.raises(
        ApiError, match=r"empty: no documentation files in this folder \(looked for \*\.markdown, \*\.md, \*\.json\)"
    ):
        read_docs([tmp_path / "empty"])


def test_read_docs_returns_its_documented_shape(tmp_path):
    md = write(tmp_path / "a.md", "# `m`\n\n## m.f()\n\nF.\n")
    result = read_docs([md])
    assert isinstance(result, DocsResult) and isinstance(result.api, ApiSet)
    assert result.api.name == "a" and result.files == 1 and result.skipped == []
    assert json.loads(json.dumps(result.api.to_dict()))["entries"][0]["source"] == {"file": "a.md", "line": 3}
