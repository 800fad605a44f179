"""The tiny tokenizer fixture: special tokens, the dialogue template and its trained-token mask."""

from __future__ import annotations

import pytest

from luacoder.dialogue import DIALOGUE_TOKENS, FIM_TOKENS

MESSAGES = [
    {"role": "system", "content": "You write Lua 5.4."},
    {"role": "user", "content": "Repeat ab three times."},
    {"role": "assistant", "content": 'print(string.rep("ab", 3))'},
    {"role": "user", "content": "With dashes?"},
    {"role": "assistant", "content": 'print(string.rep("ab", 3, "-"))'},
]


def test_special_tokens_are_single_tokens(tokenizer):
    for token in [*DIALOGUE_TOKENS, *FIM_TOKENS, tokenizer.eos_token]:
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1, token
        assert tokenizer.convert_ids_to_tokens(ids) == [token]
    assert len(set(tokenizer.convert_tokens_to_ids([*DIALOGUE_TOKENS, *FIM_TOKENS]))) == 8


def test_chat_template_renders_the_dialogue_format(tokenizer):
    text = tokenizer.apply_chat_template(MESSAGES[:3], tokenize=False, add_generation_prompt=False)
    assert text == (
        "<|system|>\nYou write Lua 5.4.<|end|>\n"
        "<|user|>\nRepeat ab three times.<|end|>\n"
        '<|assistant|>\nprint(string.rep("ab", 3))<|end|>\n'
    )
    prompt = tokenizer.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|user|>\nRepeat ab three times.<|end|>\n<|assistant|>\n")


def test_chat_template_marks_exactly_the_assistant_content_and_end(tokenizer):
    out = tokenizer.apply_chat_template(MESSAGES, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    assistant_id = tokenizer.convert_tokens_to_ids("<|assistant|>")
    # Two assistant turns, each a contiguous run that ends with <|end|>; role tokens are never trained.
    runs, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    assert len(runs) == 2
    for (a, b), message in zip(runs, (MESSAGES[2], MESSAGES[4]), strict=True):
        assert ids[b - 1] == end_id
        assert tokenizer.decode(ids[a : b - 1]) == message["content"]
    assert all(mask[i] == 0 for i, t in enumerate(ids) if t == assistant_id)
    assert sum(mask) == sum(b - a for a, b in runs)


def test_chat_template_rejects_unknown_roles(tokenizer):
    with pytest.raises(Exception, match="unknown role tool"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_tokenizer_round_trips_lua(tokenizer):
    code = 'local t = {}\nfor i = 1, 3 do t[#t + 1] = ("%d"):format(i) end\nprint(table.concat(t, ", "))\n'
    assert tokenizer.decode(tokenizer.encode(code, add_special_tokens=False)) == code


def test_saved_tokenizer_reloads_with_template_and_tokens(tokenizer_dir, tokenizer):
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert again.chat_template == tokenizer.chat_template
    assert again.get_vocab() == tokenizer.get_vocab()
    assert again.eos_token == "<|endoftext|>" and again.pad_token_id == again.eos_token_id == 0
