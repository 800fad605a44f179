"""The one inference engine: everything that asks a checkpoint something goes through it (eval.py, the chat stage's
generate.py, the playground notebooks, the demo's sample answers), so a question is put the same way everywhere.

    engine = Engine.load("outputs/chat/checkpoint-64", api=api)              # its training system prompt
    engine.answer(["Sort a table of numbers in descending order."])[0].text
    open_book = engine.with_options(replace(engine.options, retrieval_k=5))  # the same loaded model

What an engine decides, once for every caller:
- the prompt: the checkpoint's chat template with its training system prompt (`luacoder.checkpoints.
  generation_settings`), example turns (few-shot) before the question, and with `retrieval_k` the documented
  entries that fit the question put before it (open book: `luacoder.evaluation.retrieval`); a code checkpoint
  continues the raw text instead (`report_type: code`);
- decoding: batches whose rows leave as they finish (HF, `luacoder.evaluation.shrinking_batch`) or vLLM's continuous
  batching, each prompt sampled with its own seed; answers end at the stop tokens of
  `luacoder.train.chat_format.stop_token_ids` (the one stop-token search), which are not part of the answer;
- with `constrained`, decoding keeps the member names written after a documented module or typed value to the
  documented ones (`luacoder.evaluation.constrained`).

`AskOptions` holds those choices, so that eval's closed-book, open-book, constrained and combined rows are one
loaded model asked four ways (`with_options`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from luacoder.dialogue import chat_messages
from luacoder.grading.answer import REPORT_TYPES

Message = dict[str, str]
BATCH_SIZE = 8  # sequences decoded together, unless told otherwise


@dataclass(frozen=True)
class Decoding:
    """How answers are decoded. Its defaults (DEFAULT_DECODING) are what eval.py, generate.py, the playground and
    the teachers start from; policy-pairs samples with them and a temperature of its own."""

    max_new_tokens: int = 512  # a chat answer with a Lua snippet fits
    do_sample: bool = False
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 50
    stop: tuple[str, ...] = ()  # text that ends a completion (code mode; the caller cuts the text at it)

    def hf_kwargs(self) -> dict[str, Any]:
        if not self.do_sample:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}


DEFAULT_DECODING = Decoding()


@dataclass
class Completion:
    text: str  # up to (not including) the first stop token
    new_tokens: int  # tokens generated, the stop token included, the padding after it not


@dataclass(frozen=True)
class AskOptions:
    """How a question is put to a checkpoint, besides the checkpoint and the decoding."""

    report_type: str = "markdown"  # markdown: through the chat template; code: the raw start of a Lua file
    system_prompt: str | None = None
    few_shot: tuple[Message, ...] = field(default=())  # example user/assistant turns before the question
    retrieval_k: int = 0  # 0: closed book; k: the k documented entries that fit the question before it
    constrained: bool = False  # member names after a documented module or typed value kept to documented ones

    def __post_init__(self) -> None:
        if self.report_type not in REPORT_TYPES:
            raise ValueError(f"unknown report_type {self.report_type!r}: choose one of {', '.join(REPORT_TYPES)}")
        if self.retrieval_k < 0:
            raise ValueError(f"retrieval k must be 0 (closed book) or more, got {self.retrieval_k}")
        if self.retrieval_k and self.report_type != "markdown":
            raise ValueError("retrieval (open book) puts documented entries in a chat question: report_type markdown")
        object.__setattr__(self, "few_shot", tuple(dict(m) for m in self.few_shot))

    @property
    def variant(self) -> str:
        """The row name's suffix in eval's report: "" (closed book), "open-book", "constrained" or both."""
        parts = ["open-book"] * bool(self.retrieval_k) + ["constrained"] * self.constrained
        return " + ".join(parts)

    def key(self) -> dict[str, Any]:
        """JSON-ready, for cache keys and reports (retrieval and constraint only when on, so closed-book keys stay
        those written before they existed)."""
        data = asdict(self)
        data["few_shot"] = list(self.few_shot)
        if not self.few_shot:
            del data["few_shot"]
        for name in ("retrieval_k", "constrained"):
            if not data[name]:
                del data[name]
        return data


def system_prompt_for(model: str | os.PathLike, given: str | None = None) -> str | None:
    """The system prompt to ask `model` with: `given` when set ("" asks for none), else the one it was trained with
    (`generation_settings`; None for a model LuaCoder did not train). A CheckpointError for unreadable metadata."""
    from luacoder.checkpoints import generation_settings

    if given is not None:
        return given or None
    return generation_settings(model).system_prompt


class PromptBuilder:
    """What the model is shown for a question, without the model: the user message (the question, or with retrieval
    the documented entries that fit it, then the question), the conversation around it, and its text. Eval keys its
    answer cache by the user messages before any model is loaded."""

    def __init__(self, options: AskOptions, api: Any = None, retriever: Any = None):
        self.options = options
        if options.retrieval_k and retriever is None:
            if api is None:
                raise ValueError("retrieval (open book) needs the API docs: pass api=")
            from luacoder.evaluation.retrieval import ApiRetriever

            retriever = ApiRetriever(api)
        self.retriever = retriever

    def retrieved(self, question: str) -> list[Any]:
        """The documented entries put before `question` (none in a closed-book question)."""
        if not self.options.retrieval_k:
            return []
        return list(self.retriever.search(question, self.options.retrieval_k))

    def user_message(self, question: str) -> str:
        if not self.options.retrieval_k:
            return question
        from luacoder.evaluation.retrieval import open_book_prompt

        return open_book_prompt(question, self.retrieved(question))

    def conversation(self, message: str, history: Sequence[Message] = ()) -> list[Message]:
        """System prompt, few-shot turns, earlier turns of this chat, then the user `message` (`user_message`)."""
        return chat_messages(message, self.options.system_prompt, [*self.options.few_shot, *history])

    def text(self, tokenizer, question: str, history: Sequence[Message] = ()) -> str:
        """The text the model continues for `question` (retrieval applied)."""
        return self.message_text(tokenizer, self.user_message(question), history)

    def message_text(self, tokenizer, message: str, history: Sequence[Message] = ()) -> str:
        """The text the model continues for a user message: the conversation through the chat template, ending with
        the assistant's opening; in code mode the start of a Lua file, after the few-shot answers' code."""
        if self.options.report_type == "code":
            examples = "".join(
                m["content"].rstrip() + "\n\n" for m in self.options.few_shot if m["role"] == "assistant"
            )
            return examples + message
        return format_chat(tokenizer, self.conversation(message, history))


def format_chat(tokenizer, messages: Sequence[Message]) -> str:
    """The prompt text the model sees: the chat template applied, ending with the assistant's opening."""
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


