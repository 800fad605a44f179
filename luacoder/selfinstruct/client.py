"""One completion from an OpenAI-compatible server (vLLM, `transformers serve`, OpenAI), with the `openai` client.

Every bad answer becomes a `Failure` with a reason instead of an exception, so one bad item never ends a run:

| reason | what happened | asked again now | asked again on `--continue` |
| --- | --- | --- | --- |
| timeout, connection, server_error, rate_limited | no answer (5xx, 408, 409, 429 included) | yes, with backoff | yes |
| bad_request | the server refused this request (400, 413, 422: a prompt too long for the model) | no | yes |
| malformed | the body is not a completion (not JSON, no `choices` list, an odd choice) | yes | no |
| empty_choices | `choices` is empty | yes | no |
| truncated | `finish_reason` is "length": the answer hit `max_tokens` | no (same seed, same answer) | no |
| finish_<reason> | another `finish_reason` (content_filter, tool_calls) | no | no |

A wrong key, a wrong model name or a wrong URL (401, 403, 404) is the run's problem, not the item's:
`ServerConfigError` ends the run with the server's message.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, fields
from typing import Any

import openai

API_STYLES = ("completions", "chat")
# Some OpenAI-compatible servers leave finish_reason out; vLLM writes "stop", older TGI "eos_token".
_FINISHED = {"stop", "eos_token", None}
_RETRY_STATUS = {408, 409, 429}
_MAX_BACKOFF = 30.0
_DETAIL_CHARS = 500


class ServerConfigError(RuntimeError):
    """The server refuses every request (wrong key, model or URL): ending the run beats rejecting every item."""


@dataclass(frozen=True)
class ServerSettings:
    model: str  # the name the server knows the model by (vLLM: --served-model-name, else the path it loaded)
    base_url: str | None = None  # default: OPENAI_BASE_URL, else OpenAI's own API
    api_key: str | None = None  # default: OPENAI_API_KEY, else "EMPTY" (what local servers accept)
    api_style: str = "completions"  # "completions" (a base model and a few-shot text) or "chat"
    timeout: float = 300.0  # seconds per request (a 1536-token answer from a busy server takes a while)
    max_retries: int = 3  # further attempts after a failure that may pass
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    concurrency: int = 8  # requests in flight at once

    @classmethod
    def from_args(cls, args, model: str) -> ServerSettings:
        """The server's name for the model (`--teacher_model`, `--judge_model`) and the settings a command line's
        options name (`--base_url`, `--timeout`, ...); others keep their defaults."""
        given = {f.name: getattr(args, f.name) for f in fields(cls) if f.name != "model" and hasattr(args, f.name)}
        return cls(model=model, **given)

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("no model name: pass the name the server serves the model under")
        if self.api_style not in API_STYLES:
            raise ValueError(f"unknown API style {self.api_style!r}: choose {' or '.join(API_STYLES)}")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout <= 0:
            raise ValueError("concurrency must be at least 1, max_retries at least 0 and timeout positive")

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None


@dataclass(frozen=True)
class Sampling:
    temperature: float
    max_tokens: int
    stop: tuple[str, ...] = ()


@dataclass
class Answer:
    text: str
    finish_reason: str | None
    attempts: int = 1


@dataclass
class Failure:
    reason: str
    detail: str
    attempts: int = 1
    retryable: bool = False  # the server never answered this request usefully: `--continue` asks again
    retry_now: bool = False  # worth another attempt within this run
    text: str | None = None  # what the server did write, when it wrote something (a truncated answer)


def make_client(settings: ServerSettings) -> openai.AsyncOpenAI:
    base_url = settings.resolved_base_url()
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if base_url is None:
            raise ServerConfigError(
                "no server: set OPENAI_BASE_URL (for example http://localhost:8000/v1 for vLLM) or --base_url,"
                " or OPENAI_API_KEY for OpenAI's API"
            )
        api_key = "EMPTY"
    # Retries are ours (max_retries=0 here), so that each one is counted and every failure gets a reason.
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=settings.timeout, max_retries=0)


async def complete(
    client: openai.AsyncOpenAI,
    settings: ServerSettings,
    sampling: Sampling,
    *,
    seed: int,
    prompt: str | None = None,
    messages: list[dict[str, str]] | None = None,
) -> Answer | Failure:
    """One answer to `prompt` (completions API) or `messages` (chat API), retried as the table above says."""
    if (prompt is None) == (messages is None):
        raise ValueError("give either a prompt (completions API) or messages (chat API)")
    attempts = 0
    while True:
        attempts += 1
        outcome = await _attempt(client, settings, sampling, seed, prompt, messages)
        outcome.attempts = attempts
        if isinstance(outcome, Answer) or not outcome.retry_now or attempts > settings.max_retries:
            return outcome
        delay = min(settings.backoff * 2 ** (attempts - 1), _MAX_BACKOFF)
        await asyncio.sleep(delay * (0.5 + random.random()))  # jitter: concurrent retries do not arrive together


async def _attempt(client, settings, sampling, seed, prompt, messages) -> Answer | Failure:
    params: dict[str, Any] = {"model": settings.model, "temperature": sampling.temperature, "seed": seed}
    if sampling.stop:
        params["stop"] = list(sampling.stop)
    try:
        if prompt is not None:
            response = await client.completions.create(prompt=prompt, max_tokens=sampling.max_tokens, **params)
        else:
            response = await client.chat.completions.create(
                messages=messages, max_completion_tokens=sampling.max_tokens, **params
            )
    except openai.APITimeoutError:
        return Failure("timeout", f"no answer within {settings.timeout:g} s", retryable=True, retry_now=True)
    except openai.APIConnectionError as exc:
        return Failure("connection", _cause(exc), retryable=True, retry_now=True)
    except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
        where = settings.resolved_base_url() or "OpenAI's API"
        raise ServerConfigError(
            f"{where} refused model {settings.model!r} ({exc.status_code}): {_server_message(exc)}"
        ) from None
    except openai.APIStatusError as exc:
        message = f"HTTP {exc.status_code}: {_server_message(exc)}"
        if exc.status_code == 429:
            return Failure("rate_limited", message, retryable=True, retry_now=True)
        if exc.status_code >= 500 or exc.status_code in _RETRY_STATUS:
            return Failure("server_error", message, retryable=True, retry_now=True)
        return Failure("bad_request", message, retryable=True)
    except (openai.APIResponseValidationError, ValueError) as exc:  # a body that is not JSON raises ValueError
        return Failure("malformed", f"the answer is not a completion: {_short(str(exc))}", retry_now=True)
    return _read(response, chat=prompt is None)


def _read(response: Any, chat: bool) -> Answer | Failure:
    """The text of the first choice, or why there is none. The client does not validate bodies, so check here."""
    choices = getattr(response, "choices", None)
    if isinstance(response, str | bytes) or not isinstance(choices, list):
        shown = response if isinstance(response, str | bytes) else type(response).__name__
        return Failure("malformed", f"no 'choices' list in the answer: {_short(repr(shown))}", retry_now=True)
    if not choices:
        return Failure("empty_choices", "the answer has no choices", retry_now=True)
    choice = choices[0]
    try:
        text = choice.message.content if chat else choice.text
        finish_reason = choice.finish_reason
    except AttributeError as exc:
        return Failure("malformed", f"odd choice: {_short(str(exc))}", retry_now=True)
    if text is not None and not isinstance(text, str):
        return Failure("malformed", f"the choice's text is {type(text).__name__}, not a string", retry_now=True)
    text = text or ""
    if finish_reason == "length":
        return Failure("truncated", "the answer reached max_tokens (finish_reason 'length')", text=text)
    if finish_reason not in _FINISHED:
        return Failure(f"finish_{finish_reason}", f"finish_reason {finish_reason!r}", text=text)
    return Answer(text, finish_reason)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("detail") or body.get("error") or body
    return _short(str(body if body is not None else exc.message))


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return _short(f"{exc}: {cause}" if cause else str(exc))


def _short(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."
