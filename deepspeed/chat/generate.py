"""Ask a chat checkpoint questions: interactively, one prompt, or a whole file of prompts in batches.

    python generate.py --model_name_or_path ../../outputs/chat/checkpoint-500
    python generate.py --model_name_or_path ../../outputs/chat --prompt "Read a file line by line in Lua"
    python generate.py --model_name_or_path ../../outputs/chat --prompt_file prompts.csv -o answers.jsonl
    python generate.py --model_name_or_path ../../outputs/chat --api_path ../../outputs/data/api.json \
        --retrieval_k 5 --constrained --prompt "Sort a table of names"

A question is put exactly as eval.py and the playground put it (`luacoder.evaluation.engine`): the checkpoint
tokenizer's chat template, the system prompt the checkpoint was trained with (its luacoder_meta.json; --system_prompt
gives another, "" none), answers that end at its end-of-turn token. With --api_path, --retrieval_k N puts the N
documented entries that fit each question before it (open book) and --constrained keeps the member names written
after a documented module or typed value to documented ones. Interactive mode reads one prompt a line from stdin
until EOF or `exit`, keeping the conversation so that follow-up questions work (`reset` starts a new one). A
prompts file is a .txt (one prompt a line), a .jsonl with a `prompt` field or a .csv with a `prompt` column; the
output has one {"prompt", "answer"} row per prompt, in order. Greedy decoding unless --do_sample (prompt i is
sampled with --seed + i).

Weights are loaded from safetensors files only: a checkpoint with only pickled weights (pytorch_model.bin) is
refused, since unpickling runs code the file's author chose. Code shipped with a model runs only with
--trust_remote_code.
"""

import argparse
import json
import logging
import sys

from luacoder.apidocs.json_docs import read_json_docs
from luacoder.cli import add_option, add_output_file
from luacoder.config import DEFAULT_SEED
from luacoder.errors import UserError, report
from luacoder.evaluation.engine import BATCH_SIZE, DEFAULT_DECODING, AskOptions, Decoding, Engine, system_prompt_for
from luacoder.evaluation.prompts import read_prompts
from luacoder.files import atomic_open
from luacoder.train.model_setup import DTYPES

logger = logging.getLogger("generate")

# 1. Arguments.
parser = argparse.ArgumentParser(
    description=__doc__.split("\n")[0],
    epilog=__doc__.split("\n\n")[-1].strip(),
)
# --model_id is the original LuaCoder toolkit's name for it, still read.
add_option(
    parser,
    "--model_name_or_path",
    old=["--model_id"],
    required=True,
    help="checkpoint folder (or hub id) with a chat tokenizer",
)
parser.add_argument("--trust_remote_code", action="store_true", help="run code shipped with a hub model")
parser.add_argument("--dtype", default="auto", choices=DTYPES)
parser.add_argument(
    "--system_prompt", default=None, help="default: the one the checkpoint was trained with; '' for none"
)
parser.add_argument("--prompt", default=None, help="answer this one prompt and exit")
add_option(
    parser,
    "--prompt_file",
    old=["--prompts_file"],
    help="prompts to answer: .txt (one a line), .jsonl (prompt field) or .csv (prompt column)",
)
add_output_file(parser, ".jsonl of {prompt, answer}; needs --prompt_file")
parser.add_argument("--api_path", default=None, help="api.json: needed by --retrieval_k and --constrained")
parser.add_argument("--retrieval_k", type=int, default=0, help="open book: the k documented entries that fit")
parser.add_argument("--constrained", action="store_true", help="member names kept to documented ones")
parser.add_argument("--batch_size", type=int, default=BATCH_SIZE)
parser.add_argument("--max_new_tokens", type=int, default=DEFAULT_DECODING.max_new_tokens)
parser.add_argument("--do_sample", action="store_true", help="sample instead of greedy decoding")
parser.add_argument("--temperature", type=float, default=DEFAULT_DECODING.temperature)
parser.add_argument("--top_p", type=float, default=DEFAULT_DECODING.top_p)
parser.add_argument("--top_k", type=int, default=DEFAULT_DECODING.top_k)
parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
args = parser.parse_args()
if args.prompt_file and args.prompt is not None:
    parser.error("give either --prompt or --prompt_file, not both")
if bool(args.prompt_file) != bool(args.output_file):
    parser.error("--prompt_file and --output_file go together")
if args.prompt is not None and not args.prompt.strip():
    parser.error("--prompt is empty")
if args.batch_size < 1 or args.max_new_tokens < 1 or args.retrieval_k < 0:
    parser.error("--batch_size and --max_new_tokens must be at least 1, --retrieval_k at least 0")
if (args.retrieval_k or args.constrained) and not args.api_path:
    parser.error("--retrieval_k and --constrained need --api_path (the api.json the answers keep to)")
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
decoding = Decoding(args.max_new_tokens, args.do_sample, args.temperature, args.top_p, args.top_k)

# 2. Prompts and docs before the model, so that a bad file fails in a second rather than after loading.
try:
    prompts = read_prompts(args.prompt_file) if args.prompt_file else None
    api = read_json_docs(args.api_path) if args.api_path else None
    options = AskOptions(
        system_prompt=system_prompt_for(args.model_name_or_path, args.system_prompt),
        retrieval_k=args.retrieval_k,
        constrained=args.constrained,
    )
    engine = Engine.load(
        args.model_name_or_path,
        options,
        api=api,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        batch_size=args.batch_size,
    )
except (OSError, ValueError, UserError) as exc:  # a file or model folder that cannot be read, named in the message
    sys.exit(report("generate.py", exc))
model = engine.backend.model
logger.info("loaded %s (%s) on %s", args.model_name_or_path, model.dtype, model.device)


def answer(questions: list[str], histories=None) -> list[str]:
    seeds = [args.seed + i for i in range(len(questions))]
    return [c.text for c in engine.answer(questions, decoding, seeds, histories)]


# 3a. Batch mode: every prompt of the file, one row each, written in one go.
if prompts is not None:
    answers = answer(prompts)
    with atomic_open(args.output_file) as handle:
        for prompt, text in zip(prompts, answers, strict=True):
            handle.write(json.dumps({"prompt": prompt, "answer": text}, ensure_ascii=False) + "\n")
    logger.info("wrote %d answers to %s", len(answers), args.output_file)

# 3b. One prompt.
elif args.prompt is not None:
    print(answer([args.prompt])[0])

# 3c. Interactive: one prompt a line, the conversation so far goes with each.
else:
    interactive = sys.stdin.isatty()
    if interactive:
        print("Type a prompt and press Enter; `reset` starts a new conversation, `exit` or Ctrl-D ends.")
    history = []
    while True:
        try:
            prompt = input("user> " if interactive else "")
        except EOFError:
            break
        if prompt.strip() == "exit":
            break
        if prompt.strip() == "reset":
            history = []
            continue
        if not prompt.strip():
            continue
        text = answer([prompt], [history])[0]
        print(text, end="\n\n", flush=True)
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]
