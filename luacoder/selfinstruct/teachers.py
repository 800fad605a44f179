"""The teacher: the model that writes self-instruct data, wherever the user has one.

    teacher = make_teacher("http://localhost:8000/v1")          # any OpenAI-compatible server (vLLM, llama.cpp, ...)
    teacher = make_teacher("self", base_model="outputs/models/smollm2-135m-instruct")   # the user's own base model
    teacher = make_teacher("path/to/Qwen2.5-Coder-7B-Instruct")  # a model folder, generated in this process

- **ServerTeacher**: requests to an OpenAI-compatible server through `luacoder.selfinstruct.client` (retries,
  concurrency, failures with reasons); the model name is the one the server lists first unless one is given.
- **ModelTeacher**: the model generates in this process, in batches, with no server: vLLM's offline batch generation
  on a GPU where vllm is installed, else transformers (the CPU, or a GPU without vLLM). `self` is the base model of
  the run being trained (self-alignment, as StarCoder2-Instruct: the model writes its own instruction data, and only
  what passes the checks is kept).

Both record every unit's outcome in the same `RunLog` (kept or rejected with a reason, a line at a time), so a killed
run goes on with `--continue` whichever teacher wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from luacoder.evaluation.engine import BATCH_SIZE
from luacoder.selfinstruct.client import Answer, Failure, Sampling, ServerSettings
from luacoder.selfinstruct.run_log import RunLog
from luacoder.selfinstruct.runner import Parse, RunCounts, Unit, record_outcome, run_sync, run_units

log = logging.getLogger(__name__)
SELF = "self"


class Teacher(Protocol):
    api_style: str  # "chat" (the prompt's examples as turns) or "completions" (a few-shot text to continue)

    def describe(self) -> dict[str, Any]:
        """What identifies the teacher in a run's fingerprint and summary."""
        ...

    def run(
        self,
        units: Sequence[Unit],
        sampling: Sampling,
        parse: Parse,
        run_log: RunLog,
        *,
        desc: str,
        max_consecutive_failures: int,
        counts: RunCounts,
    ) -> RunCounts:
        """Ask for every unit without an outcome in `run_log` and record each outcome there."""
        ...


@dataclass
class ServerTeacher:
    settings: ServerSettings

    @property
    def api_style(self) -> str:
        return self.settings.api_style

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "kind": "server",
            "model": s.model,
            "base_url": s.resolved_base_url(),
            "concurrency": s.concurrency,
            "timeout": s.timeout,
            "max_retries": s.max_retries,
        }

    def run(self, units, sampling, parse, run_log, *, desc, max_consecutive_failures, counts) -> RunCounts:
        return run_sync(
            run_units(
                units,
                self.settings,
                sampling,
                parse,
                run_log,
                desc=desc,
                max_consecutive_failures=max_consecutive_failures,
                counts=counts,
            )
        )


@dataclass
class ModelTeacher:
    path: str
    backend: str = "hf"  # "hf" (transformers) or "vllm" (offline batch generation on a GPU)
    api_style: str = "chat"
    batch_size: int = BATCH_SIZE
    dtype: str = "auto"
    device: str | None = None
    trust_remote_code: bool = False
    chunk: int = 64  # units generated before their outcomes are written (what a kill can lose)
    _engine: Any = field(default=None, init=False, repr=False)

    def describe(self) -> dict[str, Any]:
        return {"kind": "model", "model": str(self.path), "backend": self.backend}

    def run(self, units, sampling, parse, run_log, *, desc, max_consecutive_failures, counts) -> RunCounts:
        todo = [u for u in units if u.id not in run_log.done]
        counts.units, counts.skipped = len(units), len(units) - len(todo)
        for start in tqdm(range(0, len(todo), self.chunk), desc=desc, unit="chunk", disable=len(todo) <= self.chunk):
            part = todo[start : start + self.chunk]
            for unit, outcome in zip(part, self.generate(part, sampling), strict=True):
                record_outcome(unit, outcome, parse, run_log, counts)
        return counts

    def generate(self, units: Sequence[Unit], sampling: Sampling) -> list[Answer | Failure]:
        """One outcome per unit; an answer that used every one of `max_tokens` without stopping is truncated."""
        requests = [u.messages if u.messages is not None else u.prompt for u in units]
        texts = generate_in_process(self, requests, sampling, [u.seed for u in units])
        outcomes: list[Answer | Failure] = []
        for text, finished in texts:
            if finished:
                outcomes.append(Answer(text, "stop"))
            else:
                outcomes.append(Failure("truncated", "the answer reached max_tokens", text=text))
        return outcomes


def generate_in_process(
    teacher: ModelTeacher, requests: Sequence[list[dict[str, str]] | str | None], sampling: Sampling, seeds: list[int]
) -> list[tuple[str, bool]]:
    """(text, finished) per request: a chat (formatted with the model's chat template) or a text to continue.

    The one place where a teacher asks a model in this process: through the inference engine, so that the teacher
    decodes exactly as eval does (stop tokens, batching, per-request seeds)."""
    from luacoder.evaluation.engine import AskOptions, Decoding, Engine, format_chat

    chat = teacher.api_style == "chat"
    if teacher._engine is None:
        import torch

        # bfloat16 weights crawl on most CPUs: there, "auto" is float32 (as eval's CPU config).
        dtype = "float32" if teacher.dtype == "auto" and not torch.cuda.is_available() else teacher.dtype
        options: dict[str, Any] = {"dtype": dtype, "trust_remote_code": teacher.trust_remote_code}
        options.update(device=teacher.device, batch_size=teacher.batch_size, seed=seeds[0] if seeds else 0)
        # The requests carry their own system turn (or are raw text): the engine only formats and decodes them.
        asked = AskOptions(report_type="markdown" if chat else "code")
        teacher._engine = Engine.load(teacher.path, asked, backend=teacher.backend, **options)
    engine = teacher._engine
    texts = [format_chat(engine.tokenizer, r) if chat else str(r) for r in requests]  # type: ignore[arg-type]
    decoding = Decoding(
        max_new_tokens=sampling.max_tokens,
        do_sample=sampling.temperature > 0,
        temperature=max(sampling.temperature, 1e-5),
        top_p=1.0,
        top_k=-1 if teacher.backend == "vllm" else 0,  # no top-k cut: plain temperature sampling, as a server does
        stop=tuple(sampling.stop),
    )
    out = []
    for completion in engine.complete(texts, decoding, seeds):
        text = completion.text
        stopped = next((text.index(s) for s in sampling.stop if s in text), None)
        if stopped is not None:
            text = text[:stopped]
        out.append((text, stopped is not None or completion.new_tokens < sampling.max_tokens))
    return out


