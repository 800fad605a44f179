"""The chat dataset (`luacoder build-chat`, data/dialogue.ipynb): `{"messages": [...]}` rows and the eval prompts.

    result = build_chat(api, config)   # <output_dir>/chat/{train,test}.jsonl, README.md, rejects; eval/prompts.csv

1. The answer code: for every entry, its short docs examples and usages written from its signature (luacoder.data.
   usage) are checked once: the code must call the entry, pass the API call check (luacoder.grading: documented
   names, documented arities) and run in the sandbox unless it needs the host. What passes is the snippet bank.
2. Dialogues per entry (luacoder.data.dialogues), and dialogues combining two entries, answered from the bank.
3. Imported conversations (luacoder.data.sources), validated and converted to messages.
4. Filters: the call check on every answer, exact duplicates, decontamination of the user turns against the eval
   prompts.
5. Open book (`chat.open_book`, off by default): a share of the generated rows get retrieved cards before their
   question (`add_cards`), after decontamination, which compares the questions alone.
Then the split: by entry (default) or by dialogue, see ChatConfig.split_by and the card.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import ApiEntry, ApiSet
from luacoder.data.build import (
    BuildResult,
    Row,
    decontaminate,
    dedup_exact,
    drop,
    eval_prompts_for,
    split_rows,
    write_outputs,
)
from luacoder.data.card import TokenCounter, counts_section, markdown_table
from luacoder.data.config import DataConfig, OpenBookConfig
from luacoder.data.dialogues import Dialogue, DialogueWriter, Snippet
from luacoder.data.eval_prompts import EvalPrompt, write_prompts_csv
from luacoder.data.execution import ExecutionFilter
from luacoder.data.filters import ApiChecker, held_out_groups
from luacoder.data.ledger import Ledger
from luacoder.data.sources import read_import
from luacoder.data.usage import VARIANTS, UsageWriter
from luacoder.lua.markdown_code import extract_lua_code

log = logging.getLogger(__name__)
CALLABLE = ("function", "method")
ORACLE_ROWS = "cards hold the answer's entries"  # the open-book count of rows shown the entries they use


# -- 1. the answer code ------------------------------------------------------------------------------------------


def calls_entry(entry: ApiEntry, code: str, checker: ApiChecker) -> bool:
    """Whether the code uses the entry: calls it with a fitting arity (functions, methods) or names it."""
    if entry.kind in CALLABLE:
        return entry.name in checker.api_calls(code)
    return entry.name in code


def build_bank(
    api: ApiSet,
    writer: UsageWriter,
    checker: ApiChecker,
    runner: ExecutionFilter | None,
    max_lines: int,
) -> tuple[dict[str, list[Snippet]], Ledger]:
    """The checked snippets per entry, and the ledger of the candidates (read = removed + kept in "bank")."""
    ledger = Ledger("answer code")
    for name in ("length", "uses the entry", "call check", "execution"):
        ledger.add_filter(name)
    candidates: list[tuple[ApiEntry, Snippet, bool]] = []
    for entry in api:
        for i, code in enumerate(entry.examples):
            candidates.append((entry, Snippet(entry.name, "example", code.strip("\n")), i in entry.needs_host))
        for variant in VARIANTS:
            code = writer.usage(entry, variant)
            if code is not None:
                candidates.append((entry, Snippet(entry.name, variant, code), False))
    checked = []
    for entry, snippet, needs_host in candidates:
        source = "docs example" if snippet.kind == "example" else f"usage: {snippet.kind}"
        ledger.count_read(source)
        where = {"origin": f"{entry.name} ({snippet.kind})"}
        lines = len(snippet.code.splitlines())
        if lines > max_lines:
            ledger.reject("length", source, f"longer than {max_lines} lines", snippet.code, detail=str(lines), **where)
        elif not calls_entry(entry, snippet.code, checker):
            ledger.reject("uses the entry", source, "does not call the entry", snippet.code, **where)
        elif problems := checker.problems(snippet.code):
            ledger.reject("call check", source, "fails the API call check", snippet.code, detail=problems[0], **where)
        else:
            checked.append((entry, snippet, needs_host, source))
    bank: dict[str, list[Snippet]] = {}
    verdicts = (
        runner.run([c[1].code for c in checked], [c[2] for c in checked], desc="answer code")
        if runner is not None
        else None
    )
    for i, (entry, snippet, _host, source) in enumerate(checked):
        verdict = verdicts[i] if verdicts is not None else None
        if verdict is not None and not verdict.keep:
            ledger.reject(
                "execution",
                source,
                f"does not run in the sandbox ({verdict.reason})",
                snippet.code,
                origin=f"{entry.name} ({snippet.kind})",
                detail=verdict.error,
            )
            continue
        snippet.status = verdict.status if verdict is not None else "not-run"
        bank.setdefault(entry.name, []).append(snippet)
        ledger.keep("bank", source)
    return bank, ledger


def combined_code(
    api: ApiSet,
    bank: dict[str, list[Snippet]],
    writer: UsageWriter,
    checker: ApiChecker,
    runner: ExecutionFilter | None,
    ledger: Ledger,
    per_entry: int,
    seed: int,
    same_split: dict[str, str],
) -> list[tuple[ApiEntry, ApiEntry, str]]:
    """Up to `per_entry` checked usages of each entry followed by another (of the same split), same module first."""
    if per_entry <= 0:
        return []
    usable = [e for e in api if e.kind in CALLABLE and e.name in bank]
    candidates: list[tuple[ApiEntry, ApiEntry, str]] = []
    for a in usable:
        rng = random.Random(f"{seed}:combine:{a.name}")
        partners = [b for b in usable if b.name != a.name and same_split[b.name] == same_split[a.name]]
        rng.shuffle(partners)
        partners.sort(key=lambda b: b.module != a.module)  # stable: shuffled within each group
        found = 0
        for b in partners[: per_entry * 4]:
            code = writer.combined(a, b)
            if code is None:
                continue
            ledger.count_read("usage: combined")
            where = {"origin": f"{a.name} + {b.name}"}
            if problems := checker.problems(code):
                reason = "fails the API call check"
                ledger.reject("call check", "usage: combined", reason, code, detail=problems[0], **where)
                continue
            candidates.append((a, b, code))
            found += 1
            if found > per_entry:  # one spare, in case the execution filter removes one
                break
    verdicts = runner.run([c[2] for c in candidates], desc="combined code") if runner is not None else None
    out = []
    taken: Counter = Counter()
    for i, (a, b, code) in enumerate(candidates):
        if verdicts is not None and not verdicts[i].keep:
            v = verdicts[i]
            ledger.reject(
                "execution",
                "usage: combined",
                f"does not run in the sandbox ({v.reason})",
                code,
                origin=f"{a.name} + {b.name}",
                detail=v.error,
            )
            continue
        if taken[a.name] >= per_entry:
            ledger.keep("spare", "usage: combined")  # checked, but the entry has enough combinations
            continue
        taken[a.name] += 1
        ledger.keep("bank", "usage: combined")
        out.append((a, b, code))
    return out


# -- 2.-4. rows --------------------------------------------------------------------------------------------------


def dialogue_row(dialogue: Dialogue, system_prompt: str | None, group: str) -> Row:
    messages = dialogue.messages
    if system_prompt:
        messages = [{"role": "system", "content": system_prompt}, *messages]
    user = "\n".join(m["content"] for m in messages if m["role"] == "user")
    return Row(
        {"messages": messages, "source": f"generated: {dialogue.intent}"},
        f"generated: {dialogue.intent}",
        f"{dialogue.key}",
        group,
        json.dumps(messages, ensure_ascii=False),
        {"user": user},
    )


def answers_pass(row: Row, checker: ApiChecker, require_code: bool) -> tuple[str, str] | None:
    """Every assistant turn's Lua code passes the call check (and, for generated rows, there is exactly one block)."""
    for i, message in enumerate(row.data["messages"]):
        if message["role"] != "assistant":
            continue
        blocks = extract_lua_code(message["content"])
        if require_code and len(blocks) != 1:
            return "an answer without exactly one ```lua block", f"message {i}: {len(blocks)} blocks"
        for code in blocks:
            problems = checker.problems(code)
            if problems:
                return "fails the API call check", f"message {i}: {problems[0]}"
    return None


