"""The inference engine's backends: a loaded checkpoint's continuations of prompt texts, with the tokens each took.

`hf` decodes batches of `batch_size` with `luacoder.evaluation.shrinking_batch` (left padding, a row leaves the batch
once it writes a stop token). `vllm` runs vLLM's offline `LLM` on a GPU machine: all the prompts of a `complete`
call go in one `generate` call, so its scheduler batches continuously; used only where vllm is installed. Both seed
sampling per prompt (`seeds`), so an answer never depends on which prompts were generated with it, and both stop at
`luacoder.train.chat_format.stop_token_ids`.

A "markdown" checkpoint must carry a chat template (prompts are formatted with it, `luacoder.evaluation.engine`); a
"code" checkpoint continues raw text. Decoding constrained to documented names (`luacoder.evaluation.constrained`)
takes each backend's own form, made by `constraint_for`: for hf an `ApiNameConstraint` whose processor is made anew
for each batch; for vllm the request's `extra_args` that turn on the processor every `LLM` here is built with.
"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from luacoder.config import DEFAULT_SEED
from luacoder.errors import UserError
from luacoder.evaluation.engine import BATCH_SIZE, Completion, Decoding

BACKENDS = ("hf", "vllm")


class BackendError(UserError, RuntimeError):
    """The backend cannot run here; the message says what to do."""


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
    """A transformers model and its tokenizer (`from_path`, or one already loaded: a test's, gguf_import's check)."""

    all_at_once = False  # eval caches answers batch by batch: a killed run loses one batch at most

    def __init__(self, model, tokenizer, report_type: str = "markdown", batch_size: int = BATCH_SIZE):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer, self.report_type, self.batch_size = model, tokenizer, report_type, batch_size

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        report_type: str,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        device: str | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> HfBackend:
        from luacoder.train.model_setup import load_chat_model

        model, tokenizer = load_chat_model(str(path), dtype, trust_remote_code, device, chat=report_type == "markdown")
        return cls(model, tokenizer, report_type, batch_size)

    def constraint_for(self, api: Any, api_path: Any, base: str | None) -> Any:
        """The constraint `complete` takes: an object with `hf_processor(prompt_width)` (ApiNameConstraint)."""
        from luacoder.evaluation.constrained import ApiNameConstraint

        return ApiNameConstraint(self.tokenizer, _entries(api, api_path), report_type=self.report_type, base=base)

    def complete(
        self, texts: Sequence[str], decoding: Decoding, seeds: Sequence[int], constraint: Any = None
    ) -> list[Completion]:
        from luacoder.evaluation.shrinking_batch import generate_shrinking

        def processors(width: int) -> list:  # one per batch: it reads each row's answer from `width` on
            return [constraint.hf_processor(prompt_width=width)]

        return generate_shrinking(
            self.model,
            self.tokenizer,
            texts,
            seeds=seeds,
            max_new_tokens=decoding.max_new_tokens,
            batch_size=self.batch_size,
            add_special_tokens=self.report_type == "code",
            stop_strings=decoding.stop,
            batch_processors=processors if constraint is not None else None,
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
        dtype: str = "auto",
        trust_remote_code: bool = False,
        seed: int = DEFAULT_SEED,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
    ):
        from transformers import AutoTokenizer
        from vllm import LLM

        from luacoder.checkpoints import generation_settings
        from luacoder.train.chat_format import stop_token_ids

        self.report_type, self.seed = report_type, seed
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        if report_type == "markdown" and not self.tokenizer.chat_template:
            raise ValueError(f"{path}: the tokenizer has no chat template; use a LuaCoder chat checkpoint")
        self.stops = stop_token_ids(self.tokenizer, generation_settings(path).stop_token_ids)
        self.all_at_once = True  # vLLM's scheduler batches continuously only over the requests it is given
        self.llm = LLM(
            **vllm_engine_options(path, dtype, seed, trust_remote_code, tensor_parallel_size, gpu_memory_utilization)
        )

    def constraint_for(self, api: Any, api_path: Any, base: str | None) -> dict[str, Any]:
        """The constraint `complete` takes: the `SamplingParams.extra_args` that turn on the engine's processor (it
        reads the api.json itself, in vLLM's worker, so the file's path is needed)."""
        from luacoder.evaluation.constrained import vllm_extra_args

        if api_path is None:
            raise ValueError("constrained decoding with vLLM reads the api.json in its worker: pass api_path=")
        return vllm_extra_args(api_path, base=base, report_type=self.report_type)

    def complete(
        self, texts: Sequence[str], decoding: Decoding, seeds: Sequence[int], constraint: Any = None
    ) -> list[Completion]:
        from vllm import SamplingParams

        from luacoder.evaluation.shrinking_batch import decode_answer, stop_position

        if len(seeds) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(seeds)} seeds")
        extra = {"extra_args": constraint} if constraint is not None else {}
        params = [SamplingParams(**vllm_sampling_options(decoding, seed, self.stops), **extra) for seed in seeds]
        ids = self.tokenizer(list(texts), add_special_tokens=self.report_type == "code")["input_ids"]
        # One call with every request: vLLM schedules them continuously (finished sequences free their slots).
        outputs = self.llm.generate([{"prompt_token_ids": i} for i in ids], params, use_tqdm=False)
        completions = []
        for output in outputs:
            new_ids = list(output.outputs[0].token_ids)
            completions.append(
                Completion(
                    decode_answer(self.tokenizer, new_ids, self.stops),
                    min(stop_position(new_ids, self.stops) + 1, len(new_ids)),
                )
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
    from luacoder.evaluation.constrained import VLLM_PROCESSOR

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
        # Decoding kept to documented names, for the requests whose extra_args ask for it (`constraint_for`).
        "logits_processors": [VLLM_PROCESSOR],
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
    """options: dtype, trust_remote_code; device and batch_size (hf); seed, tensor_parallel_size and
    gpu_memory_utilization (vllm). Options of the other backend are ignored."""
    check_backend(name)
    for key in HF_ONLY if name == "vllm" else VLLM_ONLY:
        options.pop(key, None)
    return (
        VllmBackend(path, report_type, **options)
        if name == "vllm"
        else HfBackend.from_path(path, report_type, **options)
    )


def _entries(api: Any, api_path: Any) -> Any:
    if api is not None:
        return api
    if api_path is None:
        raise ValueError("constrained decoding needs the API docs: pass api= or api_path=")
    from luacoder.apidocs.json_docs import read_json_docs

    return read_json_docs(api_path)


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
