"""Decoding that keeps to the documented API: after `string.` or `f:` only a documented member may follow.

    constraint = ApiNameConstraint(tokenizer, api)        # once per run: indexes the tokenizer's pieces (~1 s)
    model.generate(**inputs, logits_processor=LogitsProcessorList([constraint.hf_processor()]))
    constraint.vllm_processor()                            # vLLM's per-request form: (output_ids, logits) -> logits

The rule. Where the answer's Lua code writes a separator after an expression the grader
(`luacoder.grading.api_index.ApiIndex`, base layer included) would hold to the docs, the identifier after it must be
a documented member:
- `.` after a documented module or namespace (`string.`, `io.`, `uv.`; a local alias `local s = string` too): the
  identifier is one of that namespace's documented names (functions, fields) one level down;
- `:` on a value the grader ties to the API (`local f = io.open(p); f:`, `io.open(p):`, `io.stdout:`, `s:` after
  `local s = string.rep(...)`): the identifier is a documented method name. The grader accepts any documented method
  name on such a value (inherited methods are documented under another type), so the rule does too: what it blocks
  is a method no documented type has (`f:readAll`).
Which expressions those are is asked of the grader itself: the code so far, the separator and a probe call
(`string.__luacoder_member__()`) are classified with `ApiIndex.classify`, once as written and once with the open
blocks closed; the separator is constrained when both say "hallucinated" (a local variable named like a module,
a user table, a function's parameter are not). So "documented" here is exactly what eval counts.

The identifier is checked as it is decoded, token by token: a token that is all identifier characters must keep the
identifier a prefix of a member name; a token that ends it (its next character is not an identifier character) must
complete a member name. Member names may span several tokens, and a token may carry the separator itself
(`.format`, `:read`, the pieces of tokenizers that merge punctuation with letters): those are checked against the
context they open. White space between the separator and the name is allowed, as in Lua; `..` and `::` are not
member access. Special tokens (the stop tokens) are never blocked. Everything else decodes freely.

Where. Only inside Lua code and outside its strings and comments. `report_type="markdown"` (chat answers, as the
grader reads them): inside fenced blocks labelled lua/luau/lua54 and unlabelled fences (the grader takes an
unlabelled fence when it parses as Lua, which cannot be known before it is written); blocks written earlier in the
answer count as code before the current one, as the grader joins them. `report_type="code"`: the whole answer is
Lua (completions).

Rows. Each row of a batch is decoded on its own; the answer is what follows the prompt. HF: rows are left-padded,
so every row's answer starts at the prompt's width, the width of `input_ids` at the processor's first call (or
`hf_processor(prompt_width=...)`); use one processor per `generate` call. Rows may leave the batch between steps
(a shrinking batch): the state of a row is found from its tokens, not its position. vLLM: a request's processor is
given its output tokens only.

Limits, kept on the sound side (free rather than wrongly blocked): a name being defined (`function string.trim`)
is free; an assignment to a new field of a module (`string.trim = ...`) is blocked, as its call would be graded
hallucinated; `.` after a documented field that is no namespace (`io.stdout.`) is free.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from luacoder.apidocs.schema import ApiEntry
from luacoder.grading.answer import REPORT_TYPES
from luacoder.grading.api_index import ApiIndex
from luacoder.lua.markdown_code import LUA_LABELS

PROBE = "__luacoder_member__"
SEPARATORS = ".:"
WHITE = " \t\r\n"
_IDENT = re.compile(r"[A-Za-z0-9_]*")
_AFTER_SEPARATOR = re.compile(r"([.:])([ \t\r\n]*)([A-Za-z_][A-Za-z0-9_]*)?\Z")
_TAIL = 256  # characters at the end of the code that the separator tests look at (an identifier is shorter)
_NAMES = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
# Closing the blocks a partial answer leaves open, so that a function's parameters scope as they will.
_CLOSE_BLOCKS = "\nend" * 8
_KEYWORDS = frozenset(
    ["and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil"]
    + ["not", "or", "repeat", "return", "then", "true", "until", "while"]
)
# The Lua lexer's states inside code.
CODE, DASH, COMMENT_OPEN, COMMENT_BRACKET, LINE_COMMENT, LONG_COMMENT, LONG_STRING, QUOTE, ESCAPE, BRACKET = range(10)
PROSE, LUA, OTHER_FENCE = range(3)
METHODS = ":"  # the member-set key of method names; other keys are namespaces (`string`, `socket.http`)


# -- where the answer is Lua code ---------------------------------------------------------------------------------


@dataclass
class Scan:
    """What a left-to-right read of the answer knows at its end: Markdown fences, and Lua strings and comments."""

    report_type: str = "markdown"
    pos: int = 0  # characters read
    mode: int = PROSE
    fence: str = ""  # the open fence's marker (```` ``` ````)
    line_start: int = 0
    block_start: int = 0  # where the current Lua block's code starts
    blocks: tuple[str, ...] = ()  # the code of earlier Lua blocks
    lua: int = CODE
    level: int = 0  # of a long bracket `[==[`
    closing: int = -1  # inside a long bracket: the `=` after a `]`, -1 when no `]` is pending
    quote: str = ""

    def __post_init__(self) -> None:
        if self.report_type not in REPORT_TYPES:
            raise ValueError(f"report_type {self.report_type!r}: expected one of {', '.join(REPORT_TYPES)}")
        if self.report_type == "code":
            self.mode = LUA

    def read(self, text: str) -> None:
        """Read `text[self.pos:]` (`text` is the whole answer so far)."""
        for i in range(self.pos, len(text)):
            ch = text[i]
            if self.mode == LUA:
                self._lua(ch)
            if ch == "\n":
                self._line_end(text, i)
                self.line_start = i + 1
        self.pos = len(text)

    def in_code(self) -> bool:
        return self.mode == LUA and self.lua == CODE

    def clone(self) -> Scan:
        new = Scan.__new__(Scan)  # not copy.copy: this runs once per row and step
        new.__dict__.update(self.__dict__)
        return new

    def code(self, text: str) -> str:
        """The Lua code so far as the grader joins it: earlier blocks, then the current one up to the end."""
        done = "".join(b if b.endswith("\n") else b + "\n" for b in self.blocks)
        return done + text[self.block_start :]

    def _line_end(self, text: str, at: int) -> None:
        if self.report_type == "code":
            return
        match = _FENCE.fullmatch(text[self.line_start : at].rstrip("\r"))
        if self.mode == PROSE:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                words = match.group(2).split()
                label = words[0].lower().strip("{}.") if words else ""
                self.fence = match.group(1)
                self.mode = LUA if label in LUA_LABELS or not label else OTHER_FENCE
                self.block_start, self.lua = at + 1, CODE
        elif (
            match
            and match.group(1)[0] == self.fence[0]
            and len(match.group(1)) >= len(self.fence)
            and not match.group(2).strip()
        ):
            if self.mode == LUA:
                self.blocks = (*self.blocks, text[self.block_start : self.line_start])
            self.mode = PROSE

    def _lua(self, ch: str) -> None:
        state = self.lua
        if state == CODE:
            if ch == "-":
                self.lua = DASH
            elif ch in "\"'":
                self.lua, self.quote = QUOTE, ch
            elif ch == "[":
                self.lua, self.level = BRACKET, 0
        elif state == DASH:
            if ch == "-":
                self.lua = COMMENT_OPEN
            else:
                self.lua = CODE
                self._lua(ch)
        elif state == COMMENT_OPEN:
            self.lua = COMMENT_BRACKET if ch == "[" else CODE if ch == "\n" else LINE_COMMENT
            self.level = 0
        elif state == COMMENT_BRACKET:
            if ch == "=":
                self.level += 1
            elif ch == "[":
                self.lua, self.closing = LONG_COMMENT, -1
            else:
                self.lua = CODE if ch == "\n" else LINE_COMMENT
        elif state == LINE_COMMENT:
            if ch == "\n":
                self.lua = CODE
        elif state in (LONG_COMMENT, LONG_STRING):
            if ch == "]":
                if self.closing == self.level:
                    self.lua, self.closing = CODE, -1
                else:
                    self.closing = 0
            elif ch == "=" and self.closing >= 0:
                self.closing += 1
            else:
                self.closing = -1
        elif state == QUOTE:
            if ch == "\\":
                self.lua = ESCAPE
            elif ch == self.quote or ch == "\n":
                self.lua = CODE
        elif state == ESCAPE:
            self.lua = QUOTE
        elif state == BRACKET:
            if ch == "=":
                self.level += 1
            elif ch == "[":
                self.lua, self.closing = LONG_STRING, -1
            else:
                self.lua = CODE
                self._lua(ch)


# -- the tokenizer's pieces ---------------------------------------------------------------------------------------


def piece_texts(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """The text each token id adds when appended to a text: decoded after an anchor token and cut after it, so that
    a SentencePiece `▁x` gives " x" and a byte-level `Ġx` gives " x" alike."""
    anchor = tokenizer.encode("a", add_special_tokens=False)[-1:]
    size = len(tokenizer)
    kw = {"skip_special_tokens": False, "clean_up_tokenization_spaces": False}
    head = tokenizer.decode(anchor, **kw)
    texts = tokenizer.batch_decode([[*anchor, i] for i in range(size)], **kw)
    out = []
    for i, text in enumerate(texts):
        if text.startswith(head):
            out.append(text[len(head) :])
        else:  # a tokenizer whose decoding of the pair does not keep the anchor's text: the piece on its own
            out.append(tokenizer.convert_tokens_to_string([tokenizer.convert_ids_to_tokens(i)]))
    return out


@dataclass(frozen=True)
class InnerSeparator:
    """A piece with text before its separator (`io.open(`, `f:close(`, `(io.`): `chain` is the name chain that ends
    at the separator ("" when there is none), `opens` whether the piece starts with it (then a text that ends in a
    name continues it: `x` + `io.open` is `xio.open`)."""

    id: int
    before: str
    sep: str
    rest: str
    chain: str
    opens: bool

    @property
    def may_open(self) -> bool:
        """Whether the text before the separator ends as a receiver may: a name, or (for `:`) a call or an index."""
        last = self.before.rstrip(WHITE)[-1:]
        return last.isalnum() or last == "_" or (self.sep == ":" and last in ")]")

    @classmethod
    def of(cls, i: int, before: str, sep: str, rest: str) -> InnerSeparator:
        found = chain_end(before)
        if found is None or (found[0] > 0 and _continues_chain(before[found[0] - 1])):
            return cls(i, before, sep, rest, "", False)
        return cls(i, before, sep, rest, found[1], found[0] == 0)


def _continues_chain(ch: str) -> bool:
    return ch.isalnum() or ch in "_.:"


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def chain_end(text: str) -> tuple[int, str] | None:
    """The name chain a text ends with (`io.stdout`, `string`; white space around its dots and after it allowed):
    (where it starts, the chain as written, trailing white space left out); None when the text does not end in one.
    Read backwards, so that its cost is the chain's length."""
    end = len(text.rstrip(WHITE))
    i = end
    while True:
        j = i
        while j > 0 and _is_name_char(text[j - 1]):
            j -= 1
        if j == i or text[j].isdigit():
            return None
        k = j
        while k > 0 and text[k - 1] in WHITE:
            k -= 1
        if k > 0 and text[k - 1] == "." and not (k > 1 and text[k - 2] == "."):
            i = k - 1
            while i > 0 and text[i - 1] in WHITE:
                i -= 1
            continue
        return j, text[j:end]


