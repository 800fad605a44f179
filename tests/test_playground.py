"""The playground notebooks (eval/eval_chat.ipynb, eval/eval_code.ipynb) and the library under them: the checkpoint
picked (or the best of an eval run), each call of the answer marked with its verdict and documented signature, the
code run in the sandbox."""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import BUNDLED_DOCS, REPO
from nbformat.v4 import new_code_cell

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.grading.answer import grade_answer
from luacoder.grading.api_index import ApiIndex

CHAT_ANSWER = (
    'Like this:\n```lua\nlocal s = string.format("%d items", 3)\nprint(s:upper(), string.trim(s), s:rep())\n```'
)
CODE_PREFIX = "-- Print pi with two decimals.\nlocal text = "
CODE_ANSWER = 'string.format("%.2f", math.pi)\nprint(text, string.trim(text), text:rep())\n'


@pytest.fixture(scope="module")
def index():
    return ApiIndex(read_markdown_docs([BUNDLED_DOCS], name="lua54"))


def _verdicts(rows):
    return [(row["call"], row["verdict"]) for row in rows]


def test_each_call_is_marked_matched_hallucinated_or_wrong_arity_with_its_signature(index):
    from luacoder.evaluation.playground import call_table

    rows = call_table(grade_answer(CHAT_ANSWER, index), index)
    assert _verdicts(rows) == [
        ("string.format", "matched"),
        ("print", "matched"),
        ("s:upper", "matched"),
        ("string.trim", "hallucinated"),
        ("s:rep", "wrong arity"),
    ]
    by_call = {row["call"]: row for row in rows}
    assert by_call["string.format"]["signature"] == index.entries["string.format"].signature
    assert by_call["s:rep"]["documented as"] == "string.rep" and by_call["s:rep"]["args documented"] == "1-2"
    assert by_call["s:rep"]["signature"] == index.entries["string.rep"].signature
    assert by_call["string.trim"]["signature"] == "" and "documents no 'string.trim'" in by_call["string.trim"]["why"]

    code_rows = call_table(grade_answer(CODE_ANSWER, index, report_type="code", prompt=CODE_PREFIX), index)
    assert _verdicts(code_rows) == [
        ("string.format", "matched"),
        ("print", "matched"),
        ("string.trim", "hallucinated"),
        ("text:rep", "wrong arity"),
    ]
    assert all(row["line"] == (2 if row["call"] == "string.format" else 3) for row in code_rows)


def test_the_checkpoint_is_the_one_given_or_the_best_of_an_eval_run(tmp_path):
    from luacoder.evaluation.playground import pick_checkpoint

    model = tmp_path / "run" / "checkpoint-2"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    assert pick_checkpoint(model) == model
    with pytest.raises(FileNotFoundError, match="no config.json"):
        pick_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="either a checkpoint folder or an eval output folder"):
        pick_checkpoint(model, tmp_path)
    with pytest.raises(FileNotFoundError, match="best.json: no such file; run eval/eval.py"):
        pick_checkpoint(eval_output=tmp_path)
    (tmp_path / "best.json").write_text(json.dumps({"best": "checkpoint-2", "path": str(model), "step": 2}))
    assert pick_checkpoint(eval_output=tmp_path) == model
    (tmp_path / "best.json").write_text(json.dumps({"best": None, "why": "no checkpoint could be scored"}))
    with pytest.raises(ValueError, match="no checkpoint could be scored"):
        pick_checkpoint(eval_output=tmp_path)


def _execute(name: str, parameters: str) -> nbformat.NotebookNode:
    """The notebook run top to bottom from eval/, with `parameters` injected after its parameters cell (as
    papermill does), on a copy: the committed file stays without outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "eval" / name, as_version=4)
    (at,) = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    nb.cells.insert(at + 1, new_code_cell(parameters))
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO / "eval")}}
    ).execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    return nb


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/markdown", ""), data.get("text/html", "")]
    return "\n".join(parts)


@pytest.mark.slow
def test_the_playground_notebooks_answer_grade_and_run_a_checkpoint(tmp_path, tokenizer, index):
    from test_eval import scripted_checkpoint

    from luacoder.apidocs.schema import save_api

    api = tmp_path / "api.json"
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), api)

    # Chat: the best checkpoint of an eval run, from its best.json.
    chat = scripted_checkpoint(tokenizer, tmp_path / "chat" / "checkpoint-2", CHAT_ANSWER, 2)
    evaluated = tmp_path / "eval"
    evaluated.mkdir()
    (evaluated / "best.json").write_text(json.dumps({"best": "checkpoint-2", "path": str(chat), "step": 2}))
    nb = _execute(
        "eval_chat.ipynb",
        f"EVAL_OUTPUT = {str(evaluated)!r}\nAPI_PATH = {str(api)!r}\nPROMPT = 'Count items.'\nDEVICE = 'cpu'\n"
        "EXPECTED_APIS = ['string.format', 'io.write']",
    )
    text = _text(nb)
    assert CHAT_ANSWER in text  # the answer, shown as Markdown
    assert "API calls: 5  matched: 3  hallucinated: 1  wrong arity: 1" in text
    assert "expected APIs called: ['string.format'] of ['string.format', 'io.write']" in text
    for call, verdict in [("string.trim", "hallucinated"), ("s:rep", "wrong arity"), ("s:upper", "matched")]:
        assert f"<td>{call}</td>\n      <td>{verdict}</td>" in text
    assert f"<td>{index.entries['string.rep'].signature}</td>" in text
    assert "stopped: error: input:2: attempt to call a nil value (field 'trim')" in text

    # Code: a checkpoint folder given, a Lua prefix completed; the program runs in the sandbox.
    code = scripted_checkpoint(tokenizer, tmp_path / "code", CODE_ANSWER, None)
    nb = _execute(
        "eval_code.ipynb",
        f"CHECKPOINT = {str(code)!r}\nAPI_PATH = {str(api)!r}\nPREFIX = {CODE_PREFIX!r}\nDEVICE = 'cpu'",
    )
    text = _text(nb)
    assert CODE_PREFIX + CODE_ANSWER in text
    assert "API calls: 4  matched: 2  hallucinated: 1  wrong arity: 1" in text
    assert "<td>text:rep</td>\n      <td>wrong arity</td>" in text
    assert "stopped: error: input:3: attempt to call a nil value (field 'trim')" in text
