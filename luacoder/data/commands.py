"""`luacoder build-pretrain` and `luacoder build-chat`: the dataset builders on the command line.

    luacoder build-chat --config data/config.yaml chat.dialogues_per_entry=8 seed=1
    luacoder build-pretrain --api_path outputs/data/api.json -o outputs/data

With `--config`, settings come from the data config (data/config.yaml) and KEY=VALUE overrides (`seed=1`,
`pretrain.test_fraction=0.2`); without it, from the defaults. `--api_path` names the api.json to build from (default:
`<output_dir>/api.json`, written from the config's docs when missing) and `-o` the output folder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from luacoder.errors import report


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
        p.add_argument("-o", "--output_dir", type=Path, help="where pretrain/, chat/ and eval/ go (default: config)")
        p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. seed=1")
        p.add_argument("-q", "--quiet", action="store_true", help="only errors")
        p.set_defaults(func=build_command, dataset="pretrain" if "pretrain" in name else "chat")


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