class Pieces:
    """A tokenizer's pieces indexed by the identifier characters they carry."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.texts = piece_texts(tokenizer)
        specials = set(tokenizer.all_special_ids)
        specials |= {i for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if t.special}
        self.special = sorted(i for i in specials if 0 <= i < len(self.texts))
        self.free = list(self.special)  # never blocked: special tokens and pieces that add no text
        self.full: dict[str, list[int]] = defaultdict(list)  # all identifier characters, by text
        self.ended: dict[str, list[int]] = defaultdict(list)  # identifier characters (maybe none), then others
        self.white_full: dict[str, list[int]] = defaultdict(list)  # white space, then identifier characters only
        self.white_ended: dict[str, list[int]] = defaultdict(list)  # white space, identifier characters, others
        self.first: dict[str, list[int]] = defaultdict(list)  # by a leading separator: `..`, `::`
        # Pieces that carry a separator followed by more text: by what comes before it (white space or nothing)
        # [(id, rest)], and those with other text before it.
        self.separator_groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.inner_separator: list[InnerSeparator] = []
        special_set = set(self.special)
        for i, text in enumerate(self.texts):
            if i in special_set:
                continue
            if not text:
                self.free.append(i)
                continue
            run = _IDENT.match(text).group()
            (self.full if run == text else self.ended)[run].append(i)
            if text[0] in WHITE:
                body = text.lstrip(WHITE)
                after = _IDENT.match(body).group()
                if after == body:
                    self.white_full[after].append(i)
                elif after:
                    self.white_ended[after].append(i)
            if text[0] in SEPARATORS:
                self.first[text[0]].append(i)
            at = next((j for j, c in enumerate(text) if c in SEPARATORS), -1)
            if 0 <= at < len(text) - 1:
                before = text[:at]
                if before.strip(WHITE):
                    self.inner_separator.append(InnerSeparator.of(i, before, text[at], text[at + 1 :]))
                else:
                    self.separator_groups[text[: at + 1]].append((i, text[at + 1 :]))


# -- the constraint -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What one row may decode next: only `allowed` (a mask key), or anything but `blocked`."""

    allowed: tuple | None = None
    blocked: tuple[int, ...] = ()


