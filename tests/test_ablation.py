"""runs/ablation.py: one folder per data mix laid out as the demo's, the mix's overrides in its data config, eval
asked closed book on both prompt sets, and the table read from each mix's results."""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import yaml
from conftest import REPO
from test_demo import demo_module

_spec = importlib.util.spec_from_file_location("ablation", REPO / "runs" / "ablation.py")
ablation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ablation)


def fake_eval_results(folder, hallucination: dict[str, float]) -> None:
    rows = []
    for checkpoint, step in (("checkpoint-32", 32), ("checkpoint-64", 64), ("final", 64)):
        for prompt_set, rate in hallucination.items():
            rate = rate + (0.5 if checkpoint == "checkpoint-32" else 0.0)  # the table must take the final model's
            rows.append({"checkpoint": checkpoint, "prompt_set": prompt_set, "step": step, "status": "scored",
                         "hallucination_rate": rate, "undefined_global_rate": 0.1, "expected_api_recall": "n/a",
                         "syntax_valid_rate": 1.0, "no_api_rate": 0.0})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)


def test_each_mix_trains_on_its_own_data_and_the_table_compares_their_final_models(tmp_path, monkeypatch, capsys):
    commands = []
    rates = {"templates": {"prompts": 0.3, "natural_lua54": 0.6}, "tasks": {"prompts": 0.2, "natural_lua54": 0.4}}

    def run_step(self):  # stands in for the data, model and chat steps: what each writes, nothing more
        self._data_config()
        self.model.mkdir(parents=True, exist_ok=True)
        (self.model / "config.json").write_text("{}")
        (self.stage_dir("chat")).mkdir(parents=True, exist_ok=True)

    def fake_run(self, command, cwd=REPO):
        commands.append([str(c) for c in command])
        fake_eval_results(self.out / "eval" / "chat", rates[self.out.name])

    monkeypatch.setattr(demo_module._RealModelDemo, "_run_notebooks", run_step)
    monkeypatch.setattr(demo_module._RealModelDemo, "_get_model", run_step)
    monkeypatch.setattr(demo_module._RealModelDemo, "_chat", run_step)
    monkeypatch.setattr(demo_module._RealModelDemo, "_run", fake_run)
    monkeypatch.setattr(ablation, "_final_model", lambda folder: folder.is_dir())
    mixes = [
        "templates=--chat.task_dialogues_per_entry=0 --chat.near_miss_dialogues=0",
        "tasks=--chat.near_miss_dialogues=0",
    ]
    argv = ["--model_name_or_path", "smollm2-135m-instruct", "-o", str(tmp_path), *[f"--mix={m}" for m in mixes]]
    assert ablation.main(argv) == 0

    templates = yaml.safe_load((tmp_path / "templates" / "data_config.yaml").read_text())["chat"]
    assert (templates["task_dialogues_per_entry"], templates["near_miss_dialogues"]) == (0, 0)
    tasks = yaml.safe_load((tmp_path / "tasks" / "data_config.yaml").read_text())["chat"]
    assert tasks["near_miss_dialogues"] == 0 and tasks["task_dialogues_per_entry"] > 0
    assert not (tmp_path / "templates" / "models").exists()  # one converted model for every mix
    for command, mix in zip(commands, ("templates", "tasks"), strict=True):
        assert f"--base_folder={tmp_path / mix / 'chat'}" in command
        assert any(arg.startswith("--test_data_path=") and "natural_lua54.csv" in arg for arg in command)
        assert not any(arg.startswith(("--variants", "--few_shot_path", "--multipl_e")) for arg in command)
    table = pd.read_csv(tmp_path / "ablation.csv")
    assert table[["mix", "prompt set", "hallucination"]].values.tolist() == [
        ["templates", "prompts", 0.3], ["templates", "natural_lua54", 0.6],
        ["tasks", "prompts", 0.2], ["tasks", "natural_lua54", 0.4],
    ]  # fmt: skip
    assert table["expected-API recall"].isna().all() and "templates" in capsys.readouterr().out
    assert sys.modules["demo"] is demo_module


def test_a_misspelled_key_of_a_mix_fails_before_anything_trains(tmp_path, capsys):
    import pytest

    argv = ["--model_name_or_path", "x", "-o", str(tmp_path), "--mix=bad=--chat.near_mis_dialogues=0"]
    with pytest.raises(SystemExit) as exc:
        ablation.main(argv)
    assert exc.value.code == 2 and "near_mis_dialogues" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
