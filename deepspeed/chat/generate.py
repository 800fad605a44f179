"""Ask a chat checkpoint questions: interactively, one prompt, or a whole file of prompts in batches.

    python generate.py --model_name_or_path ../../outputs/chat/checkpoint-500      (or --model_id, LuaCoder's name)
    python generate.py --model_name_or_path ../../outputs/chat --prompt "Read a file line by line in Lua"
    python generate.py --model_name_or_path ../../outputs/chat --prompts_file prompts.csv --output_file answers.jsonl

Prompts are formatted with the checkpoint tokenizer's chat template, as in training; answers end at `<|end|>` (or
EOS). Interactive mode reads one prompt a line from stdin until EOF or `exit`, keeping the conversation so that
follow-up questions work (`reset` starts a new one). A prompts file is a .txt (one prompt a line), a .jsonl with a
`prompt` field or a .csv with a `prompt` column; the output has one {"prompt", "answer"} row per prompt, in order.
Greedy decoding unless --do_sample.

Weights are loaded from safetensors files only: a checkpoint with only pickled weights (pytorch_model.bin) is
refused, since unpickling runs code the file's author chose. Code shipped with a model runs only with
--trust_remote_code.
"""

import argparse
import logging
import sys

from transformers import set_seed

from luacoder.errors import report
from luacoder.evaluation.prompts import read_prompts
from luacoder.files import atomic_open
from luacoder.train.generation import MAX_NEW_TOKENS, answer_rows, chat_messages, generate_answers
from luacoder.train.model_setup import DTYPES, load_chat_model

logger = logging.getLogger("generate")

# 1. Arguments.
parser = argparse.ArgumentParser(
    description=__doc__.split("\n")[0],
    epilog=__doc__.split("\n\n")[-1].strip(),
)
# --model_id is the original LuaCoder toolkit's name for it, kept as an alias.
parser.add_argument(
    "--model_name_or_path",
    "--model_id",
    dest="model_name_or_path",
    required=True,
    help="checkpoint folder (or hub id) with a chat tokenizer",
)
parser.add_argument("--trust_remote_code", action="store_true", help="run code shipped with a hub model")
parser.add_argument("--dtype", default="auto", choices=DTYPES)
parser.add_argument("--system_prompt", default=None)
parser.add_argument("--prompt", default=None, help="answer this one prompt and exit")
parser.add_argument("--prompts_file", default=None, help=".txt, .jsonl (prompt field) or .csv (prompt column)")
parser.add_argument("--output_file", default=None, help=".jsonl of {prompt, answer}; needs --prompts_file")
parser.add_argument("--batch_size", type=int, default=8)
parser.add_argument("--max_new_tokens", type=int, default=MAX_NEW_TOKENS)
parser.add_argument("--do_sample", action="store_true", help="sample instead of greedy decoding")
parser.add_argument("--temperature", type=float, default=0.2)
parser.add_argument("--top_p", type=float, default=0.95)
parser.add_argument("--top_k", type=int, default=50)
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()
if args.prompts_file and args.prompt is not None:
    parser.error("give either --prompt or --prompts_file, not both")
if bool(args.prompts_file) != bool(args.output_file):
    parser.error("--prompts_file and --output_file go together")
if args.prompt is not None and not args.prompt.strip():
    parser.error("--prompt is empty")
if args.batch_size < 1 or args.max_new_tokens < 1:
    parser.error("--batch_size and --max_new_tokens must be at least 1")
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
set_seed(args.seed)

# 2. Prompts before the model, so that a bad prompts file fails in a second rather than after loading.
try:
    prompts = read_prompts(args.prompts_file) if args.prompts_file else None
    model, tokenizer = load_chat_model(args.model_name_or_path, args.dtype, args.trust_remote_code)
except (OSError, ValueError) as exc:  # a prompts file or model folder that cannot be read, named in the message
    sys.exit(report("generate.py", exc))
logger.info("loaded %s (%s) on %s", args.model_name_or_path, model.dtype, model.device)

decoding = dict(max_new_tokens=args.max_new_tokens, do_sample=args.do_sample)
if args.do_sample:
    decoding.update(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k)

# 3a. Batch mode: every prompt of the file, one row each, written in one go.
if prompts is not None:
    conversations = [chat_messages(prompt, args.system_prompt) for prompt in prompts]
    answers = generate_answers(model, tokenizer, conversations, batch_size=args.batch_size, progress=True, **decoding)
    with atomic_open(args.output_file) as handle:
        handle.write(answer_rows(prompts, answers))
    logger.info("wrote %d answers to %s", len(answers), args.output_file)

# 3b. One prompt.
elif args.prompt is not None:
    print(generate_answers(model, tokenizer, [chat_messages(args.prompt, args.system_prompt)], **decoding)[0])

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
        messages = chat_messages(prompt, args.system_prompt, history)
        answer = generate_answers(model, tokenizer, [messages], **decoding)[0]
        print(answer, end="\n\n", flush=True)
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
