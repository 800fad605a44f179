"""eval/eval.py and the pieces it stands on: prompts, checkpoint discovery and fingerprints, the answer cache.

The end-to-end tests score "scripted" tiny checkpoints: StarCoder2 models whose weights are set so that greedy
decoding answers every prompt with one known text (an added token holding the whole answer, then `<|end|>`), so
each checkpoint's grades are known in advance and the report's numbers can be checked exactly.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import runpy
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from conftest import BUNDLED_DOCS, REPO

from luacoder.apidocs.json_docs import read_json_docs
from luacoder.apidocs.schema import ApiEntry, Param
from luacoder.checkpoints import saved_config
from luacoder.evaluation import checkpoints as checkpoints_module
from luacoder.evaluation.cache import AnswerCache
from luacoder.evaluation.checkpoints import CheckpointError, HashMemo, content_hash, find_checkpoints
from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.files import JsonlLog, RowError
from luacoder.grading import ApiIndex

EVAL_SCRIPT = REPO / "eval" / "eval.py"


@pytest.fixture(scope="module")
def small_index() -> ApiIndex:
    return ApiIndex(
        [
            ApiEntry("string.format", "function", "string", "", [Param("fmt"), Param("...", optional=True)]),
            ApiEntry("string.rep", "function", "string", "", [Param("s"), Param("n")], aliases=["s:rep"]),
            ApiEntry("io.open", "function", "io", "", [Param("path"), Param("mode", optional=True)]),
            ApiEntry("file:write", "method", "io", "", [Param("...", optional=True)]),
        ]
    )


# ---------------------------------------------------------------------------------------------------------------
# Prompts


def test_prompts_with_expected_apis_space_or_comma_separated(tmp_path, small_index):
    path = tmp_path / "prompts.csv"
    path.write_text(
        'prompt,expected_apis\n"Format, then repeat","string.format, s:rep"\n'
        '"Write\nlines",io.open file:write\nplain,\n'
    )
    prompts = read_eval_prompts(path, small_index)
    assert [(p.prompt, p.expected_apis) for p in prompts] == [
        ("Format, then repeat", ["string.format", "string.rep"]),
        ("Write\nlines", ["io.open", "file:write"]),
        ("plain", []),
    ]
    only_prompts = tmp_path / "only.csv"
    only_prompts.write_text("prompt\nhello\n")
    assert read_eval_prompts(only_prompts, small_index)[0].expected_apis == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("question\nhello\n", "no 'prompt' column; the columns are ['question']"),
        ("prompt,expected_apis\nok,string.format\nbad,string.trim\n", "prompt 2 (data row 2, after the header)"),
        ('prompt\n" "\n', "prompt 1 (data row 1, after the header): empty prompt"),
        ("prompt\n", "no prompts"),
    ],
)
def test_bad_prompt_files_name_the_file_and_the_row(tmp_path, small_index, content, message):
    path = tmp_path / "prompts.csv"
    path.write_text(content)
    with pytest.raises(RowError) as error:
        read_eval_prompts(path, small_index)
    assert str(path) in str(error.value) and message in str(error.value)
    if "string.trim" in content:
        assert "'string.trim' is not documented" in str(error.value)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints


def fake_checkpoint(folder: Path, weights: bytes = b"weights", state: bool = True, **extra: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "starcoder2"}')
    (folder / "model.safetensors").write_bytes(weights)
    if state:
        (folder / "trainer_state.json").write_text("{}")
    for name, data in extra.items():
        (folder / name.replace("_DOT_", ".")).write_bytes(data)
    return folder


def test_checkpoints_by_step_then_the_final_model(tmp_path):
    for step in (10, 2, 100):
        fake_checkpoint(tmp_path / f"checkpoint-{step}")
    fake_checkpoint(tmp_path / "checkpoint-200", state=False)
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "luacoder_meta.json").write_text('{"step": 200, "config": {"system_prompt": "Be brief."}}')
    refs = find_checkpoints(tmp_path)
    assert [(r.name, r.step) for r in refs] == [
        ("checkpoint-2", 2),
        ("checkpoint-10", 10),
        ("checkpoint-100", 100),
        ("checkpoint-200", 200),
        ("final", 200),
    ]
    assert [r.error is None for r in refs] == [True, True, True, False, True]
    assert "trainer_state.json" in refs[3].error
    assert saved_config(tmp_path) == {"system_prompt": "Be brief."}


@pytest.mark.parametrize("text", ['{"step": 3, "config": {"system_prompt": "Be b', "[1, 2]", '{"config": "x"}'])
def test_unreadable_metadata_is_an_error_not_a_checkpoint_without_its_system_prompt(tmp_path, text):
    fake_checkpoint(tmp_path / "checkpoint-3")
    (tmp_path / "checkpoint-3" / "luacoder_meta.json").write_text(text)
    with pytest.raises(CheckpointError, match="checkpoint-3/luacoder_meta.json: .*LuaCoder metadata"):
        saved_config(tmp_path / "checkpoint-3")
    assert saved_config(tmp_path / "nothing-saved-here") == {}  # not a LuaCoder model: no prompt


def test_in_a_luacoder_run_a_checkpoint_is_complete_once_its_metadata_is_written(tmp_path):
    for step in (1, 2, 3):
        fake_checkpoint(tmp_path / f"checkpoint-{step}", state=step != 3)
    for step in (1, 3):
        (tmp_path / f"checkpoint-{step}" / "luacoder_meta.json").write_text(json.dumps({"step": step}))
    refs = find_checkpoints(tmp_path)
    assert [r.error is None for r in refs] == [True, False, False]
    assert "luacoder_meta.json" in refs[1].error and "luacoder_meta.json" in refs[2].error


def test_a_single_model_folder_and_an_empty_folder(tmp_path):
    model = fake_checkpoint(tmp_path / "checkpoint-7", state=False)
    assert [(r.name, r.step, r.error) for r in find_checkpoints(model)] == [("checkpoint-7", 7, None)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint-N folders and no model"):
        find_checkpoints(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="no such folder"):
        find_checkpoints(tmp_path / "missing")


def test_content_hash_follows_what_generates_and_ignores_training_state(tmp_path, monkeypatch):
    a = fake_checkpoint(tmp_path / "a", optimizer_DOT_pt=b"adam", rng_state_DOT_pth=b"rng")
    b = fake_checkpoint(tmp_path / "b", optimizer_DOT_pt=b"other adam")
    (b / "luacoder_meta.json").write_text('{"step": 9}')
    c = fake_checkpoint(tmp_path / "c", weights=b"weightz")
    d = fake_checkpoint(tmp_path / "d", chat_template_DOT_jinja=b"{{ messages }}")
    # What a final model has and its last checkpoint lacks, or the other way round, changes nothing it generates.
    (b / "README.md").write_text("model card")
    (b / "zero_to_torch.py").write_text("# DeepSpeed's conversion script")
    assert content_hash(a) == content_hash(b)
    assert len({content_hash(a), content_hash(c), content_hash(d)}) == 3
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no weight files"):
        content_hash(tmp_path / "e")
    (c / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        content_hash(c)

    # Remembered by size and mtime: a second pass reads no file.
    read = []
    real = checkpoints_module.hash_file
    monkeypatch.setattr(checkpoints_module, "hash_file", lambda p: read.append(Path(p).name) or real(p))
    memo = HashMemo(tmp_path / "memo.json")
    first = content_hash(a, memo)
    memo.save()
    assert sorted(read) == ["config.json", "model.safetensors"]
    read.clear()
    assert content_hash(a, HashMemo(tmp_path / "memo.json")) == first and read == []
    (a / "model.safetensors").write_bytes(b"new weights")
    assert content_hash(a, HashMemo(tmp_path / "memo.json")) != first and read == ["model.safetensors"]


# ---------------------------------------------------------------------------------------------------------------
# The cache


def test_a_line_torn_by_a_kill_is_dropped_and_appending_goes_on(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    log.append([{"a": 1}, {"a": 2}])
    with open(log.path, "a") as handle:
        handle.write('{"a": 3, "b"')  # killed mid-line
    assert log.load() == [{"a": 1}, {"a": 2}]
    log.append([{"a": 4}])
    assert log.load() == [{"a": 1}, {"a": 2}, {"a": 4}]
    assert log.path.read_text().count("\n") == 3


def test_answer_cache_keeps_batches_and_their_timing(tmp_path):
    cache = AnswerCache(tmp_path, "key")
    cache.add_batch([3, 0], ["three", "zero"], [5, 7], 0.5)
    cache.add_batch([1], ["one"], [2], 0.25)
    again = AnswerCache(tmp_path, "key")
    assert {i: a.answer for i, a in again.answers.items()} == {3: "three", 0: "zero", 1: "one"}
    assert (again.generated_tokens, again.generation_seconds) == (14, 0.75)
    assert AnswerCache(tmp_path, "other").answers == {}


# ---------------------------------------------------------------------------------------------------------------
# eval.py end to end


ANSWERS = {
    # checkpoint step -> the one answer it gives
    1: "You could use a loop.",
    2: 'Like this:\n```lua\nlocal s = string.format("%d items", 3)\nprint(s:upper(), string.trim(s), s:rep())\n```',
    3: 'Like this:\n```lua\nlocal f = assert(io.open("out.txt", "w"))\nf:write(string.format("%d", 1))\n'
    'f:close()\nprint(("ab"):rep(2))\n```',
}
PROMPTS = [
    ("How do I format a number?", "string.format"),
    ("Write a number to a file.", "io.open, file:write string.format"),
    ("Repeat a string.", "string.rep"),
    ("Say hello.", ""),
    ("Open a file for writing and close it again.", "io.open file:close"),
]


def scripted_checkpoint(tokenizer, folder: Path, answer: str, step: int | None) -> Path:
    """A tiny StarCoder2 whose greedy answer to anything is `answer`: attention and MLP outputs are zero, so each
    position sees only its own token; every token but the answer token predicts the answer token, which predicts
    `<|end|>`."""
    import torch
    from tokenizers import AddedToken

    from luacoder.dialogue import END
    from luacoder.train.tiny_model import build_model, tiny_config

    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.add_tokens([AddedToken(answer, special=False, normalized=False)])
    answer_id, end_id = tokenizer.convert_tokens_to_ids(answer), tokenizer.convert_tokens_to_ids(END)
    model = build_model(tiny_config("starcoder2", tokenizer, tie_word_embeddings=False), tokenizer)
    with torch.no_grad():
        for layer in model.model.layers:
            for linear in (layer.self_attn.o_proj, layer.mlp.c_proj):
                linear.weight.zero_()
                linear.bias.zero_()
        other, mine = torch.zeros(model.config.hidden_size), torch.zeros(model.config.hidden_size)
        other[0], other[1], mine[2], mine[3] = 1.0, -1.0, 1.0, -1.0
        embeddings = model.get_input_embeddings().weight
        embeddings.copy_(other.expand_as(embeddings))
        embeddings[answer_id] = mine
        head = model.get_output_embeddings().weight
        head.zero_()
        head[answer_id], head[end_id] = other * 10, mine * 10
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if step is not None:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, tokenizer):
    """A training output_dir: three scripted checkpoints, a corrupt one, one still being written, the final model
    (checkpoint-3's weights); the bundled docs' api.json and five prompts; then eval.py run once from the command
    line, from the folder, with relative paths."""
    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.apidocs.schema import save_api

    root = tmp_path_factory.mktemp("eval")
    run = root / "run"
    for step, answer in ANSWERS.items():
        scripted_checkpoint(tokenizer, run / f"checkpoint-{step}", answer, step)
    corrupt = scripted_checkpoint(tokenizer, run / "checkpoint-4", ANSWERS[3], 4)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    scripted_checkpoint(tokenizer, run / "checkpoint-5", ANSWERS[3], None)  # no trainer_state.json yet
    for path in (run / "checkpoint-3").iterdir():
        if path.name != "trainer_state.json":
            shutil.copy(path, run / path.name)
    (run / "luacoder_meta.json").write_text(json.dumps({"stage": "chat", "step": 5, "config": {}}))
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), root / "api.json")
    pd.DataFrame(PROMPTS, columns=["prompt", "expected_apis"]).to_csv(root / "prompts.csv", index=False)
    (root / "config.yaml").write_text(
        "# python eval.py config.yaml\n"
        "base_folder: run\napi_path: api.json\ntest_data_path: prompts.csv\noutput_dir: out\n"
        "batch_size: 2\nmax_new_tokens: 8\ndevice: cpu\ndtype: float32\nexecute: true\nsamples_in_report: 2\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, str(EVAL_SCRIPT), "config.yaml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done


def run_in_process(root: Path, monkeypatch, *overrides: str) -> int:
    """eval.py in this process (no second import of torch); returns its exit status."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["eval.py", "config.yaml", *overrides])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(EVAL_SCRIPT), run_name="__main__")
    return exited.value.code


def eval_error(capsys) -> str:
    """What eval.py printed for a user's mistake: one `eval.py: error: ...` line."""
    err = capsys.readouterr().err
    assert err.startswith("eval.py: error: ") and err.count("\n") == 1, err
    return err


def read_outputs(out: Path) -> tuple[pd.DataFrame, list[dict]]:
    results = pd.read_csv(out / "results.csv")
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return results, samples


def counted(samples: list[dict], checkpoint: str, prompt_set: str = "prompts") -> dict[str, float]:
    """A row's numbers on one prompt set counted from its samples.jsonl rows, without luacoder.grading.scores."""
    rows = [s for s in samples if s["checkpoint"] == checkpoint and s["prompt_set"] == prompt_set]
    calls = [c for s in rows for c in s["grade"]["calls"]]
    matched = [c for c in calls if c["kind"] == "matched"]
    with_api = [s for s in rows if s["grade"]["calls"]]
    with_code = [s for s in rows if s["grade"]["has_code"]] or None
    expected = sum(len(s["expected_apis"]) for s in rows)
    found = sum(len(s["grade"]["expected_found"]) for s in rows)
    precision = len(matched) / len(calls) if calls else None
    recall = found / expected if expected else None
    return {
        "api_f1": None if precision is None or recall is None else 2 * precision * recall / (precision + recall),
        "answers": len(rows),
        "api_calls": len(calls),
        "matched": len(matched),
        "hallucinated": sum(c["kind"] == "hallucinated" for c in calls),
        "arity_errors": sum(c["arity_ok"] is False for c in calls),
        "api_match_accuracy": len(matched) / len(calls) if calls else None,
        # An undefined global counts as a hallucination (eval's default count_undefined_globals: true).
        "hallucination_rate": sum(
            any(c["kind"] == "hallucinated" for c in s["grade"]["calls"]) or bool(s["grade"]["undefined"])
            for s in rows
        )
        / len(rows),
        "undefined_global_rate": sum(bool(s["grade"]["undefined"]) for s in rows) / len(rows),
        "arity_error_rate": sum(c["arity_ok"] is False for c in matched) / len(matched) if matched else None,
        "no_api_rate": (len(rows) - len(with_api)) / len(rows),
        "expected_api_recall": found / expected if expected else None,
        "syntax_valid_rate": sum(s["grade"]["syntax_valid"] for s in with_code) / len(with_code)
        if with_code
        else None,
        "execution_rate": sum(bool(s["grade"]["ran_ok"]) for s in with_code) / len(with_code)
        if with_code and any(s["grade"]["executed"] for s in rows)
        else None,
        "generated_tokens": sum(s["new_tokens"] for s in rows),
    }


def assert_numbers_are_counted_from_the_samples(results: pd.DataFrame, samples: list[dict]) -> None:
    """Every number of results.csv's scored rows (one per checkpoint row and prompt set) equals the one `counted`
    gets again from samples.jsonl."""
    for row in results[results["status"] == "scored"].to_dict("records"):
        for key, value in counted(samples, row["checkpoint"], row["prompt_set"]).items():
            where = (row["checkpoint"], row["prompt_set"], key)
            if value is None:
                assert pd.isna(row[key]), where
            else:
                assert row[key] == pytest.approx(value, abs=1e-6), where


@pytest.mark.slow
def test_eval_writes_reports_whose_numbers_come_from_the_samples(eval_run):
    root, done = eval_run
    out = root / "out"
    results, samples = read_outputs(out)
    assert list(results["checkpoint"]) == [
        "checkpoint-1",
        "checkpoint-2",
        "checkpoint-3",
        "checkpoint-4",
        "checkpoint-5",
        "final",
    ]
    assert list(results["status"]) == ["scored", "scored", "scored", "error", "error", "scored"]
    errors = dict(zip(results["checkpoint"], results["error"].fillna(""), strict=True))
    assert "cannot load" in errors["checkpoint-4"] and "trainer_state.json" in errors["checkpoint-5"]
    assert len(samples) == 4 * len(PROMPTS)

    assert_numbers_are_counted_from_the_samples(results, samples)
    by_name = results.set_index("checkpoint")
    # The answers are known, so the numbers are too: checkpoint-2 calls string.format, print, s:upper, string.trim
    # (hallucinated) and s:rep() (arity error) in each of its 5 answers.
    assert by_name.loc["checkpoint-2", ["api_calls", "matched", "hallucinated", "arity_errors"]].tolist() == [
        25,
        20,
        5,
        5,
    ]
    assert by_name.loc["checkpoint-3", "api_match_accuracy"] == 1.0
    assert by_name.loc["checkpoint-3", "expected_api_recall"] == 1.0
    assert by_name.loc["checkpoint-3", "execution_rate"] == 1.0  # io.open works on the in-memory file system
    assert by_name.loc["checkpoint-2", "execution_rate"] == 0.0  # string.trim is nil
    assert pd.isna(by_name.loc["checkpoint-1", "api_match_accuracy"])  # n/a, not 0 and not a division error
    assert by_name.loc["checkpoint-1", "no_api_rate"] == 1.0
    assert (by_name["tokens_per_second"].dropna() > 0).all()

    # The final model is checkpoint-3's weights: served from the cache in the same run.
    assert by_name.loc["final", "generated_now"] == 0 and by_name.loc["final", "from_cache"] == len(PROMPTS)
    assert by_name.loc["checkpoint-3", "generated_now"] == len(PROMPTS)

    # The best: checkpoint-3 and final tie on everything; the earlier one wins.
    best = json.loads((out / "best.json").read_text())
    assert best["best"] == "checkpoint-3" and best["scores"]["api_match_accuracy"] == 1.0
    assert list(results["best"]) == [False, False, True, False, False, False]

    report = (out / "report.md").read_text()
    assert "| **best** | checkpoint-3 | 3 | 1.000 | 1.000 (35/35) |" in report
    f1 = counted(samples, "checkpoint-2")["api_f1"]
    assert 0 < f1 < 1 and f"| checkpoint-2 | 2 | {f1:.3f} | 0.800 (20/25) |" in report
    assert "| checkpoint-1 | 1 | n/a | n/a (0/0) |" in report
    assert "error: cannot load" in report and "Rule: highest API F1" in report
    assert "| `string.trim` | undocumented API | 5 | 0 | 1 |" in report
    assert "`coroutine.wrap`" in report  # never called correctly by the best
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best: checkpoint-3" in done.stdout and "error (below)" in done.stdout


@pytest.mark.slow
def test_a_rerun_is_served_from_the_cache(eval_run, monkeypatch):
    root, _ = eval_run
    before = (root / "out" / "samples.jsonl").read_text()

    def no_model(*args, **kwargs):
        raise AssertionError("a cached rerun loads no model")

    monkeypatch.setattr("luacoder.evaluation.backends.load_backend", no_model)
    assert run_in_process(root, monkeypatch) == 0
    results, _ = read_outputs(root / "out")
    scored = results[results["status"] == "scored"]
    assert (scored["generated_now"] == 0).all() and (scored["from_cache"] == len(PROMPTS)).all()
    assert (root / "out" / "samples.jsonl").read_text() == before


@pytest.mark.slow
def test_another_batch_size_is_served_from_the_cache(eval_run, monkeypatch):
    """batch_size changes how answers are computed, not what they are (each prompt has its own seed)."""
    root, _ = eval_run
    before = (root / "out" / "samples.jsonl").read_text()

    def no_model(*args, **kwargs):
        raise AssertionError("a cached rerun loads no model")

    monkeypatch.setattr("luacoder.evaluation.backends.load_backend", no_model)
    assert run_in_process(root, monkeypatch, "--batch_size=5") == 0
    results, _ = read_outputs(root / "out")
    assert (results[results["status"] == "scored"]["generated_now"] == 0).all()
    assert (root / "out" / "samples.jsonl").read_text() == before


def test_a_second_eval_on_the_same_output_dir_is_refused(eval_run):
    from luacoder.locks import hold_folder

    root, _ = eval_run
    hold_folder(root / "out", "eval")  # this process stands for an eval still running there
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    second = subprocess.run(
        [sys.executable, str(EVAL_SCRIPT), "config.yaml"], cwd=root, env=env, capture_output=True, text=True
    )
    assert second.returncode == 2
    assert f"in use by another eval run: pid {os.getpid()}" in second.stderr, second.stderr[-2000:]


@pytest.mark.slow
def test_a_killed_run_resumes_after_its_last_complete_batch(eval_run, monkeypatch):
    root, _ = eval_run
    before = (root / "out" / "samples.jsonl").read_text()
    cache = next(p for p in (root / "out" / "cache").glob("*/answers.jsonl") if "You could" in p.read_text())
    lines = cache.read_text().splitlines(keepends=True)
    assert len(lines) == 3  # five prompts in batches of two
    cache.write_text(lines[0] + lines[1][:20])  # killed while writing the second batch
    assert run_in_process(root, monkeypatch) == 0
    results, _ = read_outputs(root / "out")
    row = results.set_index("checkpoint").loc["checkpoint-1"]
    assert (row["generated_now"], row["from_cache"]) == (3, 2)
    assert (root / "out" / "samples.jsonl").read_text() == before


def test_config_and_input_errors_stop_before_any_model(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.yaml").write_text("base_folder: run\napi_path: api.json\ntest_data_path: p.csv\n")
    assert run_in_process(tmp_path, monkeypatch, "--output_dir=out", "--batch_sise=2") == 2
    assert "unknown key 'batch_sise' (from the command line); did you mean 'batch_size'?" in eval_error(capsys)
    if importlib.util.find_spec("vllm") is None:
        assert run_in_process(tmp_path, monkeypatch, "--output_dir=out", "--backend=vllm") == 2
        assert "backend 'vllm' needs the vllm package" in eval_error(capsys)
    assert run_in_process(tmp_path, monkeypatch) == 2
    assert "set output_dir" in eval_error(capsys)
    fake_checkpoint(tmp_path / "run")
    (tmp_path / "api.json").write_text(
        json.dumps({"name": "t", "entries": [{"name": "print", "kind": "function", "module": "_G"}]})
    )
    (tmp_path / "p.csv").write_text("question\nhi\n")
    assert run_in_process(tmp_path, monkeypatch, "--output_dir=out") == 2
    assert "p.csv: no 'prompt' column" in eval_error(capsys)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------
# Several prompt sets, the best by a named set, variants, entries.csv

# A second prompt set on which checkpoint-2 is the best: only it calls string.upper (as `s:upper`).
NATURAL = [
    ("Shout a word.", "string.upper"),
    ("Make a message loud.", "string.upper string.format"),
    ("Repeat a word and shout it.", "string.upper string.rep"),
    ("Replace the dots in a name.", "string.gsub"),
]


def write_natural(root: Path) -> Path:
    path = root / "natural.csv"
    pd.DataFrame(NATURAL, columns=["prompt", "expected_apis"]).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_several_prompt_sets_each_get_their_block_and_cache_and_the_best_is_ranked_on_the_named_set(
    eval_run, monkeypatch
):
    root, _ = eval_run
    write_natural(root)
    args = ["--output_dir=sets", "--test_data_path=prompts.csv,natural.csv", "--execute=false"]
    assert run_in_process(root, monkeypatch, *args, "--best_prompt_set=natural") == 0
    results, samples = read_outputs(root / "sets")
    scored = results[results["status"] == "scored"]
    assert sorted(set(zip(scored["checkpoint"], scored["prompt_set"], strict=True))) == sorted(
        (c, s) for c in ("checkpoint-1", "checkpoint-2", "checkpoint-3", "final") for s in ("natural", "prompts")
    )
    assert_numbers_are_counted_from_the_samples(results, samples)
    assert len(samples) == 4 * (len(PROMPTS) + len(NATURAL))
    # Each (checkpoint, set) has its own cache key; the final model shares checkpoint-3's in both sets.
    metas = [json.loads(p.read_text()) for p in (root / "sets" / "cache").glob("*/meta.json")]
    assert sorted((m["checkpoint"].split("/")[-1], m["prompt_set"]) for m in metas) == sorted(
        (c, s) for c in ("checkpoint-1", "checkpoint-2", "checkpoint-3") for s in ("natural", "prompts")
    )
    best = json.loads((root / "sets" / "best.json").read_text())
    assert (best["best"], best["prompt_set"]) == ("checkpoint-2", "natural")
    assert best["scores"]["expected_api_recall"] == counted(samples, "checkpoint-2", "natural")["expected_api_recall"]
    assert set(best["scores_by_set"]) == {"prompts", "natural"}
    report = (root / "sets" / "report.md").read_text()
    assert "## Prompt set `prompts`" in report and "## Prompt set `natural`" in report
    assert "ranked on `natural`" in report

    # Ranked on the template prompts instead (the default: the first set), checkpoint-3 is the best: all cached.
    assert run_in_process(root, monkeypatch, *args) == 0
    results, _ = read_outputs(root / "sets")
    assert json.loads((root / "sets" / "best.json").read_text())["best"] == "checkpoint-3"
    assert (results[results["status"] == "scored"]["generated_now"] == 0).all()


def outcome_from_sample(entry: str, module: str, grade: dict) -> str:
    """entries.csv's outcome of one expected entry, decided again from a samples.jsonl grade (eval/README.md)."""
    calls = [c for c in grade["calls"] if c["kind"] == "matched" and entry in c["entries"]]
    if any(c["arity_ok"] for c in calls):
        return "called_correctly"
    if calls:
        return "wrong_arity"
    hallucinated = [c for c in grade["calls"] if c["kind"] == "hallucinated"]
    if "." not in entry and ":" not in entry:
        instead = bool(grade["undefined"])
    else:
        instead = any(":" not in c["resolved"] and c["resolved"].split(".")[0] == module for c in hallucinated)
    return "hallucinated_instead" if instead else "never_used"


@pytest.mark.slow
def test_entries_csv_is_recounted_from_the_best_checkpoints_samples(eval_run, monkeypatch):
    from luacoder.apidocs.schema import load_api

    root, _ = eval_run
    write_natural(root)
    args = ["--output_dir=sets", "--test_data_path=prompts.csv,natural.csv", "--execute=false"]
    assert run_in_process(root, monkeypatch, *args, "--best_prompt_set=natural") == 0
    _, samples = read_outputs(root / "sets")
    entries = pd.read_csv(root / "sets" / "entries.csv")
    assert list(entries.columns) == [
        "entry",
        "expected",
        "called_correctly",
        "hallucinated_instead",
        "wrong_arity",
        "never_used",
    ]
    modules = {e.name: e.module for e in load_api(root / "api.json")}
    recounted: dict[str, Counter] = {}
    for sample in samples:
        if sample["checkpoint"] != "checkpoint-2":  # the best, on the natural set
            continue
        for entry in sample["expected_apis"]:
            outcome = outcome_from_sample(entry, modules[entry], sample["grade"])
            recounted.setdefault(entry, Counter()).update(["expected", outcome])
    table = entries.set_index("entry")
    for entry, counts in recounted.items():
        for column in entries.columns[1:]:
            assert table.loc[entry, column] == counts[column], (entry, column)
    assert (table.drop(index=list(recounted))[entries.columns[1:]] == 0).all().all()
    # checkpoint-2 answers with string.format, s:upper, string.trim (hallucinated) and s:rep() (arity error).
    assert table.loc["string.rep"].tolist() == [2, 0, 0, 2, 0]
    assert table.loc["string.upper"].tolist() == [3, 3, 0, 0, 0]
    assert table.loc["io.open"].tolist() == [2, 0, 0, 0, 2]  # no io call invented in its place
    assert table.loc["string.gsub"].tolist() == [1, 0, 1, 0, 0]  # string.trim, under string, in its place
    report = (root / "sets" / "report.md").read_text()
    assert "## Documented entries where the prompts expected them (best checkpoint)" in report


class FirstEntries:
    """A stand-in for luacoder.evaluation.retrieval.ApiRetriever (built by another branch): the k entries whose
    names come first, so what it retrieves is known."""

    def __init__(self, api):
        self.entries = sorted(api, key=lambda e: e.name)

    def search(self, question: str, k: int):
        return self.entries[:k]


def shown_first(question: str, entries) -> str:
    return "Documented: " + "; ".join(e.name for e in entries) + "\n\n" + question


class EndAtOnce:
    """A stand-in for luacoder.evaluation.constrained.ApiNameConstraint: its processor allows only `<|end|>`."""

    def __init__(self, tokenizer, api, *, report_type="markdown", base=None):
        from luacoder.dialogue import END

        self.end = tokenizer.convert_tokens_to_ids(END)

    def hf_processor(self, prompt_width=None):
        import torch

        def only_end(input_ids, scores):
            forced = torch.full_like(scores, -float("inf"))
            forced[:, self.end] = 0.0
            return forced

        return only_end


@pytest.fixture
def stand_in_options(monkeypatch):
    import types

    retrieval = types.ModuleType("luacoder.evaluation.retrieval")
    retrieval.ApiRetriever, retrieval.open_book_prompt = FirstEntries, shown_first

    def retrieval_recall(retriever, prompts, k):  # as the real one counts: expected entries among the top k
        found = [(len(set(p.expected_apis) & {e.name for e in retriever.search(p.prompt, k)}), len(p.expected_apis))
                 for p in prompts]  # fmt: skip
        expected = sum(n for _, n in found)
        return sum(f for f, _ in found) / expected if expected else None

    retrieval.retrieval_recall = retrieval_recall
    constrained = types.ModuleType("luacoder.evaluation.constrained")
    constrained.ApiNameConstraint = EndAtOnce
    constrained.VLLM_PROCESSOR = "luacoder.evaluation.constrained:VllmApiNameProcessor"
    constrained.vllm_extra_args = lambda path, base=None, report_type="markdown": {
        "luacoder_api_constraint": {"api": str(path), "base": base, "report_type": report_type}
    }
    monkeypatch.setitem(sys.modules, "luacoder.evaluation.retrieval", retrieval)
    monkeypatch.setitem(sys.modules, "luacoder.evaluation.constrained", constrained)


@pytest.mark.slow
def test_variant_rows_ask_the_best_checkpoint_open_book_constrained_and_both(eval_run, monkeypatch, stand_in_options):
    root, _ = eval_run
    args = [
        "--output_dir=variants",
        "--execute=false",
        "--retrieval={k: 2}",
        "--variants=open_book,constrained,open_book+constrained",
    ]
    assert run_in_process(root, monkeypatch, *args) == 0
    results, samples = read_outputs(root / "variants")
    assert list(results["checkpoint"]) == [
        "checkpoint-1",
        "checkpoint-2",
        "checkpoint-3",
        "checkpoint-3 + open-book",
        "checkpoint-3 + constrained",
        "checkpoint-3 + open-book + constrained",
        "checkpoint-4",
        "checkpoint-5",
        "final",
    ]
    assert list(results["variant"])[3:6] == ["open-book", "constrained", "open-book + constrained"]
    assert_numbers_are_counted_from_the_samples(results, samples)
    by_row = {}
    for s in samples:
        by_row.setdefault(s["checkpoint"], []).append(s)
    first_two = sorted(e.name for e in read_json_docs(root / "api.json"))[:2]
    # Open book: the two retrieved entries before the question; the scripted model answers as it does closed-book.
    for s in by_row["checkpoint-3 + open-book"]:
        assert s["asked"] == f"Documented: {'; '.join(first_two)}\n\n{s['prompt']}"
    assert [s["answer"] for s in by_row["checkpoint-3 + open-book"]] == [ANSWERS[3]] * len(PROMPTS)
    # Constrained: the constraint's processor decides every token (here: end at once).
    assert [s["answer"] for s in by_row["checkpoint-3 + constrained"]] == [""] * len(PROMPTS)
    assert [s["answer"] for s in by_row["checkpoint-3 + open-book + constrained"]] == [""] * len(PROMPTS)
    best = json.loads((root / "variants" / "best.json").read_text())
    assert best["best"] == "checkpoint-3"  # a variant row is never the checkpoint to ship
    metas = [json.loads(p.read_text())["settings"] for p in (root / "variants" / "cache").glob("*/meta.json")]
    assert sorted((m.get("retrieval_k", 0), m.get("constrained", False)) for m in metas) == sorted(
        [(0, False)] * 3 + [(2, False), (0, True), (2, True)]
    )
    # The retriever's recall of the expected entries, counted here from what it returns.
    expected = [set(apis.replace(",", " ").split()) for _, apis in PROMPTS if apis]
    found = {k: sum(len(e & set(sorted(n.name for n in read_json_docs(root / "api.json"))[:k])) for e in expected)
             for k in (2, 5)}  # fmt: skip
    report = (root / "variants" / "report.md").read_text()
    total = sum(len(e) for e in expected)
    for k in (2, 5):
        assert f"| `prompts` | {k} | {len(expected)} | {found[k] / total:.3f} ({found[k]}/{total}) |" in report
    assert "**checkpoint-3 + constrained**" in report  # the answers side by side

    # The last checkpoint instead (the final model): served from checkpoint-3's cache, the same weights.
    args[-1] = "--variants=constrained"
    assert run_in_process(root, monkeypatch, *args, "--variants_for=last") == 0
    results, _ = read_outputs(root / "variants")
    row = results.set_index("checkpoint").loc["final + constrained"]
    assert (row["status"], row["generated_now"], row["from_cache"]) == ("scored", 0, len(PROMPTS))