@dataclass
class _RowState:
    text: str
    scan: Scan


def fits(text: str, members: frozenset[str], prefixes: frozenset[str], partial: str, white: bool, sep: str) -> bool:
    """Whether a piece's `text`, decoded after a constrained separator `sep`, white space (`white`) and the partial
    identifier `partial`, keeps the identifier on a documented member."""
    if not partial and not white and text[:1] == sep:  # `..` (concatenation) or `::` (a label): no member access
        return True
    if not partial:
        text = text.lstrip(WHITE)
        if not text:
            return True
    run = _IDENT.match(text).group()
    name = partial + run
    return name in prefixes if run == text else name in members


def namespaces(index: ApiIndex) -> dict[str, frozenset[str]]:
    """Each documented namespace (`string`, `socket.http`) and the names one level down, the base layer included."""
    found: dict[str, set[str]] = defaultdict(set)
    layers = [index] + ([index.base] if index.base is not None else [])
    for layer in layers:
        for name in [*layer.callables, *layer.not_callable]:
            parts = name.split(":", 1)[0].split(".")
            for depth in range(1, len(parts)):
                found[".".join(parts[:depth])].add(parts[depth])
    return {space: frozenset(names) for space, names in found.items()}


class ApiNameConstraint:
    """The documented names an answer may use after a separator; see the module docstring. `base` is the grader's
    base layer (None: the api.json's, else lua54); `report_type` says where the code is ("markdown" or "code")."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        api: Sequence[ApiEntry],
        *,
        report_type: str = "markdown",
        base: str | None = None,
    ):
        if report_type not in REPORT_TYPES:
            raise ValueError(f"report_type {report_type!r}: expected one of {', '.join(REPORT_TYPES)}")
        self.tokenizer = tokenizer
        self.report_type = report_type
        self.index = ApiIndex(api, base=base)
        layers = [self.index] + ([self.index.base] if self.index.base is not None else [])
        self.members: dict[str, frozenset[str]] = namespaces(self.index)
        self.members[METHODS] = frozenset(m for layer in layers for m in layer.methods)
        self._prefixes: dict[str, frozenset[str]] = {}
        self.pieces = Pieces(tokenizer)
        self._backend = getattr(tokenizer, "backend_tokenizer", None)
        self._contexts: dict[str, str | None] = {}
        self._allowed: dict[tuple, list[int] | None] = {}
        self._blocked_groups: dict[tuple[str, str], tuple[int, ...]] = {}
        self._piece_fits: dict[tuple[int, str], bool] = {}
        self._masks: dict[tuple, torch.Tensor] = {}

    # -- the processors

    def hf_processor(self, prompt_width: int | None = None) -> ApiNameLogitsProcessor:
        """A `transformers.LogitsProcessor` for one `generate` call (see the module docstring on rows)."""
        return ApiNameLogitsProcessor(self, prompt_width)

    def vllm_processor(self) -> Callable[[list[int], torch.Tensor], torch.Tensor]:
        """vLLM's per-request logits processor: `(output_ids, logits) -> logits`, `logits` the request's row. One per
        request (`VllmApiNameProcessor` makes them)."""
        return RequestProcessor(self)

    def decode(self, ids: Sequence[int]) -> str:
        """An answer's text: special tokens left out, no clean-up of spaces (its pieces' texts add up to it)."""
        if self._backend is not None:  # the Rust tokenizer itself: transformers' decode checks every id in Python
            return self._backend.decode(list(ids), skip_special_tokens=True)
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    # -- the rule

    def prefixes(self, key: str) -> frozenset[str]:
        if key not in self._prefixes:
            self._prefixes[key] = frozenset(m[:k] for m in self.members[key] for k in range(1, len(m) + 1))
        return self._prefixes[key]

    def context(self, code: str) -> str | None:
        """The member set (a namespace, or METHODS) the identifier after `code` (which ends with a separator) must
        be in, or None when it is free: the grader classifies a probe call written there."""
        if code in self._contexts:
            return self._contexts[code]
        if len(self._contexts) > 50_000:
            self._contexts.clear()
        sep = code[-1]
        key = None
        probe = code + PROBE + "()"
        verdicts = [self._probe(text, sep) for text in (probe, probe + _CLOSE_BLOCKS)]
        if all(v is not None for v in verdicts) and len(set(verdicts)) == 1:
            key = verdicts[0]
        self._contexts[code] = key
        return key

    def _probe(self, code: str, sep: str) -> str | None:
        calls = [c for c in self.index.calls_of(code).calls if c.resolved.endswith(sep + PROBE)]
        if not calls or self.index.classify(calls[-1]).kind != "hallucinated":
            return None
        if sep == ":":
            return METHODS if self.members[METHODS] else None
        space = calls[-1].resolved[: -len(sep + PROBE)]
        while space.startswith("_G."):
            space = space[3:]
        return space if self.members.get(space) else None

    def rule(self, text: str, scan: Scan) -> Rule | None:
        """What may follow the answer `text` (read by `scan`), or None: anything."""
        if not scan.in_code():
            return None
        code = scan.code(text)
        tail = code[-_TAIL:]  # a separator and the name after it, and the character before them
        after = _AFTER_SEPARATOR.search(tail)
        if after is not None and tail[: after.start()][-1:] != after.group(1):
            sep, white, partial = after.group(1), bool(after.group(2)), after.group(3) or ""
            key = self.context(code[: len(code) - len(tail) + after.end(1)])
            if key is not None and (not partial or partial in self.prefixes(key)):
                allowed = self._allowed_ids(key, partial, white, sep)
                if allowed is not None:
                    return Rule(allowed=(key, partial, white, sep))
        blocked = self._blocked(code)
        return Rule(blocked=blocked) if blocked else None

    def _allowed_ids(self, key: str, partial: str, white: bool, sep: str) -> list[int] | None:
        """The pieces that keep the identifier on a member (None when no piece can: then nothing is constrained)."""
        cache_key = (key, partial, white, sep)
        if cache_key in self._allowed:
            return self._allowed[cache_key]
        p = self.pieces
        ids: set[int] = set()
        for member in self.members[key]:
            if not member.startswith(partial):
                continue
            rest = member[len(partial) :]
            for k in range(1, len(rest) + 1):
                ids.update(p.full.get(rest[:k], ()))
                if not partial:
                    ids.update(p.white_full.get(rest[:k], ()))
            ids.update(p.ended.get(rest, ()))  # rest "" (a whole member): every piece that starts otherwise
            if not partial and rest:
                ids.update(p.white_ended.get(rest, ()))
        if not partial:
            ids.update(p.white_full.get("", ()))  # white space between the separator and the name
            if not white:
                ids.update(p.first.get(sep, ()))
        result = sorted(ids | set(p.free)) if ids else None
        self._allowed[cache_key] = result
        return result

    def _blocked(self, code: str) -> tuple[int, ...]:
        """Pieces that would write a separator and a name that the context they open does not document."""
        p = self.pieces
        blocked: list[int] = []
        names = _Names(code)
        opens = {sep: _may_open(code, sep, self.index, names) for sep in SEPARATORS}
        for head in p.separator_groups:
            if opens[head[-1]] and (key := self.context(code + head)) is not None:
                blocked += self._blocked_in_group(head, key)
        # A piece that holds its own chain (`(io.open`) is asked after the complete lines before it: the chain's
        # meaning depends on the bindings made there, and the verdict is kept for the rest of the line.
        lines = code[: code.rfind("\n") + 1]
        joins = bool(code) and _continues_chain(code[-1])
        for piece in p.inner_separator:
            if piece.chain and not (piece.opens and joins):
                root = piece.chain.split(".", 1)[0]
                if root in _KEYWORDS or not (self.index.is_root(root) or names.count(root) >= 1):
                    continue
                key = self.context(lines + piece.chain + piece.sep)
            elif piece.may_open and _may_open(code + piece.before, piece.sep, self.index, names):
                key = self.context(code + piece.before + piece.sep)
            else:
                continue
            if key is not None and not self._fits_piece(piece.id, piece.rest, key, piece.sep):
                blocked.append(piece.id)
        return tuple(blocked)

    def _fits_piece(self, i: int, rest: str, key: str, sep: str) -> bool:
        if (i, key) not in self._piece_fits:
            self._piece_fits[i, key] = fits(rest, self.members[key], self.prefixes(key), "", False, sep)
        return self._piece_fits[i, key]

    def _blocked_in_group(self, head: str, key: str) -> tuple[int, ...]:
        if (head, key) not in self._blocked_groups:
            members, prefixes, sep = self.members[key], self.prefixes(key), head[-1]
            group = self.pieces.separator_groups[head]
            self._blocked_groups[head, key] = tuple(
                i for i, rest in group if not fits(rest, members, prefixes, "", False, sep)
            )
        return self._blocked_groups[head, key]

    def mask(self, rule: Rule, size: int, device: torch.device) -> torch.Tensor:
        """The boolean mask of the pieces a rule with `allowed` lets through, for a vocabulary of `size` logits."""
        key = (rule.allowed, size, str(device))
        if key not in self._masks:
            if len(self._masks) > 4096:
                self._masks.clear()
            allowed = torch.zeros(size, dtype=torch.bool)
            ids = [i for i in self._allowed[rule.allowed] if i < size]
            allowed[ids] = True
            self._masks[key] = allowed.to(device)
        return self._masks[key]

    def apply(self, rule: Rule | None, logits: torch.Tensor) -> None:
        """Set the logits of one row (1-D) that the rule forbids to -inf, in place."""
        if rule is None:
            return
        if rule.allowed is not None:
            logits.masked_fill_(~self.mask(rule, logits.shape[-1], logits.device), float("-inf"))
        elif rule.blocked:
            blocked = [i for i in rule.blocked if i < logits.shape[-1]]
            logits[blocked] = float("-inf")


class _Names:
    """How often each name occurs in a text, counted when first asked."""

    def __init__(self, text: str):
        self.text = text
        self._counts: Counter | None = None

    def count(self, name: str) -> int:
        if self._counts is None:
            self._counts = Counter(_NAMES.findall(self.text))
        return self._counts[name]


def _may_open(code: str, sep: str, index: ApiIndex, names: _Names) -> bool:
    """A quick test of whether `sep` written after `code` could be constrained, before asking the grader: after a
    name chain whose root is documented or named earlier in the code (a variable or an alias), or `:` after a call
    or an index (`io.open(p):`)."""
    tail = code[-_TAIL:].rstrip(WHITE)
    if not tail:
        return False
    last = tail[-1]
    if last in ")]":
        return sep == ":"
    if not (last.isalnum() or last == "_"):
        return False
    chain = chain_end(tail)
    if chain is None:
        return False
    root = _NAMES.match(chain[1]).group()
    if root in _KEYWORDS:
        return False
    return index.is_root(root) or names.count(root) >= 2


class _Rows:
    """Each row's read of its answer, found from its tokens: the state after a row's previous tokens is extended by
    its newest one, whichever position the row has in the batch."""

    def __init__(self, constraint: ApiNameConstraint):
        self.constraint = constraint
        self.states: dict[tuple[int, ...], _RowState] = {}

    def state(self, ids: Sequence[int], into: dict) -> _RowState:
        key = tuple(ids)
        if key in self.states:
            into[key] = self.states[key]
            return self.states[key]
        text = self.constraint.decode(ids).rstrip("\ufffd")  # an incomplete UTF-8 sequence: read once it is complete
        parent = self.states.get(key[:-1]) if key else None
        if parent is not None and text.startswith(parent.text):
            scan = parent.scan.clone()
        else:
            scan = Scan(self.constraint.report_type)
        scan.read(text)
        into[key] = state = _RowState(text, scan)
        return state

    def rule(self, ids: Sequence[int], into: dict) -> Rule | None:
        state = self.state(ids, into)
        return self.constraint.rule(state.text, state.scan)


class ApiNameLogitsProcessor(LogitsProcessor):
    """The HF form (`ApiNameConstraint.hf_processor`). `steps_constrained` counts the row-steps it restricted."""

    def __init__(self, constraint: ApiNameConstraint, prompt_width: int | None = None):
        self.constraint = constraint
        self.prompt_width = prompt_width
        self._rows = _Rows(constraint)
        self._width: int | None = None  # the answer's start when not given
        self._prompts: set[tuple[int, ...]] = set()  # the rows of the generation's first step
        self._last = -1
        self.steps_constrained = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        width = input_ids.shape[1]
        if self.prompt_width is None and not self._continues(input_ids):
            # A new generation's first step: its width is the prompt's.
            self._width, self._rows.states = width, {}
            self._prompts = {tuple(row) for row in input_ids.tolist()}
        self._last = width
        start = self.prompt_width if self.prompt_width is not None else self._width
        states: dict = {}
        for row, ids in enumerate(input_ids[:, start:].tolist()):
            rule = self._rows.rule(ids, states)
            if rule is not None:
                self.steps_constrained += 1
                self.constraint.apply(rule, scores[row])
        self._rows.states = states
        return scores

    def _continues(self, input_ids: torch.LongTensor) -> bool:
        """Whether a call is the next step of the last one: one token longer, its first row one of the prompts the
        generation started with (rows may have left), and that row's answer an extension of one the last call saw."""
        if self._width is None or input_ids.shape[1] != self._last + 1:
            return False
        first = input_ids[0].tolist()
        return tuple(first[: self._width]) in self._prompts and tuple(first[self._width : -1]) in self._rows.states


