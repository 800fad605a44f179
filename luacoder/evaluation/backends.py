"""Generation for eval: a checkpoint's continuations of prompt texts, with the number of tokens each took.

`hf` decodes batches of `batch_size` with `luacoder.train.shrinking_batch` (left padding, a row leaves the batch
once it writes `<|end|>` or EOS; the stop tokens and answer clean-up of `luacoder.train.generation`). `vllm` runs
vLLM's offline `LLM` on a GPU machine: all of a checkpoint's prompts go in one `generate` call, so its scheduler
batches continuously; used only where vllm is installed. Both seed sampling per prompt (`seeds`), so an answer
never depends on which prompts were generated with it.

A "markdown" eval formats each prompt with the checkpoint's chat template (the tokenizer must carry one); a "code"
eval feeds the prompt as raw text, the start of a Lua file, and takes the continuation.
"""

from __future__ import annotations

import gc
import importlib.util
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.errors import UserError
from luacoder.train.generation import MAX_NEW_TOKENS

BACKENDS = ("hf", "vllm")


class BackendError(UserError, RuntimeError):
    """The backend cannot run here; the message says what to do."""


@dataclass
class Decoding:
    max_new_tokens: int = MAX_NEW_TOKENS
    do_sample: bool = False
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 50
    stop: tuple[str, ...] = ()  # text that ends a completion (code mode; the caller cuts the text at it)

    def hf_kwargs(self) -> dict[str, Any]:
        if not self.do_sample:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}