class Engine:
    """A checkpoint loaded once (`backend`: `luacoder.evaluation.backends`), asked many times with `options`.

    The API docs serve retrieval and the constraint: `api` (an ApiSet) or `api_path` (its api.json; the vLLM
    backend needs the path, its worker reads the file), `base` the standard library under them as the grader takes
    it (None: the api.json's own)."""

    def __init__(
        self,
        backend: Any,
        options: AskOptions = AskOptions(),
        *,
        api: Any = None,
        api_path: str | os.PathLike | None = None,
        base: str | None = None,
        retriever: Any = None,
        constraint: Any = None,
    ):
        if api is None and api_path is not None and (options.retrieval_k or options.constrained):
            from luacoder.apidocs.json_docs import read_json_docs

            api = read_json_docs(api_path)
        self.backend, self.options, self.api, self.api_path, self.base = backend, options, api, api_path, base
        self.prompts = PromptBuilder(options, api, retriever)
        self.constraint = constraint
        if options.constrained and constraint is None:
            if api is None:
                raise ValueError("constrained decoding needs the API docs: pass api= or api_path=")
            self.constraint = backend.constraint_for(api, api_path, base)

    @classmethod
    def load(
        cls,
        model: str | os.PathLike,
        options: AskOptions | None = None,
        *,
        api: Any = None,
        api_path: str | os.PathLike | None = None,
        base: str | None = None,
        retriever: Any = None,
        backend: str = "hf",
        **load_options: Any,
    ) -> Engine:
        """The engine of a checkpoint folder (or hub id). `options` None: a chat question with the system prompt the
        checkpoint was trained with. `load_options` (`backends.load_backend`): dtype, device, trust_remote_code,
        batch_size (hf); seed, tensor_parallel_size, gpu_memory_utilization (vllm)."""
        from luacoder.evaluation.backends import load_backend

        if options is None:
            options = AskOptions(system_prompt=system_prompt_for(model))
        loaded = load_backend(backend, Path(model), options.report_type, **load_options)
        return cls(loaded, options, api=api, api_path=api_path, base=base, retriever=retriever)

    def with_options(self, options: AskOptions) -> Engine:
        """The same loaded model (and retriever and constraint, built once) asked another way."""
        if options.report_type != self.options.report_type:
            raise ValueError("a loaded model is asked in the report_type it was loaded for")
        return Engine(
            self.backend,
            options,
            api=self.api,
            api_path=self.api_path,
            base=self.base,
            retriever=self.prompts.retriever,
            constraint=self.constraint,
        )

    @property
    def tokenizer(self):
        return self.backend.tokenizer

    @property
    def all_at_once(self) -> bool:
        """Whether `complete` should get every prompt at once (vLLM batches continuously over what it is given)."""
        return self.backend.all_at_once

    def prompt_text(self, question: str, history: Sequence[Message] = ()) -> str:
        """The text the model continues for `question` (after `history`, earlier turns of the chat)."""
        return self.prompts.text(self.tokenizer, question, history)

    def message_text(self, message: str) -> str:
        """The text for a user message already made (`self.prompts.user_message`: eval keys its cache by them)."""
        return self.prompts.message_text(self.tokenizer, message)

    def complete(self, texts: Sequence[str], decoding: Decoding, seeds: Sequence[int]) -> list[Completion]:
        """The continuation of each prompt text, in order; text i is sampled with seeds[i] (unused when greedy)."""
        if len(seeds) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(seeds)} seeds")
        return self.backend.complete(texts, decoding, seeds, self.constraint if self.options.constrained else None)

    def answer(
        self,
        questions: Sequence[str],
        decoding: Decoding = DEFAULT_DECODING,
        seeds: Sequence[int] | None = None,
        histories: Sequence[Sequence[Message]] | None = None,
    ) -> list[Completion]:
        """The answer to each question (after its history of earlier turns, if any); question i is sampled with
        seeds[i], by default i."""
        histories = histories if histories is not None else [()] * len(questions)
        texts = [self.prompt_text(q, h) for q, h in zip(questions, histories, strict=True)]
        return self.complete(texts, decoding, list(seeds) if seeds is not None else list(range(len(texts))))

    def close(self) -> None:
        self.backend.close()
