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
    command = [sys.executable, str(REPO / "runs" / "demo.py"), "--docs", str(LUV_DOCS), "--output", str(out)]
    done = subprocess.run(
        [*command, "--skip_rl", "--nproc=1", "--max_steps=2"], env=env, capture_output=True, text=True, timeout=1500
    )
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

    demo = demo_module._RealModelDemo(tmp_path, model="smollm2-135m-instruct", nproc=1)
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
        "sample answers",
    ]
    without = [s.name for s in demo.steps(with_rl=False)]
    assert "dpo" not in without and "policy pairs" not in without and "eval dpo" not in without
    assert demo.model == tmp_path / "models" / "smollm2-135m-instruct"
    # The few-shot examples are short dialogues of the training split.
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a" * (300 * i + 1)}]}
        for i in range(5)
    ]
    (tmp_path / "data" / "chat").mkdir(parents=True)
    (tmp_path / "data" / "chat" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    demo._few_shot()
    assert [json.loads(line) for line in demo.few_shot.read_text().splitlines()] == rows[:3]

    commands = []
    monkeypatch.setattr(demo, "_run", lambda command, cwd=REPO: commands.append([str(c) for c in command]))
    demo._eval("base")
    demo._chat()
    base_eval, chat = commands
    assert f"--base_folder={demo.model}" in base_eval and f"--few_shot_path={demo.few_shot}" in base_eval
    assert f"--system_prompt={demo.system_prompt}" in base_eval and demo.system_prompt
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