@dataclass
class RequestProcessor:
    """vLLM's per-request form (`ApiNameConstraint.vllm_processor`): called with the request's output tokens so far
    and its row of logits."""

    constraint: ApiNameConstraint
    _rows: _Rows = field(init=False)

    def __post_init__(self) -> None:
        self._rows = _Rows(self.constraint)

    def __call__(self, output_ids: Sequence[int], logits: torch.Tensor) -> torch.Tensor:
        states: dict = {}
        self.constraint.apply(self._rows.rule(output_ids, states), logits)
        self._rows.states = states
        return logits


# -- vLLM ---------------------------------------------------------------------------------------------------------

VLLM_PROCESSOR = f"{__name__}:VllmApiNameProcessor"  # LLM(logits_processors=[VLLM_PROCESSOR])
VLLM_EXTRA_ARG = "luacoder_api_constraint"


def vllm_extra_args(api_path: str | Path, *, base: str | None = None, report_type: str = "markdown") -> dict:
    """`SamplingParams(extra_args=...)` that turn the constraint on for a request: the api.json it keeps to."""
    if report_type not in REPORT_TYPES:
        raise ValueError(f"report_type {report_type!r}: expected one of {', '.join(REPORT_TYPES)}")
    return {VLLM_EXTRA_ARG: {"api": str(api_path), "base": base, "report_type": report_type}}