def served_model(base_url: str, api_key: str | None = None) -> str:
    """The first model an OpenAI-compatible server lists (vLLM serves one; `transformers serve` lists what it has)."""
    import openai

    from luacoder.selfinstruct.client import ServerConfigError

    client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY", max_retries=1, timeout=30)
    try:
        models = [m.id for m in client.models.list()]
    except openai.APIError as exc:
        message = f"{base_url}: cannot list the served models ({exc}); name one with --teacher_model"
        raise ServerConfigError(message) from None
    if not models:
        raise ServerConfigError(f"{base_url} serves no model; name one with --teacher_model")
    return models[0]


def in_process_backend() -> str:
    """vllm where it is installed and a CUDA GPU is visible, else hf."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "hf"
    import torch

    return "vllm" if torch.cuda.is_available() else "hf"


def make_teacher(
    spec: str,
    *,
    base_model: str | Path | None = None,
    model: str | None = None,
    api_style: str | None = None,
    concurrency: int = 8,
    backend: str | None = None,
    batch_size: int = BATCH_SIZE,
    device: str | None = None,
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> Teacher:
    """The teacher `spec` names: a URL (an OpenAI-compatible server, ending in /v1), `self` (the `base_model`), or a
    model folder. `model`: the server's name for the model (default: the first it lists); `api_style`: chat (the
    default) or completions (a base model continuing a few-shot text); `backend`: hf or vllm for a model in this
    process (default: vllm on a GPU where it is installed, else hf)."""
    style = api_style or "chat"
    if spec.startswith(("http://", "https://")):
        settings = ServerSettings(
            model=model or served_model(spec), base_url=spec, api_style=style, concurrency=concurrency
        )
        return ServerTeacher(settings)
    if spec == SELF:
        if base_model is None:
            raise ValueError("--teacher self needs the base model (a model folder) whose own answers to use")
        path = Path(base_model)
    else:
        path = Path(spec).expanduser()
    if not (path / "config.json").is_file():
        raise ValueError(
            f"teacher {spec!r}: {path} is not a model folder (no config.json); give a URL of an OpenAI-compatible"
            " server (http://host:port/v1), 'self', or a model folder"
        )
    return ModelTeacher(
        str(path.resolve()),
        backend=backend or in_process_backend(),
        api_style=style,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
    )


def add_teacher_arguments(parser) -> None:
    """The options that pick a teacher, shared by `luacoder synthesize` and `luacoder replay`."""
    group = parser.add_argument_group("teacher")
    group.add_argument(
        "--teacher",
        help="a URL of an OpenAI-compatible server (http://localhost:8000/v1), 'self' (the --base_model), or a model"
        " folder generated in this process (vLLM on a GPU where installed, else transformers); default: the config's"
        " synthesis.teacher, else self when a base model is given",
    )
    group.add_argument("--teacher_model", help="the server's name for the model (default: the first it lists)")
    group.add_argument("--base_model", help="the model folder 'self' stands for (default: synthesis.base_model)")
    group.add_argument("--api_style", choices=["chat", "completions"], help="default: synthesis.api_style (chat)")
    group.add_argument("--backend", choices=["hf", "vllm"], help="for a model in this process (default: auto)")
    group.add_argument(
        "--batch_size",
        type=int,
        default=BATCH_SIZE,
        help="prompts per batch for a model in this process (%(default)d)",
    )
    group.add_argument("--device", help="cpu, cuda, ... for a model in this process (default: the best there is)")


def teacher_from_args(args, config) -> Teacher:
    """The teacher the command line names, falling back on the data config's `synthesis` section."""
    return teacher_from_config(
        config,
        spec=args.teacher,
        base_model=args.base_model,
        model=args.teacher_model,
        api_style=args.api_style,
        backend=args.backend,
        batch_size=args.batch_size,
        device=args.device,
    )


def teacher_from_config(config, spec: str | None = None, base_model: str | None = None, **options) -> Teacher:
    """The teacher of the data config's `synthesis` section (`teacher`, `base_model`, `teacher_model`, `api_style`,
    `concurrency`); arguments given here win."""
    cfg = config.synthesis
    base = base_model or cfg.base_model
    spec = spec or cfg.teacher or (SELF if base else None)  # the base model teaches itself unless told otherwise
    if not spec:
        raise ValueError("no teacher: pass --teacher URL|self|MODEL_FOLDER or --base_model (or set synthesis.teacher)")
    options = {k: v for k, v in options.items() if v is not None}
    options.setdefault("model", cfg.teacher_model)
    options.setdefault("api_style", cfg.api_style)
    options.setdefault("concurrency", cfg.concurrency)
    return make_teacher(spec, base_model=config.path(base) if base else None, **options)