def build_chat(api: ApiSet, config: DataConfig, output_dir: str | Path | None = None) -> BuildResult:
    """Generate, import, filter, split and write the chat dataset and the eval prompts under `output_dir` (default:
    the config's): chat/{train,test}.jsonl, chat/README.md, chat/rejects.jsonl and eval/prompts.csv."""
    start = time.perf_counter()
    cfg = config.chat
    root = Path(output_dir) if output_dir is not None else config.out
    out = root / "chat"
    checker = ApiChecker(api)
    writer = UsageWriter(api)
    runner = ExecutionFilter(config.sandbox, api) if cfg.execute else None

    bank, bank_ledger = build_bank(api, writer, checker, runner, cfg.max_answer_lines)
    with_code = sorted(bank)
    test_entries = (
        held_out_groups(with_code, config.seed, cfg.test_fraction, salt="chat") if cfg.split_by == "entry" else set()
    )
    split_of = {name: ("test" if name in test_entries else "train") for name in (e.name for e in api)}
    if cfg.split_by == "dialogue":
        split_of = dict.fromkeys(split_of, "all")  # combinations may pair any two entries
    combos = combined_code(
        api, bank, writer, checker, runner, bank_ledger, cfg.combined_per_entry, config.seed, split_of
    )

    ledger = Ledger("chat")
    dw = DialogueWriter(writer, bank, cfg.multi_turn_fraction)
    rows: list[Row] = []
    for entry in api:
        rng = random.Random(f"{config.seed}:dialogues:{entry.name}")
        for d in dw.dialogues(entry, cfg.dialogues_per_entry, rng):
            rows.append(dialogue_row(d, cfg.system_prompt, entry.name if cfg.split_by == "entry" else d.key))
    for a, b, code in combos:
        rng = random.Random(f"{config.seed}:combined:{a.name}:{b.name}")
        d = dw.combined(rng, a, b, code)
        rows.append(dialogue_row(d, cfg.system_prompt, a.name if cfg.split_by == "entry" else d.key))
    for row in rows:
        ledger.count_read(row.source)
    rows = drop(rows, ledger, "call check", lambda r: answers_pass(r, checker, require_code=True))

    import_rows, import_stats = [], []
    for spec in cfg.imports:
        source = spec.label
        counts = Counter()
        for i, item in enumerate(read_import(spec, config)):
            ledger.count_read(source)
            counts["read"] += 1
            if item.messages is None:
                reason = _category(item.error or "")
                ledger.reject("format", source, reason, item.raw, origin=item.where, detail=item.error)
                continue
            row = Row(
                {"messages": item.messages, "source": source},
                source,
                item.where,
                f"{source}#{i}",
                json.dumps(item.messages, ensure_ascii=False),
                {"user": "\n".join(m["content"] for m in item.messages if m["role"] == "user")},
            )
            if spec.check_calls and (problem := answers_pass(row, checker, require_code=False)) is not None:
                ledger.reject("call check", source, problem[0], row.text, origin=item.where, detail=problem[1])
                continue
            import_rows.append(row)
            counts["kept"] += 1
        import_stats.append({"import": source, "format": spec.format, "rows read": counts["read"]})
        if not counts["kept"]:
            log.warning(
                "chat: no row of the import %s was usable (%d read, every one rejected: see rejects.jsonl)",
                source,
                counts["read"],
            )
    ledger.add_filter("format")
    rows += import_rows
    rows = _drop_long_rows(rows, ledger, cfg.max_row_chars)

    rows = dedup_exact(rows, ledger)
    prompts = eval_prompts_for(api, config)
    rows = decontaminate(rows, ledger, prompts, cfg.decontam_ngram, "user")
    open_book = add_cards(rows, api, cfg.open_book, checker, config.seed)
    generated_keys = {r.group for r in rows if not r.source.startswith("import:")}
    import_keys = {r.group for r in rows if r.source.startswith("import:")}
    test_keys = held_out_groups(import_keys, config.seed, cfg.test_fraction, salt="chat-import")
    if cfg.split_by == "entry":
        test_keys |= test_entries
    else:
        test_keys |= held_out_groups(generated_keys, config.seed, cfg.test_fraction, salt="chat")
    splits, groups = split_rows(rows, ledger, config.seed, cfg.test_fraction, salt="chat", test_keys=test_keys)

    counter = TokenCounter(config.tokenizer_ref)
    tokens = {s: sum(counter.count_messages(r["messages"]) for r in data) for s, data in splits.items()}
    generated_prompts = prompts[: cfg.eval_prompts] if cfg.eval_prompts else []
    write_prompts_csv(root / "eval" / "prompts.csv", generated_prompts)
    result = BuildResult(
        "chat",
        out,
        ledger,
        splits,
        tokens,
        counter.method,
        time.perf_counter() - start,
        {
            "bank": bank_ledger,
            "test_entries": sorted(test_entries),
            "groups": groups,  # each row's split group (its entry, dialogue id or import row), by split
            "entries_with_code": len(with_code),
            "eval_prompts": generated_prompts,
            "decontaminated_against": len(prompts),
            "imports": import_stats,
            "turns": Counter(len(r["messages"]) for s in splits.values() for r in s),
            "open_book": open_book,
        },
    )
    write_outputs(
        out, splits, ledger, chat_card(api, config, result), extra_rejects={"answer_code_rejects.jsonl": bank_ledger}
    )
    log.info("chat: wrote %s (train %d, test %d rows)", out, len(splits["train"]), len(splits["test"]))
    return result


