"""Which chat template a stage trains with: the model's own (`model`) or LuaCoder's dialogue template (`luacoder`).

An instruct model already knows its own template (SmolLM2 and Qwen write ChatML, Llama 3 its header tokens);
retraining it on `<|system|>`... tokens it has never seen throws that away. So the default is the model's template
when the tokenizer has one, and the dialogue template when it has none (a base model, a tokenizer trained here).

Assistant-only loss needs `{% generation %}` markers around what the assistant writes, which ChatML-style templates
lack. `training_template` gives a marked version of the model's template that renders exactly the same text
(checked on probe conversations before it is used): the assistant's content and its end-of-turn token are wrapped
in the template's own source. TRL's table of hand-marked templates is the fallback for templates too involved to
mark that way.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from luacoder.dialogue import CHAT_TEMPLATE, END
from luacoder.errors import UserError

CHOICES = ("model", "luacoder")
GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")

# Probe turns: plain words that no template rewrites, and that tokenise apart from the tokens around them.
_PROBE_ANSWER = "Probe answer: print(1)"
_PROBES = [
    [
        {"role": "system", "content": "You write Lua."},
        {"role": "user", "content": "Print one."},
        {"role": "assistant", "content": "print(1)"},
    ],
    [
        {"role": "user", "content": "Repeat ab."},
        {"role": "assistant", "content": 'print(("ab"):rep(3))'},
        {"role": "user", "content": "Upper case?"},
        {"role": "assistant", "content": 'local s = ("ab"):rep(3)\nprint(s:upper())'},
    ],
    [{"role": "user", "content": "Only a question"}],
]


class ChatTemplateError(UserError, ValueError):
    """The requested template cannot be used; the message says why and what to set instead."""


def resolve_chat_template(tokenizer: PreTrainedTokenizerBase, choice: str | None) -> str:
    """`model` or `luacoder`: the choice made explicit. None (or `auto`) means the model's template when the
    tokenizer has one. A tokenizer that already carries the dialogue template (a LuaCoder checkpoint) is `luacoder`
    whatever was asked, since its own template is the dialogue template."""
    if choice not in (None, "auto", *CHOICES):
        raise ChatTemplateError(f"chat_template must be one of {', '.join(CHOICES)} (or auto), got {choice!r}")
    template = tokenizer.chat_template
    if template == CHAT_TEMPLATE:
        return "luacoder"
    if choice in (None, "auto"):
        return "model" if template else "luacoder"
    if choice == "model" and not template:
        raise ChatTemplateError(
            f"chat_template: model, but the tokenizer of {tokenizer.name_or_path or 'this model'} has no chat"
            " template; set chat_template: luacoder to train with LuaCoder's dialogue template"
        )
    return choice


def end_of_turn_token(tokenizer: PreTrainedTokenizerBase, template: str | None = None) -> str:
    """The special token the template writes right after an assistant's answer (`<|im_end|>` for ChatML): where
    generation stops, and what assistant-only loss must train the model to write."""
    messages = [
        {"role": "user", "content": "Probe question"},
        {"role": "assistant", "content": _PROBE_ANSWER},
        {"role": "user", "content": "Probe question"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template)
    if _PROBE_ANSWER not in text:
        raise ChatTemplateError("the chat template does not write the assistant's content as given")
    after = text[text.index(_PROBE_ANSWER) + len(_PROBE_ANSWER) :]
    specials = sorted({*tokenizer.all_special_tokens, *tokenizer.get_added_vocab()}, key=len, reverse=True)
    for token in specials:
        if token and after.startswith(token):
            return token
    raise ChatTemplateError(
        f"the chat template does not end the assistant's turn with a special token (it writes {after[:30]!r} after"
        " the answer), so there is no token for generation to stop at; set chat_template: luacoder"
    )


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, configured: int | Sequence[int] | None = None) -> list[int]:
    """The ids that end an answer, the one definition every stage and the inference engine use: the `configured`
    EOS id(s) (a generation config's `eos_token_id`), the tokenizer's EOS, `<|end|>` when the tokenizer has it, and
    the end-of-turn token of its chat template (`<|im_end|>` for ChatML)."""
    from jinja2 import TemplateError

    stops = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    if tokenizer.eos_token_id is not None:
        stops.append(tokenizer.eos_token_id)
    if END in tokenizer.get_vocab():
        stops.append(tokenizer.convert_tokens_to_ids(END))
    if isinstance(tokenizer.chat_template, str) and tokenizer.chat_template:
        # A template without an end-of-turn token, or one that cannot render the probe: the EOS ids above stop it.
        with contextlib.suppress(ChatTemplateError, TemplateError, ValueError, TypeError):
            stops.append(tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer)))
    return list(dict.fromkeys(stops))


def training_template(tokenizer: PreTrainedTokenizerBase) -> str:
    """The tokenizer's chat template with `{% generation %}` around each assistant's content and end-of-turn token,
    rendering exactly what the template renders. A template that has the markers already is returned as it is."""
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template:
        raise ChatTemplateError(
            "the tokenizer has no single chat template (none, or named variants); set chat_template: luacoder"
        )
    if GENERATION_TAG.search(template):
        return template
    end = end_of_turn_token(tokenizer)
    problems = []
    try:
        marked = mark_assistant_turns(template, end, tokenizer.eos_token)
        check_training_template(tokenizer, template, marked, end)
        return marked
    except ChatTemplateError as exc:
        problems.append(str(exc))
    # TRL ships hand-marked versions of some templates (Qwen3, Llama 3, Gemma, ...) that differ from the originals
    # only where the originals are not prefix-preserving; their masks are checked the same way.
    from jinja2 import TemplateError
    from trl.chat_template_utils import get_training_chat_template

    try:
        marked = get_training_chat_template(tokenizer)
    except (ValueError, TemplateError) as exc:
        problems.append(f"TRL has no marked version of it either ({exc})")
    else:
        if marked is not None:
            check_training_template(tokenizer, None, marked, end)
            return marked
    raise ChatTemplateError(
        "cannot mark the assistant's turns in the model's chat template for assistant-only loss: "
        + "; ".join(problems)
        + ". Set chat_template: luacoder, or give the tokenizer a template with {% generation %} markers"
    )


def mark_assistant_turns(template: str, end_token: str, eos_token: str | None = None) -> str:
    """Wrap the assistant's content and end-of-turn token in `{% generation %}`, in the template's source.

    Every output expression `{{ ... + MSG['content'] + 'END...' + ... }}` (MSG being the loop variable) becomes
    `{{ before }}{% if MSG['role'] == 'assistant' %}{% generation %}{{ MSG['content'] + 'END' }}{% endgeneration %}
    {% else %}{{ MSG['content'] + 'END' }}{% endif %}{{ after }}`: the same text for every role, marked for the
    assistant's. The outer pieces stay `{{ }}` expressions, so the template's trim_blocks/lstrip_blocks treat the
    text around them as before."""
    out, last, count = [], 0, 0
    for match in _EXPRESSION.finditer(template):
        replacement = _mark_expression(match, end_token, eos_token)
        if replacement is not None:
            out.append(template[last : match.start()] + replacement)
            last, count = match.end(), count + 1
    if not count:
        raise ChatTemplateError(
            f"found no expression that writes a message's content followed by {end_token!r} in the template"
        )
    return "".join(out) + template[last:]


_EXPRESSION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
# `message['content']`, `message.content`, with filters (`| trim`), which bind tighter than `+`.
_CONTENT = re.compile(r"^(\w+)\s*(?:\[\s*(['\"])content\2\s*\]|\.content)(\s*\|\s*\w+(\s*\([^()]*\))?)*$")
_STRING = re.compile(r"""^(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")$""", re.DOTALL)
_KEYWORDS = {"if", "else", "and", "or", "not", "in", "is"}


def _mark_expression(match: re.Match, end_token: str, eos_token: str | None) -> str | None:
    left_trim, body, right_trim = match.groups()
    terms = _split_concatenation(body)
    if terms is None:
        return None
    for i, term in enumerate(terms[:-1]):
        content = _CONTENT.match(term)
        if not content:
            continue
        end_term, rest = _split_end_term(terms[i + 1], end_token, eos_token)
        if end_term is None:
            return None
        variable = content.group(1)
        before, after = terms[:i], ([rest] if rest else []) + terms[i + 2 :]
        turn = f"{term} + {end_term}"
        return (
            f"{{{{{left_trim} {' + '.join(before) or repr('')} }}}}"
            f"{{% if {variable}['role'] == 'assistant' %}}{{% generation %}}{{{{ {turn} }}}}{{% endgeneration %}}"
            f"{{% else %}}{{{{ {turn} }}}}{{% endif %}}"
            f"{{{{ {' + '.join(after) or repr('')} {right_trim}}}}}"
        )
    return None


def _split_end_term(term: str, end_token: str, eos_token: str | None) -> tuple[str | None, str | None]:
    """The end-of-turn token as a literal of its own, and what the same literal writes after it (`'\\n'`)."""
    if eos_token is not None and term == "eos_token" and end_token == eos_token:
        return term, None
    if not _STRING.match(term):
        return None, None
    # Decoded as Jinja's lexer decodes a string literal (raw newlines allowed, Python-style escapes).
    text = term[1:-1].replace("\r\n", "\n").encode("ascii", "backslashreplace").decode("unicode-escape")
    if not text.startswith(end_token):
        return None, None
    rest = text[len(end_token) :]
    return repr(end_token), (repr(rest) if rest else None)


def _split_concatenation(body: str) -> list[str] | None:
    """The terms of `a + b + c` at the top level (outside strings and brackets), or None for any other expression
    at the top level (a conditional expression, `~`, a filter on the whole sum), which is not rewritten."""
    terms, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(body):
        char = body[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and char == "+":
            terms.append(body[start:i].strip())
            start = i + 1
        elif depth == 0 and char == "~":
            return None
        elif (
            depth == 0
            and (char.isalpha() or char == "_")
            and (i == 0 or not (body[i - 1].isalnum() or body[i - 1] in "_."))
        ):
            word = re.match(r"\w+", body[i:]).group()
            if word in _KEYWORDS:
                return None
            i += len(word) - 1
        i += 1
    terms.append(body[start:].strip())
    return terms if len(terms) > 1 and all(terms) and quote is None and depth == 0 else None


def check_training_template(
    tokenizer: PreTrainedTokenizerBase, original: str | None, marked: str, end_token: str
) -> None:
    """Refuse a marked template unless, on the probe conversations, it renders the same token ids as `original`
    (when given) and its assistant mask covers exactly each assistant's content and `end_token`."""
    for messages in _PROBES:
        closed = messages[-1]["role"] == "assistant"
        if original is not None:
            for prompt in (False, True) if not closed else (False,):
                ids = [
                    _ids(tokenizer, messages, template, add_generation_prompt=prompt)
                    for template in (original, marked)
                ]
                if ids[0] != ids[1]:
                    raise ChatTemplateError(
                        "the marked template renders differently from the original: "
                        f"{_render(tokenizer, messages, marked, prompt)!r} instead of"
                        f" {_render(tokenizer, messages, original, prompt)!r}"
                    )
        if not closed:
            continue
        output = tokenizer.apply_chat_template(
            messages, chat_template=marked, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        covered = [tokenizer.decode(run) for run in masked_runs(output["input_ids"], output["assistant_masks"])]
        expected = [m["content"] + end_token for m in messages if m["role"] == "assistant"]
        if covered != expected:
            raise ChatTemplateError(
                f"the marked template's assistant mask covers {covered!r}, not the assistant's turns {expected!r}"
            )


def masked_runs(input_ids: Sequence[int], mask: Sequence[int]) -> list[list[int]]:
    """The runs of consecutive ids whose mask is 1, in order."""
    runs: list[list[int]] = []
    previous = 0
    for token, flag in zip(input_ids, mask, strict=True):
        if flag:
            if not previous:
                runs.append([])
            runs[-1].append(token)
        previous = flag
    return runs


def _render(tokenizer, messages, template, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def _ids(tokenizer, messages, template, add_generation_prompt: bool) -> list[int]:
    text = _render(tokenizer, messages, template, add_generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]
