"""runs/demo.py: its steps, in order, and which of them a rerun reuses (the whole run is the README's demo)."""

from __future__ import annotations

import importlib.util
import json
import sys

from conftest import REPO

# runs/demo.py is a runner beside the stage scripts, not part of the library: loaded from its path.
_spec = importlib.util.spec_from_file_location("demo", REPO / "runs" / "demo.py")
demo_module = sys.modules["demo"] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(demo_module)
_Demo = demo_module._Demo


def test_the_steps_follow_the_pipeline_and_eval_covers_the_untrained_model_first(tmp_path):
    names = [step.name for step in _Demo(tmp_path, nproc=2).steps(with_rl=True)]
    assert names == [
        "data notebooks",
        "tokenizer and tiny model",
        "pretrain",
        "chat",
        "grpo",
        "eval tiny-starcoder2",
        "eval chat",
        "eval grpo",
        "sample answers",
    ]
    assert "grpo" not in " ".join(step.name for step in _Demo(tmp_path, nproc=2).steps(with_rl=False))


def test_a_rerun_reuses_finished_stages_but_not_half_written_ones(tmp_path):
    demo = _Demo(tmp_path, nproc=2)
    done = {step.name: step.done for step in demo.steps(with_rl=True)}
    assert not any(check() for check in done.values())

    for part in ("api.json", "pretrain/train.jsonl", "chat/train.jsonl", "eval/prompts.csv"):
        (tmp_path / "data" / part).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / part).write_text("x")
    (tmp_path / "tiny-starcoder2").mkdir()
    (tmp_path / "tiny-starcoder2" / "model.safetensors").write_bytes(b"x")
    # A stage killed after its checkpoints but before its final save has weights and no metadata: not finished.
    for stage in ("pretrain", "chat"):
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "model.safetensors").write_bytes(b"x")
    (tmp_path / "pretrain" / "luacoder_meta.json").write_text(json.dumps({"stage": "pretrain"}))

    finished = [name for name, check in done.items() if check()]
    assert finished == ["data notebooks", "tokenizer and tiny model", "pretrain"]


def test_a_teacher_replay_and_overrides_reach_the_data_config_and_the_model_comes_first(tmp_path):
    import yaml

    teaching = demo_module.Teaching("self", True, ["--chat.task_dialogues_per_entry=0", "--synthesis.items=5"])
    demo = demo_module._RealModelDemo(tmp_path, model="smollm2-135m-instruct", nproc=1, teaching=teaching)
    demo.gpu = False
    names = [step.name for step in demo.steps(with_rl=False)]
    assert names[:3] == ["model smollm2-135m-instruct", "replay", "data notebooks"]
    config = yaml.safe_load(demo._data_config().read_text())
    assert config["synthesis"]["teacher"] == "self" and config["synthesis"]["base_model"] == str(demo.model)
    assert config["synthesis"]["items"] == 5  # an override wins over the CPU sizing
    assert config["synthesis"]["samples"] == demo_module.SELF_TEACHER_CPU["samples"]
    assert config["chat"]["replay"] == str(tmp_path / "data" / "replay" / "rows.jsonl")
    assert config["chat"]["task_dialogues_per_entry"] == 0
    from luacoder.data.config import load_data_config

    load_data_config(demo._data_config())  # a valid data config
    plain = demo_module._RealModelDemo(tmp_path, model="smollm2-135m-instruct", nproc=1)
    assert [s.name for s in plain.steps(with_rl=False)][:2] == ["data notebooks", "model smollm2-135m-instruct"]


def test_the_data_config_the_demo_writes_trains_with_cards_and_keeps_the_benchmark_out(tmp_path, monkeypatch):
    import nbclient
    import yaml

    class NoRun:
        def __init__(self, *args, **kwargs):
            pass

        def execute(self):
            pass

    monkeypatch.setattr(nbclient, "NotebookClient", NoRun)
    monkeypatch.delenv("LUACODER_DATA_CONFIG", raising=False)  # the demo sets it for its kernels: undone after
    benchmark = tmp_path / "humaneval.jsonl"
    teaching = demo_module.Teaching(overrides=["--chat.open_book.share=0.3"])
    demo = demo_module._RealModelDemo(tmp_path, model="m", nproc=1, multipl_e=benchmark, teaching=teaching)
    demo._run_notebooks()
    config = yaml.safe_load((tmp_path / "data_config.yaml").read_text())
    assert config["chat"]["open_book"]["share"] == 0.3 and config["decontam_benchmarks"] == [str(benchmark)]
    (tmp_path / "tiny").mkdir()
    _Demo(tmp_path / "tiny", nproc=2)._run_notebooks()
    config = yaml.safe_load((tmp_path / "tiny" / "data_config.yaml").read_text())
    assert config["decontam_benchmarks"] == [] and config["chat"]["open_book"]["share"] == 0.0
