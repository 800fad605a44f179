"""Generation for eval: a checkpoint's continuations of prompt texts, with the number of tokens each took.

`hf` runs transformers' `generate` through `luacoder.train.generation` (batched, left padding, cut at `<|end|>`
or EOS: the same code `deepspeed/chat/generate.py` uses). `vllm` runs vLLM's offline `LLM` on a GPU machine with
the same prompt tokens, stop tokens and answer clean-up; it is used only where vllm is installed.

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

BACKENDS = ("hf", "vllm")


class BackendError(RuntimeError):
    """The backend cannot run here; the message says what to do."""


@dataclass
class Decoding:
    max_new_tokens: int = 512
    do_sample: bool = False
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 50

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
    ):
        from luacoder.train.generation import load_chat_model

        self.report_type, self.system_prompt = report_type, system_prompt
        if report_type == "markdown":
            self.model, self.tokenizer = load_chat_model(str(path), dtype, trust_remote_code, device)
        else:
            self.model, self.tokenizer = _load_plain(path, dtype, trust_remote_code, device)

    def prompt_text(self, prompt: str) -> str:
        return _prompt_text(self.tokenizer, prompt, self.report_type, self.system_prompt)

    def complete(self, texts: Sequence[str], decoding: Decoding, batch_size: int) -> list[Any]:
        from luacoder.train.generation import generate_completions

        return generate_completions(
            self.model,
            self.tokenizer,
            texts,
            max_new_tokens=decoding.max_new_tokens,
            batch_size=batch_size,
            add_special_tokens=self.report_type == "code",
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
    ):
        from transformers import AutoTokenizer, GenerationConfig
        from vllm import LLM

        from luacoder.train.generation import stop_token_ids

        self.report_type, self.system_prompt, self.seed = report_type, system_prompt, seed
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        if report_type == "markdown" and not self.tokenizer.chat_template:
            raise ValueError(f"{path}: the tokenizer has no chat template; use a LuaCoder chat checkpoint")
        try:
            generation_config = GenerationConfig.from_pretrained(str(path))
        except OSError:
            generation_config = GenerationConfig()
        self.stops = stop_token_ids(types.SimpleNamespace(generation_config=generation_config), self.tokenizer)
        # load_format="safetensors": as the HF backend, never unpickle a checkpoint's weights.
        self.llm = LLM(
            model=str(path), dtype=dtype, seed=seed, trust_remote_code=trust_remote_code, load_format="safetensors"
        )

    def prompt_text(self, prompt: str) -> str:
        return _prompt_text(self.tokenizer, prompt, self.report_type, self.system_prompt)

    def complete(self, texts: Sequence[str], decoding: Decoding, batch_size: int) -> list[Any]:
        from vllm import SamplingParams

        from luacoder.train.generation import Completion, decode_answer

        params = SamplingParams(
            temperature=decoding.temperature if decoding.do_sample else 0.0,
            top_p=decoding.top_p if decoding.do_sample else 1.0,
            top_k=decoding.top_k if decoding.do_sample else -1,
            max_tokens=decoding.max_new_tokens,
            stop_token_ids=self.stops,
            seed=self.seed,
            skip_special_tokens=False,
        )
        ids = self.tokenizer(list(texts), add_special_tokens=self.report_type == "code")["input_ids"]
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


def load_backend(name: str, path: str | Path, report_type: str, **options: Any) -> HfBackend | VllmBackend:
    """options: system_prompt, dtype, trust_remote_code, and device (hf) or seed (vllm)."""
    check_backend(name)
    if name == "vllm":
        options.pop("device", None)
        return VllmBackend(path, report_type, **options)
    options.pop("seed", None)
    return HfBackend(path, report_type, **options)


def _prompt_text(tokenizer, prompt: str, report_type: str, system_prompt: str | None) -> str:
    from luacoder.train.generation import chat_messages, format_chat

    return format_chat(tokenizer, chat_messages(prompt, system_prompt)) if report_type == "markdown" else prompt


def _load_plain(path: str | Path, dtype: str, trust_remote_code: bool, device: str | None):
    """A model and tokenizer for raw completion: no chat template needed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a model folder (no config.json in it)")
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        str(path),
        dtype=dtype if dtype == "auto" else getattr(torch, dtype),
        trust_remote_code=trust_remote_code,
        use_safetensors=True,  # never a pickle: a checkpoint from elsewhere must not run its author's code
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
