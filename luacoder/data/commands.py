"""The dataset builders on the command line: `luacoder build-pretrain`, `build-chat`, `replay`, `synthetic-pairs`.

    luacoder build-chat --config data/config.yaml --chat.dialogues_per_entry=8 --seed=1
    luacoder build-pretrain --api_path outputs/data/api.json -o outputs/data
    luacoder replay --config data/config.yaml --base_model outputs/models/smollm2-135m-instruct
    luacoder synthetic-pairs --api_path outputs/data/api.json --chat_dir outputs/data/chat -o outputs/data/preferences

With `--config`, settings come from the data config (data/config.yaml) and `--key=value` overrides (`--seed=1`,
`--pretrain.test_fraction=0.2`), as a stage script's; without it, from the defaults. `--api_path` names the api.json
to build from (default: `<output_dir>/api.json`, written from the config's docs when missing) and `-o` the output
folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from luacoder.cli import add_option, add_output_dir, takes_overrides
from luacoder.config import DEFAULT_SEED
from luacoder.errors import report

EXIT_INCOMPLETE = 1  # a run a server left unfinished: rerun with --continue


def register(sub: argparse._SubParsersAction) -> None:
    for name, what in (("build-pretrain", "the code dataset ({'content'} rows)"), ("build-chat", "the chat dataset")):
        p = sub.add_parser(
            name,
            help=f"build {what} from api.json: filters, dedup, decontamination, splits, dataset card",
            description=f"Build {what} from api.json, as data/{'lua' if 'pretrain' in name else 'dialogue'}.ipynb"
            " does.",
        )
        p.add_argument("--config", type=Path, help="the data config (data/config.yaml); default: built-in defaults")
        p.add_argument("--api_path", type=Path, help="the api.json to build from (default: <output_dir>/api.json)")
        add_output_dir(p, "where pretrain/, chat/ and eval/ go (default: the config's output_dir)")
        p.add_argument("-q", "--quiet", action="store_true", help="only errors")
        takes_overrides(p, "the data config (--seed=1, --chat.dialogues_per_entry=8)")
        p.set_defaults(func=build_command, dataset="pretrain" if "pretrain" in name else "chat")
    register_replay(sub)
    register_synthetic_pairs(sub)


def register_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="the base model's own answers to general questions, as chat rows that keep its general skill"
        " (<output_dir>/replay/rows.jsonl; add them with chat.replay)",
        description="Ask the base model (or a server that serves it) every question of replay.questions once and"
        " write its answers as chat rows, as luacoder.data.replay does.",
    )
    p.add_argument("--config", type=Path, help="the data config (data/config.yaml); its `replay` section")
    add_output_dir(p, "output folder (default: <output_dir>/replay)", old=["--out"])
    p.add_argument("--continue", dest="resume", action="store_true", help="go on with the run in the output folder")
    from luacoder.selfinstruct.teachers import add_teacher_arguments

    add_teacher_arguments(p)
    takes_overrides(p, "the data config (--replay.limit=20)")
    p.set_defaults(func=replay_command)


def register_synthetic_pairs(sub: argparse._SubParsersAction) -> None:
    from luacoder.data.preferences import CORRUPTIONS

    p = sub.add_parser(
        "synthetic-pairs",
        help="preference pairs from the chat dataset: each correct answer against itself with one API call corrupted"
        " (a hallucinated name, a wrong module, a wrong argument count); TRL rows for reward.py and dpo.py",
        description="Preference pairs from the chat dataset and the API docs, as luacoder.data.preferences builds"
        " them: <output_dir>/train.jsonl from the chat train split and test.jsonl from its test split. Pairs from"
        " the checkpoint's own answers: luacoder policy-pairs.",
    )
    p.add_argument("--api_path", required=True, type=Path, help="the api.json the chat dataset was built from")
    add_option(
        p,
        "--chat_dir",
        old=["--chat"],
        required=True,
        type=Path,
        help="the chat dataset's folder (train.jsonl, test.jsonl), as build-chat writes it",
    )
    add_output_dir(p, "folder for the pairs' train.jsonl and test.jsonl", required=True, old=["--output"])
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="of the corrupted call and corruption (%(default)d)")
    p.add_argument("--per_row", type=int, default=1, help="pairs per chat row, each another corruption (1)")
    p.add_argument("--kinds", nargs="+", default=list(CORRUPTIONS), choices=CORRUPTIONS, help="corruptions to use")
    p.set_defaults(func=synthetic_pairs_command)


def synthetic_pairs_command(args: argparse.Namespace) -> int:
    """A bad api.json or chat row is reported by luacoder.cli (luacoder.errors)."""
    from luacoder.apidocs.schema import load_api
    from luacoder.data.preferences import build_preferences, save_preference_splits
    from luacoder.files import read_jsonl
    from luacoder.grading.api_index import ApiIndex

    index = ApiIndex(load_api(args.api_path))
    splits = {}
    # Each split from the same split of the chat data, so that no test prompt is trained on.
    for split in ("train", "test"):
        source = args.chat_dir / f"{split}.jsonl"
        if split == "test" and not source.is_file():
            continue
        splits[split], built = build_preferences(read_jsonl(source), index, args.seed, args.kinds, args.per_row)
        print(f"{split}: {built.summary()}")
    for split, path in save_preference_splits(args.output_dir, **splits).items():
        print(f"wrote {len(splits[split])} pairs to {path}")
    return 0


def replay_command(args: argparse.Namespace) -> int:
    """A user's mistake (config, files, an output folder of another run) is reported as every luacoder command's is;
    a server that cannot be reached leaves the run to continue later (exit status 1)."""
    from luacoder.data.config import load_data_config
    from luacoder.data.replay import build_replay
    from luacoder.selfinstruct.client import ServerConfigError
    from luacoder.selfinstruct.run_log import FingerprintMismatch, LogBusy, OutputExists
    from luacoder.selfinstruct.runner import ServerUnavailable
    from luacoder.selfinstruct.teachers import teacher_from_args

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = load_data_config(args.config, args.overrides)
        args.teacher = args.teacher or "self"  # replay asks the base model by default
        summary = build_replay(config, teacher_from_args(args, config), args.output_dir, resume=args.resume)
    except (ValueError, OutputExists, FingerprintMismatch) as exc:
        return report("luacoder replay", exc)
    except (ServerConfigError, ServerUnavailable, LogBusy) as exc:
        print(f"luacoder replay: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    print(f"replay: {summary['rows']} of {summary['questions']} questions answered, left out {summary['rejected']}")
    return 0 if summary["complete"] else EXIT_INCOMPLETE


def build_command(args: argparse.Namespace) -> int:
    """A mistake in the config, the docs or a data file is reported by luacoder.cli (luacoder.errors)."""
    from luacoder.apidocs.schema import load_api
    from luacoder.data.config import load_data_config
    from luacoder.data.sources import load_or_build_api

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.config is None and args.output_dir is None:
        return report(f"luacoder build-{args.dataset}", "give --config data/config.yaml or -o OUTPUT_DIR")
    config = load_data_config(args.config, args.overrides)
    out = args.output_dir if args.output_dir is not None else config.out
    api = load_api(args.api_path) if args.api_path is not None else load_or_build_api(config, out)
    if args.dataset == "pretrain":
        from luacoder.data.pretrain import build_pretrain

        result = build_pretrain(api, config, out)
    else:
        from luacoder.data.chat import build_chat

        result = build_chat(api, config, out)
    s = result.summary()
    print(
        f"{args.dataset}: read {s['read']}, removed {s['removed']}, train {s['train']} rows ({s['train tokens']}"
        f" tokens), test {s['test']} rows ({s['test tokens']} tokens) in {s['seconds']} s -> {result.out_dir}"
    )
    return 0
