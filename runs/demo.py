"""The demo: the whole pipeline on the bundled Lua 5.4 docs with a tiny model on the CPU.

    python runs/demo.py [--output DIR] [--start_over] [--nproc N] [--skip_rl]      (or ./set-up.sh demo ...)

Each step runs the same command a user would (notebooks under nbconvert, `luacoder` subcommands, `torchrun` from a
stage folder, `eval/eval.py`, `generate.py`) and is skipped when its output is already complete, so a rerun reuses
what is done (`--start_over` removes the demo's folder first). Every step's wall time goes to `timings.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from luacoder.checkpoints import META_FILE

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "outputs" / "demo"
NOTEBOOKS = ("json.ipynb", "lua.ipynb", "dialogue.ipynb")
# The demo's model: a StarCoder2 of ~2M parameters, the most that trains to a useful point in the demo's budget on
# two CPU cores (the test suite's models are smaller still: luacoder.train.tiny_model.TINY_DEFAULTS).
DEMO_MODEL = {
    "hidden_size": 192,
    "num_hidden_layers": 3,
    "num_attention_heads": 6,
    "num_key_value_heads": 3,
    "intermediate_size": 768,
}
SAMPLE_QUESTIONS = (
    "How do I split a string on commas in Lua?",
    "Sort a table of numbers in descending order.",
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="run the whole pipeline on the bundled Lua 5.4 docs with a tiny model (CPU)"
    )
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the demo's folder (default outputs/demo)")
    p.add_argument("--start_over", action="store_true", help="delete the demo's folder and run every step again")
    p.add_argument("--nproc", type=int, default=2, help="processes per training stage (torchrun --nproc_per_node)")
    p.add_argument("--skip_rl", action="store_true", help="leave out the short GRPO run")
    return run_demo(p.parse_args(argv))


@dataclass
class Step:
    name: str
    done: Callable[[], bool]
    run: Callable[[], None]


def run_demo(args: argparse.Namespace) -> int:
    out: Path = args.output.resolve()
    if args.start_over and out.exists():
        print(f"[demo] --start_over: removing {out}")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    demo = _Demo(out, nproc=args.nproc)
    steps = demo.steps(with_rl=not args.skip_rl)
    timings_file = out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    started = time.perf_counter()
    for number, step in enumerate(steps, 1):
        banner = f"[demo {number}/{len(steps)}] {step.name}"
        if step.done():
            print(f"{banner}: already done, reusing it")
            continue
        print(f"{banner} ...", flush=True)
        t0 = time.perf_counter()
        step.run()
        timings[step.name] = round(time.perf_counter() - t0, 1)
        timings_file.write_text(json.dumps(timings, indent=2) + "\n")
        print(f"{banner}: done in {timings[step.name]:.0f} s", flush=True)
    print(f"[demo] finished in {time.perf_counter() - started:.0f} s; outputs in {out}")
    demo.summary()
    return 0


class _Demo:
    def __init__(self, out: Path, nproc: int):
        self.out = out
        self.nproc = nproc
        self.bin = Path(sys.executable).parent
        self.env = {
            **os.environ,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }

    # -- paths ---------------------------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.out / "data"

    def stage_dir(self, stage: str) -> Path:
        return self.out / stage

    def steps(self, with_rl: bool) -> list[Step]:
        steps = [
            Step("data notebooks", self._data_done, self._run_notebooks),
            Step("tokenizer and tiny model", self._model_done, self._new_model),
            Step("pretrain", lambda: _final_model(self.stage_dir("pretrain")), self._pretrain),
            Step("chat", lambda: _final_model(self.stage_dir("chat")), self._chat),
        ]
        if with_rl:
            steps.append(Step("grpo", lambda: _final_model(self.stage_dir("grpo")), self._grpo))
        # Eval is incremental by itself (answers cached per checkpoint), so it always runs: cheap when nothing is new.
        for run in self.eval_runs(with_rl):
            steps.append(Step(f"eval {run}", lambda: False, lambda run=run: self._eval(run)))
        steps.append(Step("sample answers", lambda: (self.out / "answers.jsonl").is_file(), self._answers))
        return steps

    # -- steps ---------------------------------------------------------------------------------------------------
    def _data_done(self) -> bool:
        return all(
            (self.data / part).is_file()
            for part in ("api.json", "pretrain/train.jsonl", "chat/train.jsonl", "eval/prompts.csv")
        )

    def _run_notebooks(self) -> None:
        """data/*.ipynb under nbclient, pointed at a copy of data/config.yaml whose outputs go into the demo."""
        import nbformat
        import yaml
        from nbclient import NotebookClient

        config = yaml.safe_load((REPO / "data" / "config.yaml").read_text())
        config["output_dir"] = str(self.data)
        config["docs"]["paths"] = [str((REPO / "data" / p).resolve()) for p in config["docs"]["paths"]]
        config_file = self.out / "data_config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        executed = self.out / "notebooks"
        executed.mkdir(exist_ok=True)
        os.environ["LUACODER_DATA_CONFIG"] = str(config_file)  # the kernel inherits it
        for name in NOTEBOOKS:
            print(f"  executing data/{name} (outputs kept in {executed / name})", flush=True)
            notebook = nbformat.read(REPO / "data" / name, as_version=4)
            client = NotebookClient(
                notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(REPO / "data")}}
            )
            try:
                client.execute()
            finally:
                nbformat.write(notebook, executed / name)

    def _model_done(self) -> bool:
        return (self.out / "tiny-starcoder2" / "model.safetensors").is_file()

    def _new_model(self) -> None:
        tokenizer = self.out / "tokenizer"
        self._run([self.bin / "luacoder", "new-tokenizer", REPO / "data" / "docs" / "lua54", "-o", tokenizer])
        sizes = [f"--set={key}={value}" for key, value in DEMO_MODEL.items()]
        model = self.out / "tiny-starcoder2"
        self._run([self.bin / "luacoder", "new-model", "--tokenizer", tokenizer, "-o", model, *sizes])

    def _torchrun(self, stage: str, script: str, config: str, *overrides: str) -> None:
        self._run(
            [
                self.bin / "torchrun",
                f"--nproc_per_node={self.nproc}",
                "--standalone",
                script,
                config,
                "--deepspeed=../ds_configs/zero3_cpu.json",
                *overrides,
            ],
            cwd=REPO / "deepspeed" / stage,
        )

    def _pretrain(self) -> None:
        self._torchrun(
            "pretrain",
            "train.py",
            "config_cpu.yaml",
            f"--model_name_or_path={self.out / 'tiny-starcoder2'}",
            f"--train_file={self.data / 'pretrain' / 'train.jsonl'}",
            f"--test_file={self.data / 'pretrain' / 'test.jsonl'}",
            f"--output_dir={self.stage_dir('pretrain')}",
        )

    def _chat(self) -> None:
        self._torchrun(
            "chat",
            "train.py",
            "config_cpu.yaml",
            f"--model_name_or_path={self.stage_dir('pretrain')}",
            f"--train_file={self.data / 'chat' / 'train.jsonl'}",
            f"--test_file={self.data / 'chat' / 'test.jsonl'}",
            f"--output_dir={self.stage_dir('chat')}",
        )

    def _grpo(self) -> None:
        self._torchrun(
            "RL",
            "grpo.py",
            "grpo_cpu.yaml",
            f"--model_name_or_path={self.stage_dir('chat')}",
            f"--api_path={self.data / 'api.json'}",
            f"--train_file={self.data / 'chat' / 'train.jsonl'}",
            f"--output_dir={self.stage_dir('grpo')}",
        )

    def eval_runs(self, with_rl: bool) -> list[str]:
        """What eval scores, in training order: the untrained model (the baseline), every chat checkpoint, GRPO's."""
        return ["tiny-starcoder2", "chat", *(["grpo"] if with_rl else [])]

    def _eval(self, run: str) -> None:
        self._run(
            [
                sys.executable,
                "eval.py",
                "config_cpu.yaml",
                f"--base_folder={self.out / run}",
                f"--api_path={self.data / 'api.json'}",
                f"--test_data_path={self.data / 'eval' / 'prompts.csv'}",
                f"--output_dir={self.out / 'eval' / run}",
            ],
            cwd=REPO / "eval",
        )

    def _best_checkpoint(self) -> Path:
        best = json.loads((self.out / "eval" / "chat" / "best.json").read_text())
        return Path(best["path"])

    def _answers(self) -> None:
        questions = self.out / "sample_questions.txt"
        questions.write_text("\n".join(SAMPLE_QUESTIONS) + "\n")
        self._run(
            [
                sys.executable,
                "generate.py",
                f"--model_name_or_path={self._best_checkpoint()}",
                f"--prompts_file={questions}",
                f"--output_file={self.out / 'answers.jsonl'}",
                "--max_new_tokens=160",
            ],
            cwd=REPO / "deepspeed" / "chat",
        )

    def summary(self) -> None:
        """The eval tables of every run and the two sample answers, as a newcomer should see them at the end."""
        for results in sorted((self.out / "eval").glob("*/results.csv")):
            print(f"\n== eval of {results.parent.name} ({results.parent / 'report.md'})")
            print(_results_table(results))
        answers = self.out / "answers.jsonl"
        if answers.is_file():
            print(f"\n== answers of the best chat checkpoint ({self._best_checkpoint()})")
            for line in answers.read_text().splitlines():
                row = json.loads(line)
                print(f"\n> {row['prompt']}\n{row['answer']}")

    def _run(self, command: list, cwd: Path = REPO) -> None:
        command = [str(c) for c in command]
        print("  $ " + " ".join(command), flush=True)
        result = subprocess.run(command, cwd=cwd, env=self.env)
        if result.returncode != 0:
            raise SystemExit(
                f"[demo] this step failed (exit code {result.returncode}): its output is above. "
                "Fix the cause and rerun `./set-up.sh demo`: finished steps are reused."
            )


def _results_table(path: Path) -> str:
    import pandas as pd

    table = pd.read_csv(path)
    wanted = [
        c
        for c in (
            "checkpoint",
            "step",
            "api_f1",
            "api_match_accuracy",
            "expected_api_recall",
            "no_api_rate",
            "hallucination_rate",
            "syntax_valid_rate",
            "execution_rate",
        )
        if c in table.columns
    ]
    return table[wanted].to_string(index=False)


def _final_model(folder: Path) -> bool:
    """A stage is finished when its output_dir holds the final model and its metadata (written last)."""
    return (folder / "model.safetensors").is_file() and (folder / META_FILE).is_file()


if __name__ == "__main__":
    sys.exit(main())
