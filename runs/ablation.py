"""Which data change moved which number: the real-model demo's chat fine-tuning on several data mixes, each scored
closed book on the same prompts, in one table.

    python runs/ablation.py --model_name_or_path smollm2-135m-instruct -o outputs/ablation \\
        --mix "templates=--chat.dialogues_per_entry=16 --chat.task_dialogues_per_entry=0 \\
               --chat.near_miss_dialogues=0" \\
        --mix "tasks=--chat.near_miss_dialogues=0" --mix "default="

Each `--mix NAME=OVERRIDES` (data/config.yaml overrides, space-separated `--key=value` as the demo takes them) is one
folder under `-o/--output_dir` laid out as the demo's (`data/`, `chat/`, `eval/chat/`): its datasets are built by the
data notebooks, the model is chat fine-tuned exactly as `runs/demo.py --model_name_or_path` does (same steps, rate,
rows and seed), and
`eval/eval.py` scores every checkpoint closed book on the template prompts and the natural questions. No base-model
rows, no open-book or constrained rows, no RL: those are the demo's. A mix whose folder holds a finished chat model
(a demo run's own folder, linked in) is scored as it is. `--replay` and `--teacher` belong to the demo; a mix may set
any data key, the synthesized rows' file included (`--chat.synthesized=...`).

The table compares the last checkpoint of every mix (and prints every checkpoint's rows), so that a number moved by
a change of the data is not confused with one moved by the choice of checkpoint.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import (  # noqa: E402
    FETCHABLE,
    REAL_MAX_NEW_TOKENS,
    REPO,
    Teaching,
    _apply_overrides,
    _final_model,
    _model_name,
    _RealModelDemo,
)

from luacoder.cli import add_option, add_output_dir  # noqa: E402
from luacoder.config import ConfigError  # noqa: E402

COLUMNS = {
    "hallucination_rate": "hallucination",
    "undefined_global_rate": "undefined globals",
    "expected_api_recall": "expected-API recall",
    "syntax_valid_rate": "syntax-valid",
    "no_api_rate": "no-API",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_option(
        p,
        "--model_name_or_path",
        old=["--model"],
        required=True,
        help=f"a pretrained model: {', '.join(FETCHABLE)}, a hub id or a folder",
    )
    add_output_dir(p, "one folder per mix goes here", required=True, old=["--output"])
    p.add_argument("--mix", action="append", required=True, metavar="NAME=--KEY=VALUE ...", help="a data mix")
    add_option(p, "--nproc_per_node", old=["--nproc"], type=int, default=1, help="processes for the chat stage")
    args = p.parse_args(argv)
    mixes = {}
    for spec in args.mix:
        name, sep, overrides = spec.partition("=")
        if not sep or not name.isidentifier():
            p.error(f"--mix {spec!r}: write it as NAME=--KEY=VALUE --KEY=VALUE ... (NAME= for the defaults)")
        items = shlex.split(overrides)
        mixes[name] = [item if item.startswith("--") else f"--{item}" for item in items]  # KEY=VALUE read as before
        try:  # a misspelled key fails before any mix trains
            _apply_overrides({}, mixes[name])
        except ConfigError as exc:
            p.error(f"--mix {name}: {exc}")
    out = args.output_dir.resolve()
    models = out / "models"
    rows = []
    for name, overrides in mixes.items():
        print(f"[ablation] {name}: {' '.join(overrides) or 'data/config.yaml as it is'}", flush=True)
        (out / name).mkdir(parents=True, exist_ok=True)
        run = _RealModelDemo(
            out / name,
            model=args.model_name_or_path,
            nproc=args.nproc_per_node,
            teaching=Teaching(overrides=overrides),
        )
        run.model = models / _model_name(args.model_name_or_path) if run.model_arg in FETCHABLE else run.model
        for step in run.steps(with_rl=False)[:4]:  # data, model, few-shot examples, chat: the demo's own steps
            if step.name.startswith("few-shot"):
                continue
            if not step.done():
                print(f"[ablation] {name}: {step.name} ...", flush=True)
                step.run()
        if not _final_model(run.stage_dir("chat")):
            raise SystemExit(f"[ablation] {name}: the chat stage left no final model in {run.stage_dir('chat')}")
        run._run(
            [
                sys.executable,
                "eval.py",
                "config_cpu.yaml",
                f"--base_folder={run.stage_dir('chat')}",
                f"--api_path={run.data / 'api.json'}",
                *run.prompt_sets(),
                f"--output_dir={run.out / 'eval' / 'chat'}",
                f"--max_new_tokens={REAL_MAX_NEW_TOKENS}",
            ],
            cwd=REPO / "eval",
        )
        results = pd.read_csv(run.out / "eval" / "chat" / "results.csv")
        results = results[results["status"] == "scored"]
        # The final model (the last checkpoint's weights) when the stage saved one, else the last checkpoint.
        last = results[results["checkpoint"] == "final"]
        if last.empty:
            last = results[results["step"] == results["step"].max()]
        for _, row in last.iterrows():
            rates = {label: pd.to_numeric(row[key], errors="coerce") for key, label in COLUMNS.items()}
            rows.append({"mix": name, "prompt set": row["prompt_set"], "step": row["step"], **rates})
    table = pd.DataFrame(rows)
    table.to_csv(out / "ablation.csv", index=False)
    print(f"\n== the last checkpoint of each mix, closed book ({out / 'ablation.csv'})")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