def used_entries(messages: list[dict[str, str]], api: ApiSet, checker: ApiChecker) -> list[ApiEntry]:
    """The documented entries the assistant turns' Lua code uses: calls of functions and methods, names of fields and
    events, in api.json's order."""
    code = "\n".join(block for m in messages if m["role"] == "assistant" for block in extract_lua_code(m["content"]))
    called = set(checker.api_calls(code)) if code else set()
    named = {e.name for e in api if e.kind not in CALLABLE and re.search(rf"(?<![\w.:]){re.escape(e.name)}\b", code)}
    return [e for e in api if e.name in called | named]


def add_cards(rows: list[Row], api: ApiSet, cfg: OpenBookConfig, checker: ApiChecker, seed: int) -> Counter:
    """Put retrieved cards before the first question of a share of the generated rows (see OpenBookConfig), in place;
    the counts of rows with cards and of those whose cards hold the answer's entries."""
    counts: Counter = Counter()
    if cfg.share <= 0:
        return counts
    from luacoder.evaluation.retrieval import ApiRetriever, open_book_prompt

    retriever = ApiRetriever(api)
    for row in rows:
        rng = random.Random(f"{seed}:open-book:{row.text}")  # per row: the same cards whatever the row order
        if row.source.startswith("import:") or rng.random() >= cfg.share:
            continue
        messages = row.data["messages"]
        first = next(i for i, m in enumerate(messages) if m["role"] == "user")
        question = messages[first]["content"]
        used = used_entries(messages, api, checker)
        oracle = bool(used) and rng.random() < cfg.oracle
        shown = {e.name for e in used}
        distractors = [e for e in retriever.search(question, cfg.k + len(used)) if e.name not in shown]
        cards = [*used, *distractors][: max(cfg.k, len(used))] if oracle else distractors[: cfg.k]
        rng.shuffle(cards)
        messages = list(messages)
        messages[first] = {**messages[first], "content": open_book_prompt(question, cards)}
        row.data = {**row.data, "messages": messages}
        row.text = json.dumps(messages, ensure_ascii=False)
        counts["rows with cards"] += 1
        counts[ORACLE_ROWS] += oracle
    return counts


