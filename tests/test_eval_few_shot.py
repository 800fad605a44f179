"""eval.py's prompted baseline (few_shot_path): its own row, its prompts carrying the examples, its own cache."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import BUNDLED_DOCS
from test_eval import ANSWERS, PROMPTS, eval_error, read_outputs, run_in_process, scripted_checkpoint

from luacoder.evaluation.few_shot import read_few_shot
from luacoder.files import RowError

EXAMPLE = {
    "messages": [
        {"role": "system", "content": "ignored: the eval's system prompt stays the one"},
        {"role": "user", "content": "Upper-case a string."},
        {"role": "assistant", "content": "```lua\nprint(string.upper('few shot marker'))\n```"},
    ]
}


def test_few_shot_rows_keep_their_turns_and_bad_rows_name_their_line(tmp_path):
    path = tmp_path / "few.jsonl"
    path.write_text(json.dumps(EXAMPLE) + "\n" + json.dumps({"prompt": "Hi.", "completion": "print('hi')"}) + "\n")
    assert [m["role"] for m in read_few_shot(path)] == ["user", "assistant", "user", "assistant"]
    path.write_text(json.dumps(EXAMPLE) + "\n" + json.dumps({"messages": [{"role": "user", "content": "x"}]}) + "\n")
    with pytest.raises(RowError, match=r"few.jsonl: row 2: a conversation needs a user turn and an assistant"):
        read_few_shot(path)


@pytest.mark.slow
def test_the_prompted_baseline_is_its_own_row_with_the_examples_in_its_prompts(tmp_path, tokenizer, monkeypatch):
    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.apidocs.schema import save_api
    from luacoder.evaluation import backends

    scripted_checkpoint(tokenizer, tmp_path / "base", ANSWERS[3], None)
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), tmp_path / "api.json")
    pd.DataFrame(PROMPTS, columns=["prompt", "expected_apis"]).to_csv(tmp_path / "prompts.csv", index=False)
    (tmp_path / "few.jsonl").write_text(json.dumps(EXAMPLE) + "\n")
    (tmp_path / "config.yaml").write_text(
        "base_folder: base\napi_path: api.json\ntest_data_path: prompts.csv\noutput_dir: out\n"
        "few_shot_path: few.jsonl\nbatch_size: 2\nmax_new_tokens: 8\ndevice: cpu\ndtype: float32\n"
    )
    texts: list[str] = []  # what the backend was asked to continue
    loads = []
    real_load = backends.load_backend

    def spy(*args, **kwargs):
        backend = real_load(*args, **kwargs)
        loads.append(args)
        real_complete = backend.complete

        def complete(batch, *rest):
            texts.extend(batch)
            return real_complete(batch, *rest)

        backend.complete = complete
        return backend

    monkeypatch.setattr("luacoder.evaluation.backends.load_backend", spy)
    assert run_in_process(tmp_path, monkeypatch) == 0
    results, samples = read_outputs(tmp_path / "out")
    assert list(results["checkpoint"]) == ["base", "base + few-shot"]
    assert list(results["status"]) == ["scored", "scored"]
    # The model is loaded once for both rows (the engine asked two ways). Every prompt of the prompted row holds
    # the example exchange, before the question; the plain row's (and the warm-up's) do not.
    assert len(loads) == 1
    prompted = [t for t in texts if "Upper-case a string." in t]
    plain = [t for t in texts if t not in prompted]
    assert len(prompted) == len(PROMPTS) and len(plain) == len(PROMPTS) + 1
    for text in prompted:
        assert "Upper-case a string." in text and "few shot marker" in text and "ignored" not in text
        assert text.index("few shot marker") < max(text.find(p) for p, _ in PROMPTS)
    assert not any("few shot marker" in text for text in plain)
    asked = {p for p, _ in PROMPTS}
    assert {q for q in asked if any(q in t for t in prompted)} == asked
    assert "few.jsonl (2 example turns before each question)" in (tmp_path / "out" / "report.md").read_text()
    assert len([s for s in samples if s["checkpoint"] == "base + few-shot"]) == len(PROMPTS)

    # A rerun loads no model: both rows come from the cache, under different keys.
    def no_model(*args, **kwargs):
        raise AssertionError("a cached rerun loads no model")

    monkeypatch.setattr("luacoder.evaluation.backends.load_backend", no_model)
    assert run_in_process(tmp_path, monkeypatch) == 0
    results, _ = read_outputs(tmp_path / "out")
    assert (results["generated_now"] == 0).all() and (results["from_cache"] == len(PROMPTS)).all()
    assert len(list((tmp_path / "out" / "cache").glob("*/answers.jsonl"))) == 2


def test_few_shot_needs_a_model_to_prompt_when_base_folder_is_a_run(tmp_path, monkeypatch, capsys):
    from test_eval import fake_checkpoint

    fake_checkpoint(tmp_path / "run" / "checkpoint-1")
    (tmp_path / "api.json").write_text(
        json.dumps({"name": "t", "entries": [{"name": "print", "kind": "function", "module": "_G"}]})
    )
    (tmp_path / "p.csv").write_text("prompt\nhi\n")
    (tmp_path / "few.jsonl").write_text(json.dumps(EXAMPLE) + "\n")
    (tmp_path / "config.yaml").write_text(
        "base_folder: run\napi_path: api.json\ntest_data_path: p.csv\noutput_dir: out\nfew_shot_path: few.jsonl\n"
    )
    assert run_in_process(tmp_path, monkeypatch) == 2
    assert "set few_shot_base to the model folder to prompt" in eval_error(capsys)
    assert run_in_process(tmp_path, monkeypatch, "--few_shot_base=nowhere") == 2
    assert "few_shot_base nowhere: not a model folder" in eval_error(capsys)
