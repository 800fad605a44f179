"""Many requests to an OpenAI-compatible server, concurrently, each item's outcome logged as soon as it is known.

`run_units` sends every unit not yet done (`RunLog.done`) with at most `concurrency` requests in flight, parses each
answer, and writes a kept or a rejected row. When `max_consecutive_failures` items in a row got no answer at all
(the server is down or unreachable), it stops asking, lets the requests in flight finish, and raises
`ServerUnavailable`: `--continue` then asks for the rest once the server is back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tqdm.auto import tqdm

from luacoder.selfinstruct.client import Answer, Failure, Sampling, ServerSettings, complete, make_client
from luacoder.selfinstruct.run_log import RunLog

log = logging.getLogger(__name__)
T = TypeVar("T")
_TEXT_KEPT = 2000  # characters of a rejected answer kept in its row, to see what went wrong


class Unparseable(ValueError):
    """The server answered, but the answer is not what the prompt asked for; the message says why."""


class ServerUnavailable(RuntimeError):
    """Too many requests in a row got no answer."""


@dataclass
class Unit:
    id: str
    seed: int
    prompt: str | None = None  # for the completions API
    messages: list[dict[str, str]] | None = None  # for the chat API
    carry: dict[str, Any] = field(default_factory=dict)  # input fields copied into the output row


@dataclass
class RunCounts:
    """What one run did. `skipped` units had an outcome from an earlier run (`--continue`)."""

    units: int = 0
    skipped: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)  # by reason
    retries: int = 0  # attempts beyond the first, over all units
    unfinished: int = 0  # units not asked because the run stopped early

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "skipped": self.skipped,
            "kept": self.kept,
            "rejected": dict(sorted(self.rejected.items())),
            "retries": self.retries,
            "unfinished": self.unfinished,
        }


def unit_seed(base_seed: int, unit_id: str) -> int:
    """A seed per unit that depends on its id alone, not on its position or on the order answers come back in."""
    digest = hashlib.sha256(f"{base_seed}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


Parse = Callable[[str, Unit], dict[str, Any]]


async def run_units(
    units: Sequence[Unit],
    settings: ServerSettings,
    sampling: Sampling,
    parse: Parse,
    run_log: RunLog,
    desc: str = "requests",
    max_consecutive_failures: int = 20,
    counts: RunCounts | None = None,
    parse_truncated: bool = False,
) -> RunCounts:
    """Ask for every unit without an outcome in `run_log`; `counts` (filled in as the run goes, so that it tells
    what happened also when the run ends early) is returned. With `parse_truncated`, an answer cut at max_tokens
    is still parsed (a judge's scores come first), and kept if that succeeds."""
    ids = [u.id for u in units]
    if len(set(ids)) != len(ids):
        raise ValueError("unit ids must be unique")
    todo = [u for u in units if u.id not in run_log.done]
    counts = counts if counts is not None else RunCounts()
    counts.units, counts.skipped = len(units), len(units) - len(todo)
    pending = iter(todo)  # shared by the workers; the event loop hands each unit to exactly one
    state = {"failures_in_a_row": 0, "stopped": False}
    client = make_client(settings)
    bar = tqdm(total=len(todo), desc=desc, unit="item")

    async def worker() -> None:
        for unit in pending:
            if state["stopped"]:
                counts.unfinished += 1
                continue
            outcome = await complete(
                client, settings, sampling, seed=unit.seed, prompt=unit.prompt, messages=unit.messages
            )
            record_outcome(unit, outcome, parse, run_log, counts, parse_truncated)
            if isinstance(outcome, Failure) and outcome.retryable:
                state["failures_in_a_row"] += 1
                if state["failures_in_a_row"] >= max_consecutive_failures and not state["stopped"]:
                    state["stopped"] = True
                    state["last"] = f"{outcome.reason}: {outcome.detail}"
            else:
                state["failures_in_a_row"] = 0
            bar.update(1)
            bar.set_postfix(kept=counts.kept, rejected=sum(counts.rejected.values()), refresh=False)

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(settings.concurrency, max(len(todo), 1)))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
        await client.close()
    if state["stopped"]:
        raise ServerUnavailable(
            f"{max_consecutive_failures} requests in a row got no answer from"
            f" {settings.resolved_base_url() or 'the server'} (last: {state['last']});"
            f" {counts.unfinished} items were not asked. Check the server, then rerun with --continue."
        )
    return counts


def record_outcome(
    unit: Unit,
    outcome: Answer | Failure,
    parse: Parse,
    run_log: RunLog,
    counts: RunCounts,
    parse_truncated: bool = False,
) -> None:
    """Write the unit's outcome to the log: a kept row with what `parse` made of the answer, or a rejected row with
    its reason (a failure, or an answer `parse` could not read)."""
    counts.retries += outcome.attempts - 1
    row: dict[str, Any] = {"id": unit.id, **unit.carry}
    truncated = isinstance(outcome, Failure) and outcome.reason == "truncated" and parse_truncated
    if isinstance(outcome, Answer) or truncated:
        assert outcome.text is not None
        try:
            fields = parse(outcome.text, unit)
        except Unparseable as exc:
            if not truncated:
                outcome = Failure("unparseable", str(exc), attempts=outcome.attempts, text=outcome.text)
        else:
            fields = {**fields, "truncated": True} if truncated else fields
            run_log.add({**row, **fields, "seed": unit.seed, "attempts": outcome.attempts}, kept=True)
            counts.kept += 1
            return
    row.update(
        reason=outcome.reason,
        detail=outcome.detail,
        retryable=outcome.retryable,
        seed=unit.seed,
        attempts=outcome.attempts,
    )
    if outcome.text is not None:
        row["text"] = outcome.text[:_TEXT_KEPT]
    run_log.add(row, kept=False)
    counts.rejected[outcome.reason] += 1
    log.debug("%s rejected: %s (%s)", unit.id, outcome.reason, outcome.detail)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end, also from a Jupyter notebook, whose event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