def _drop_long_rows(rows: list[Row], ledger, limit: int) -> list[Row]:
    """Rows within `limit` characters of message content; the others are rejected with their size."""
    ledger.add_filter("length")
    kept = []
    for row in rows:
        size = sum(len(m["content"]) for m in row.data["messages"])
        if size <= limit:
            kept.append(row)
            continue
        ledger.reject(
            "length",
            row.source,
            f"longer than chat.max_row_chars={limit}",
            row.text,
            origin=row.origin,
            detail=f"{size} characters",
        )
    return kept


IMPORT_REASONS = (
    "malformed JSON",
    "not valid UTF-8",
    "unknown role",
    "empty conversation",
    "missing column",
    "no text content",
    "a conversation needs",
    "unknown speaker",
    "only the first message",
)


def _category(error: str) -> str:
    """A rejected import row's reason without its location: "malformed JSON", "unknown role", ..."""
    text = error.split(": ", 1)[1] if ": " in error else error
    for marker in IMPORT_REASONS:
        if marker in text:
            return marker
    return text.split(" (")[0][:80]


# -- the card ----------------------------------------------------------------------------------------------------


def chat_card(api: ApiSet, config: DataConfig, result: BuildResult) -> str:
    cfg = config.chat
    bank: Ledger = result.details["bank"]
    prompts: list[EvalPrompt] = result.details["eval_prompts"]
    test_entries = set(result.details["test_entries"])
    in_test = sum(1 for p in prompts if any(name in test_entries for name in p.expected_apis))
    split_table = markdown_table(
        {"split": s, "rows": len(result.splits[s]), "tokens": result.tokens[s]} for s in ("train", "test")
    )
    turns = result.details["turns"]
    if cfg.split_by == "entry":
        split_text = (
            f"By API entry: {len(test_entries)} of the {result.details['entries_with_code']} entries with answer code"
            f" ({cfg.test_fraction:g}, drawn by a seeded hash of the entry name, seed {config.seed}) are held out, and"
            " every dialogue about them, including the combinations, which only pair entries of the same split, is"
            " in test. Paraphrases of one dialogue (the same entry and intent in other words) share their answer"
            " code, so a split by row would put near copies of train rows in test; held-out entries make the test"
            " loss measure answering about an API the model met only in the pretraining data (docs examples,"
            " stubs). Imported rows are split by row."
        )
    else:
        split_text = (
            "By dialogue: all paraphrases of one dialogue (same entry and intent) land in one split;"
            f" {cfg.test_fraction:g} of the dialogue ids, drawn by a seeded hash (seed {config.seed}), are the"
            " test split."
        )
    imports = result.details["imports"]
    return "\n".join(
        [
            f"# Chat dataset: {api.name}\n",
            '`{"messages": [...]}` rows for chat fine-tuning (deepspeed/chat), built by `luacoder build-chat`'
            " (luacoder.data.chat). Each row also names its `source`.\n",
            "## Sources\n",
            f"- **generated**: dialogues about the {len(api)} entries of api.json `{api.name}`, up to"
            f" {cfg.dialogues_per_entry} per entry plus {cfg.combined_per_entry} combining it with another entry."
            " Intents: how to use an entry by name or by its task, what it returns, its parameters, fixing a call"
            " with the wrong number of arguments, its optional arguments, its method form, fields and metamethods;"
            f" {cfg.multi_turn_fraction:g} of them get a follow-up question. Each question template has several"
            " wordings; each answer is short Markdown with one ```lua block from the answer code below.",
            *(f"- **{i['import']}**: {i['rows read']} rows read ({i['format']} layout)." for i in imports),
            *(
                [
                    f"- **open book**: {book['rows with cards']} generated rows start with the cards of up to"
                    f" {cfg.open_book.k} entries retrieved for the question (luacoder.evaluation.retrieval);"
                    f" {book[ORACLE_ROWS]} of them show the entries the answer uses among"
                    " distractors, the others distractors only."
                ]
                if (book := result.details["open_book"])
                else []
            ),
            "",
            "## Rows and tokens\n",
            split_table,
            f"Tokens are {result.token_method}. Turns per row: "
            + ", ".join(f"{n} messages: {c}" for n, c in sorted(turns.items()))
            + ".\n",
            "## Answer code\n",
            "Every answer's code comes from these snippets: the entry's docs examples of at most"
            f" {cfg.max_answer_lines} lines and usages written from its signature (required arguments, optional ones,"
            " method form, and a second entry after it). A snippet is kept when it calls its entry, passes the API"
            " call check of luacoder.grading (documented names, documented numbers of arguments) and, when it needs"
            " only what the sandbox offers, runs there"
            + (" (execution filter on)." if cfg.execute else " (execution filter off).")
            + " `spare` combinations were checked but not needed. Removed snippets are in"
            " `answer_code_rejects.jsonl`.\n",
            markdown_table(bank.table()),
            markdown_table(bank.reasons()),
            "## Filters\n",
            "- **call check**: every ```lua block of every answer passes the API call check (generated answers must"
            " have exactly one block); imports only when their `check_calls` is set.",
            "- **format** (imports): malformed JSON, invalid UTF-8, unknown roles, empty conversations, missing"
            " columns.",
            "- **exact duplicate**: the same conversation, white space collapsed.",
            f"- **decontamination**: a row whose user turns share a {cfg.decontam_ngram}-word n-gram with one of the"
            f" {result.details['decontaminated_against']} eval prompts (or, when shorter, appear whole in one) is"
            " removed. Assistant turns are not compared: they quote the documentation the prompts are written from.",
            "",
            counts_section(result.ledger),
            "## Split\n",
            split_text + "\n",
            "## Eval prompts\n",
            f"`../eval/prompts.csv`: {len(prompts)} prompts (columns `prompt` and `expected_apis`, a space-separated"
            " list of documented entry names), written with templates the training questions never use;"
            f" {in_test} of them expect an entry held out of the chat train split.\n",
        ]
    )


def samples(result: BuildResult, count: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """A few rows of the train split, for notebooks."""
    rows = result.splits["train"]
    rng = random.Random(seed)
    return rng.sample(rows, min(count, len(rows)))