def check_backend(name: str) -> None:
    """Fail early, before any checkpoint is loaded, when the backend cannot run on this machine."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise BackendError(
                "backend 'vllm' needs the vllm package, which is not installed here: install it on a GPU machine "
                "(pip install vllm) or use backend: hf"
            )
        import torch

        if not torch.cuda.is_available():
            raise BackendError("backend 'vllm' needs a CUDA GPU and none is visible: use backend: hf")


class HfBackend:
    def __init__(
        self,
        path: str | Path,
        report_type: str,
        system_prompt: str | None = None,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        device: str | None = None,
        batch_size: int = 8,
        few_shot: Sequence[dict[str, str]] = (),
    ):
        from luacoder.train.model_setup import load_chat_model

        self.report_type, self.system_prompt, self.batch_size = report_type, system_prompt, batch_size
        self.few_shot = list(few_shot)
        self.all_at_once = False  # eval caches answers batch by batch: a killed run loses one batch at most
        self.model, self.tokenizer = load_chat_model(
            str(path), dtype, trust_remote_code, device, chat=report_type == "markdown"
        )

    def prompt_text(self, prompt: str) -> str:
        return _prompt_text(self.tokenizer, prompt, self.report_type, self.system_prompt, self.few_shot)

    def complete(self, texts: Sequence[str], decoding: Decoding, seeds: Sequence[int]) -> list[Any]:
        from luacoder.train.shrinking_batch import generate_shrinking

        return generate_shrinking(
            self.model,
            self.tokenizer,
            texts,
            seeds=seeds,
            max_new_tokens=decoding.max_new_tokens,
            batch_size=self.batch_size,
            add_special_tokens=self.report_type == "code",
            stop_strings=decoding.stop,
            **decoding.hf_kwargs(),
        )

    def close(self) -> None:
        del self.model
        _free_memory()


class VllmBackend:
    def __init__(
        self,
        path: str | Path,
        report_type: str,
        system_prompt: str | None = None,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        seed: int = 42,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        few_shot: Sequence[dict[str, str]] = (),
    ):
        from transformers import AutoTokenizer, GenerationConfig
        from vllm import LLM

        from luacoder.train.generation import stop_token_ids

        self.report_type, self.system_prompt, self.seed = report_type, system_prompt, seed
        self.few_shot = list(few_shot)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        if report_type == "markdown" and not self.tokenizer.chat_template:
            raise ValueError(f"{path}: the tokenizer has no chat template; use a LuaCoder chat checkpoint")
        try:
            generation_config = GenerationConfig.from_pretrained(str(path))
        except OSError:
            generation_config = GenerationConfig()
        self.stops = stop_token_ids(types.SimpleNamespace(generation_config=generation_config), self.tokenizer)
        self.all_at_once = True  # vLLM's scheduler batches continuously only over the requests it is given
        self.llm = LLM(
            **vllm_engine_options(path, dtype, seed, trust_remote_code, tensor_parallel_size, gpu_memory_utilization)
        )

    def prompt_text(self, prompt: str) -> str:
        return _prompt_text(self.tokenizer, prompt, self.report_type, self.system_prompt, self.few_shot)

    def complete(self, texts: Sequence[str], decoding: Decoding, seeds: Sequence[int]) -> list[Any]:
        from vllm import SamplingParams

        from luacoder.train.generation import Completion, decode_answer

        if len(seeds) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(seeds)} seeds")
        params = [SamplingParams(**vllm_sampling_options(decoding, seed, self.stops)) for seed in seeds]
        ids = self.tokenizer(list(texts), add_special_tokens=self.report_type == "code")["input_ids"]
        # One call with every request: vLLM schedules them continuously (finished sequences free their slots).
        outputs = self.llm.generate([{"prompt_token_ids": i} for i in ids], params, use_tqdm=False)
        completions = []
        for output in outputs:
            new_ids = list(output.outputs[0].token_ids)
            stop = next((n for n, t in enumerate(new_ids) if t in set(self.stops)), len(new_ids))
            completions.append(
                Completion(decode_answer(self.tokenizer, new_ids, self.stops), min(stop + 1, len(new_ids)))
            )
        return completions

    def close(self) -> None:
        del self.llm
        _free_memory()


def vllm_engine_options(
    path: str | Path,
    dtype: str,
    seed: int,
    trust_remote_code: bool,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
) -> dict[str, Any]:
    """The keyword arguments of `vllm.LLM` for one checkpoint."""
    return {
        "model": str(path),
        "tokenizer": str(path),
        "dtype": dtype,
        "seed": seed,
        "trust_remote_code": trust_remote_code,
        "tensor_parallel_size": tensor_parallel_size,
        "gpu_memory_utilization": gpu_memory_utilization,
        "load_format": "safetensors",  # as the HF backend: never unpickle a checkpoint's weights
        # Every eval prompt starts with the same system prompt and template: its KV blocks are computed once.
        "enable_prefix_caching": True,
    }


def vllm_sampling_options(decoding: Decoding, seed: int, stops: Sequence[int]) -> dict[str, Any]:
    """The keyword arguments of one prompt's `vllm.SamplingParams` (greedy is temperature 0)."""
    return {
        "temperature": decoding.temperature if decoding.do_sample else 0.0,
        "top_p": decoding.top_p if decoding.do_sample else 1.0,
        "top_k": decoding.top_k if decoding.do_sample else -1,
        "max_tokens": decoding.max_new_tokens,
        "stop_token_ids": list(stops),
        "stop": list(decoding.stop) or None,
        "seed": seed,
        "skip_special_tokens": False,
    }


HF_ONLY, VLLM_ONLY = ("device", "batch_size"), ("seed", "tensor_parallel_size", "gpu_memory_utilization")


def load_backend(name: str, path: str | Path, report_type: str, **options: Any) -> HfBackend | VllmBackend:
    """options: system_prompt, dtype, trust_remote_code, few_shot; device and batch_size (hf); seed,
    tensor_parallel_size and gpu_memory_utilization (vllm). Options of the other backend are ignored."""
    check_backend(name)
    for key in HF_ONLY if name == "vllm" else VLLM_ONLY:
        options.pop(key, None)
    return VllmBackend(path, report_type, **options) if name == "vllm" else HfBackend(path, report_type, **options)


def _prompt_text(
    tokenizer, prompt: str, report_type: str, system_prompt: str | None, few_shot: Sequence[dict[str, str]] = ()
) -> str:
    """The text the model continues. Few-shot turns (luacoder.evaluation.few_shot) go between the system prompt and
    the question as earlier turns of the chat; a code eval puts their text first, as a file would have it."""
    from luacoder.train.generation import chat_messages, format_chat

    if report_type == "markdown":
        return format_chat(tokenizer, chat_messages(prompt, system_prompt, few_shot))
    return "".join(m["content"].rstrip() + "\n\n" for m in few_shot if m["role"] == "assistant") + prompt


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