def _vllm_class() -> type:
    """vLLM's batch-level processor (its V1 `AdapterLogitsProcessor`, vLLM 0.10 to 0.31), built on first use so
    that this module imports without vLLM. The engine makes it in its worker with the model's tokenizer; a request
    opts in with `vllm_extra_args`."""
    from transformers import AutoTokenizer
    from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

    from luacoder.apidocs.schema import load_api

    class VllmApiNameProcessor(AdapterLogitsProcessor):
        def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool):
            super().__init__(vllm_config, device, is_pin_memory)
            self._model_config = vllm_config.model_config
            self._tokenizer = None
            self._constraints: dict[tuple, ApiNameConstraint] = {}

        @classmethod
        def validate_params(cls, params: Any) -> None:
            spec = (getattr(params, "extra_args", None) or {}).get(VLLM_EXTRA_ARG)
            if spec is not None and not (isinstance(spec, dict) and isinstance(spec.get("api"), str)):
                raise ValueError(f"extra_args[{VLLM_EXTRA_ARG!r}] must be {{'api': path, ...}}: use vllm_extra_args")

        def is_argmax_invariant(self) -> bool:
            return False

        def new_req_logits_processor(self, params: Any):
            spec = (getattr(params, "extra_args", None) or {}).get(VLLM_EXTRA_ARG)
            if spec is None:
                return None
            key = (spec["api"], spec.get("base"), spec.get("report_type", "markdown"))
            if key not in self._constraints:
                if self._tokenizer is None:
                    self._tokenizer = AutoTokenizer.from_pretrained(
                        self._model_config.tokenizer,
                        trust_remote_code=bool(getattr(self._model_config, "trust_remote_code", False)),
                    )
                self._constraints[key] = ApiNameConstraint(
                    self._tokenizer, load_api(key[0]), base=key[1], report_type=key[2]
                )
            return self._constraints[key].vllm_processor()

    VllmApiNameProcessor.__module__ = __name__
    return VllmApiNameProcessor


def __getattr__(name: str) -> Any:
    if name == "VllmApiNameProcessor":
        cls = globals()[name] = _vllm_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
