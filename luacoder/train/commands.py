"""`luacoder new-tokenizer` and `luacoder new-model`: what a from-scratch run (the demo) starts from; `luacoder plan`:
which DeepSpeed config fits a model on a node shape."""

from __future__ import annotations

import argparse
from pathlib import Path

from luacoder.cli import add_option, add_output_dir, takes_overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new-tokenizer", help="train a small byte-level BPE tokenizer on docs (for from-scratch runs)")
    p.add_argument("paths", nargs="+", type=Path, help="doc files or folders (.md, .markdown, .lua, .json)")
    add_output_dir(p, "folder to save the tokenizer to", required=True, old=["--output"])
    p.add_argument("--vocab_size", type=int, default=2048)
    p.set_defaults(func=new_tokenizer)

    p = sub.add_parser("new-model", help="build a tiny randomly initialised StarCoder-family model")
    p.add_argument("--family", choices=["starcoder2", "gpt_bigcode"], default="starcoder2")
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or hub id")
    add_output_dir(p, "folder to save the model and tokenizer to", required=True, old=["--output"])
    p.add_argument("--seed", type=int, default=0, help="of the random weights (%(default)d)")
    p.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)  # KEY=VALUE, before --key=value
    takes_overrides(p, "the model config (--hidden_size=64, --num_hidden_layers=2)")
    p.set_defaults(func=new_model)

    p = sub.add_parser(
        "plan", help="DeepSpeed's model-state memory estimates for a model and node shape, and a config to use"
    )
    add_option(
        p,
        "--model_name_or_path",
        old=["--model"],
        required=True,
        help="a preset (starcoder2-3b, starcoder2-7b, starcoder2-15b: no network), a hub id, a model folder or a"
        " config.json",
    )
    p.add_argument("--gpus_per_node", type=_positive(int), default=8)
    p.add_argument("--nodes", type=_positive(int), default=1)
    p.add_argument("--gpu_memory_gb", type=_positive(float), default=80.0, help="memory of one GPU, GiB (default 80)")
    p.add_argument(
        "--cpu_memory_gb",
        type=_positive(float),
        default=None,
        help="CPU memory of one node, GiB (default: not checked)",
    )
    p.add_argument(
        "--micro_batch_size", type=_positive(int), default=4, help="per_device_train_batch_size (default 4)"
    )
    p.add_argument("--seq_length", type=_positive(int), default=2048, help="max_length of a row (default 2048)")
    p.add_argument("--trust_remote_code", action="store_true", help="run code shipped with a hub model's config")
    p.set_defaults(func=plan)


def _positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its errors
    return parse


def new_tokenizer(args: argparse.Namespace) -> int:
    from luacoder.train.tokenizer import docs_texts, train_tokenizer

    tokenizer = train_tokenizer(docs_texts(args.paths), vocab_size=args.vocab_size)
    tokenizer.save_pretrained(args.output_dir)
    print(f"tokenizer with {len(tokenizer)} tokens (dialogue and FIM tokens included) saved to {args.output_dir}")
    return 0


def new_model(args: argparse.Namespace) -> int:
    import yaml
    from transformers import AutoTokenizer

    from luacoder.config import parse_overrides
    from luacoder.train.tiny_model import save_tiny_model

    given = parse_overrides([f"--{text}" for text in args.set] + args.overrides)  # a ConfigError: luacoder.cli
    overrides = {key: yaml.safe_load(value) for key, value in given.items()}
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    model = save_tiny_model(args.family, tokenizer, args.output_dir, seed=args.seed, **overrides)
    n = sum(p.numel() for p in model.parameters())
    print(f"{args.family} model with {n:,} parameters and its tokenizer saved to {args.output_dir}")
    return 0


def plan(args: argparse.Namespace) -> int:
    from luacoder.train.plan import (
        activation_estimate,
        count_params,
        estimate,
        format_plan,
        load_config,
        recommend,
    )

    # A PlanError is reported by luacoder.cli.
    config, name = load_config(args.model_name_or_path, trust_remote_code=args.trust_remote_code)
    size = count_params(config, trust_remote_code=args.trust_remote_code)
    estimates = estimate(size, args.gpus_per_node, args.nodes)
    activations = activation_estimate(config, args.micro_batch_size, args.seq_length)
    print(
        format_plan(
            name,
            size,
            estimates,
            args.nodes,
            args.gpu_memory_gb,
            args.cpu_memory_gb,
            activations,
            args.micro_batch_size,
            args.seq_length,
        )
    )
    return 0 if recommend(estimates, args.gpu_memory_gb, args.cpu_memory_gb) else 1
