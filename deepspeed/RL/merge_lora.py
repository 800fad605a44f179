"""Merge a LoRA adapter into its base and save a plain model with the tokenizer (safetensors).

    python merge_lora.py --adapter ../../outputs/sft_lora -o ../../outputs/sft_lora_merged

The base is the one the adapter records (adapter_config.json), or --base_model. The merged folder loads with
`AutoModelForCausalLM.from_pretrained` like any checkpoint, so eval.py, generate.py and dpo.py/grpo.py take it as is.
It is uploaded only with --push_to_hub (StarCoder's merge script pushed by default; this one never does).
One process on the CPU or one GPU is enough: no torchrun.
"""

import argparse
import logging
from pathlib import Path

from luacoder.cli import add_output_dir
from luacoder.errors import exit_on_user_errors
from luacoder.rl.lora import merge_adapter
from luacoder.train.model_setup import DTYPES

exit_on_user_errors()  # a missing or wrong adapter folder: one message, exit status 2

logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
logger = logging.getLogger(__name__)

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--adapter", required=True, help="adapter folder (output_dir or a checkpoint-N of sft_lora.py)")
add_output_dir(parser, "folder for the merged model and tokenizer", required=True)
parser.add_argument("--base_model", help="hub id or folder of the base; default: the one the adapter records")
parser.add_argument("--dtype", default="auto", choices=DTYPES)
parser.add_argument("--trust_remote_code", action="store_true", help="run code shipped with a hub base model")
parser.add_argument("--push_to_hub", action="store_true", help="also upload the merged model (off by default)")
parser.add_argument("--hub_model_id", help="repository to push to, with --push_to_hub")
parser.add_argument("--private", action="store_true", help="create the hub repository as private")
args = parser.parse_args()
if args.push_to_hub and not args.hub_model_id:
    parser.error("--push_to_hub needs --hub_model_id (the repository to create or update)")
if Path(args.output_dir).resolve() == Path(args.adapter).resolve():
    parser.error("--output_dir must differ from --adapter: the merged weights would mix with the adapter's files")

merged = merge_adapter(args.adapter, args.output_dir, args.base_model, args.dtype, args.trust_remote_code)
logger.info("merged %s into its base; saved to %s", args.adapter, args.output_dir)

if args.push_to_hub:
    from transformers import AutoTokenizer

    merged.push_to_hub(args.hub_model_id, private=args.private)
    AutoTokenizer.from_pretrained(args.output_dir).push_to_hub(args.hub_model_id, private=args.private)
    logger.info("pushed to %s", args.hub_model_id)
