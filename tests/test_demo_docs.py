"""runs/demo.py --docs: the user's own docs through the whole pipeline (tiny model, a couple of steps a stage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import CORPORA, REPO

LUV_DOCS = CORPORA / "luvit-luv" / "docs"


@pytest.mark.slow
def test_the_demo_builds_trains_and_scores_on_the_users_docs(tmp_path):
    if not LUV_DOCS.is_dir():
        pytest.skip(f"{LUV_DOCS} is absent (the shared corpora, see ../shared/corpora/README)")
    out = tmp_path / "demo"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(REPO / "runs" / "demo.py"), "--docs", str(LUV_DOCS), "-o", str(out)]
    command += ["--skip_rl", "--nproc_per_node=1", "--max_steps=2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # The datasets come from luv's docs, not the bundled Lua manual.
    api = json.loads((out / "data" / "api.json").read_text())
    names = [e["name"] for e in api["entries"]]
    assert api["name"] == "docs" and "uv.tcp_bind" in names and "string.format" not in names
    chat = [json.loads(line) for line in (out / "data" / "chat" / "train.jsonl").read_text().splitlines()]
    assert any("uv." in m["content"] for row in chat for m in row["messages"] if m["role"] == "assistant")
    prompts = pd.read_csv(out / "data" / "eval" / "prompts.csv")
    assert prompts["expected_apis"].fillna("").str.contains("uv.").any()

    # The chat stage trained its two steps from the pretrained tiny model and eval scored every checkpoint.
    state = json.loads((out / "chat" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    results = pd.read_csv(out / "eval" / "chat" / "results.csv")
    assert (results["status"] == "scored").all() and len(results) >= 1
    assert "uv." in (out / "eval" / "chat" / "report.md").read_text()
    assert "== eval of chat" in done.stdout


def test_the_real_model_path_skips_pretrain_and_grpo_and_scores_the_prompted_base(tmp_path, monkeypatch):
    from test_demo import demo_module

    from luacoder.evaluation.prompts import NATURAL_LUA54

    benchmark = tmp_path / "humaneval.jsonl"
    demo = demo_module._RealModelDemo(tmp_path, model="smollm2-135m-instruct", nproc=1, multipl_e=benchmark)
    assert [s.name for s in demo.steps(with_rl=True)] == [
        "data notebooks",
        "model smollm2-135m-instruct",
        "few-shot examples",
        "chat",
        "policy pairs",
        "dpo",
        "eval base",
        "eval chat",
        "eval dpo",
        "answers side by side",
        "sample answers",
    ]
    without = [s.name for s in demo.steps(with_rl=False)]
    assert "dpo" not in without and "policy pairs" not in without and "eval dpo" not in without
    assert demo.model == tmp_path / "models" / "smollm2-135m-instruct"
    assert demo.decontam_benchmarks == [str(benchmark)]  # MultiPL-E is asked, so it is kept out of training
    # The few-shot examples are short dialogues of the training split.
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a" * (300 * i + 1)}]}
        for i in range(5)
    ]
    (tmp_path / "data" / "chat").mkdir(parents=True)
    (tmp_path / "data" / "chat" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    demo._few_shot()
    assert [json.loads(line) for line in demo.few_shot.read_text().splitlines()] == rows[:3]

    # The system prompt every row is asked with is the chat checkpoint's own, from its metadata.
    (tmp_path / "chat").mkdir()
    meta = {"stage": "chat", "step": 64, "config": {"system_prompt": "Write Lua."}}
    (tmp_path / "chat" / "luacoder_meta.json").write_text(json.dumps(meta))
    assert demo.system_prompt == "Write Lua."
    commands = []
    monkeypatch.setattr(demo, "_run", lambda command, cwd=REPO: commands.append([str(c) for c in command]))
    demo._eval("base")
    demo._eval("chat")
    demo._chat()
    base_eval, chat_eval, chat = commands
    assert f"--base_folder={demo.model}" in base_eval and f"--few_shot_path={demo.few_shot}" in base_eval
    assert "--system_prompt=Write Lua." in base_eval
    assert not any(c.startswith("--system_prompt") for c in chat_eval)  # each checkpoint's own
    sets = f"--test_data_path={tmp_path / 'data' / 'eval' / 'prompts.csv'},{NATURAL_LUA54}"
    for command in (base_eval, chat_eval):
        assert sets in command and "--best_prompt_set=natural_lua54" in command
        assert f"--multipl_e={benchmark}" in command and "--multipl_e_limit=10" in command
    assert "--variants=open_book,constrained,open_book+constrained" in chat_eval and "--retrieval={k: 5}" in chat_eval
    assert not any(c.startswith("--variants") for c in base_eval)
    assert "--chat_template=model" in chat and f"--model_name_or_path={demo.model}" in chat

    # The RL step: the chat model's own answers to training prompts of both kinds (never the eval's), then DPO.
    commands.clear()
    for step in demo.rl_steps():
        step.run()
    pairs, dpo = commands
    chat_model = f"--model_name_or_path={demo.stage_dir('chat')}"
    assert pairs[1] == "policy-pairs" and chat_model in pairs and chat_model in dpo
    files = pairs[pairs.index("--prompt_files") + 1 : pairs.index(f"--output_dir={demo.policy_pairs}")]
    assert files == [str(tmp_path / "data" / "chat" / "train.jsonl"), str(demo_module.RL_TRAIN_PROMPTS)]
    assert "dpo.py" in dpo and f"--train_file={demo.policy_pairs / 'train.jsonl'}" in dpo
    assert not any(arg.startswith("--system_prompt") or arg.startswith("--chat_template") for arg in pairs + dpo)


def test_the_real_model_runs_answers_are_put_side_by_side(tmp_path):
    from test_demo import demo_module

    def sample(row, prompt_set, index, answer):
        grade = {"report_type": "markdown", "code": "", "has_code": False, "syntax_valid": False}
        return {"checkpoint": row, "prompt_set": prompt_set, "index": index, "prompt": f"q{index}", "answer": answer,
                "expected_apis": [], "grade": grade}  # fmt: skip

    for run, rows in (("base", ["model", "model + few-shot"]), ("chat", ["checkpoint-32", "checkpoint-64"])):
        folder = tmp_path / "eval" / run
        folder.mkdir(parents=True)
        if run == "chat":
            rows += ["checkpoint-32 + open-book", "checkpoint-32 + constrained"]
            (folder / "best.json").write_text(json.dumps({"best": "checkpoint-32", "path": "x"}))
        lines = [sample(r, s, i, f"{r} answers {s} {i}") for r in rows for s in ("prompts", "natural") for i in (0, 1)]
        (folder / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    demo = demo_module._RealModelDemo(tmp_path, model="smollm2-135m-instruct", nproc=1)
    demo._side_by_side()
    text = (tmp_path / "eval" / "side_by_side.md").read_text()
    labels = ["model", "model + few-shot", "checkpoint-32", "checkpoint-32 + open-book", "checkpoint-32 + constrained"]
    for prompt_set in ("prompts", "natural"):
        block = text[text.index(f"### `{prompt_set}`") :]
        first = block[: block.index("#### Prompt 1")]
        assert [label for label in labels if f"**{label}**" in first] == labels
        assert all(f"{label} answers {prompt_set} 0" in first for label in labels)
    assert "checkpoint-64" not in text  # only the best checkpoint's rows
