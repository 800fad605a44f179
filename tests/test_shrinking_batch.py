"""luacoder.evaluation.shrinking_batch: rows leave the batch when they finish, and the answers do not change."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, LogitsProcessor, LogitsProcessorList

from luacoder.dialogue import END, chat_messages
from luacoder.evaluation.engine import format_chat
from luacoder.evaluation.shrinking_batch import DecodeCounts, generate_shrinking, generate_static
from luacoder.train.model_setup import load_chat_model

PROMPTS = [
    "How do I reverse a table?",
    "string.format",
    "Read a file line by line, printing each line with its number, then close the file.",
    "x",
    "What does coroutine.wrap return?",
    "Sort a table of strings by length.",
    "io.open",
]


class EndAfterToken(LogitsProcessor):
    """Forces `<|end|>` in every row whose last token is divisible by `modulus`: rows end at different steps, and
    each row's fate depends on its own tokens alone (not on the batch), as a per-row processor must."""

    def __init__(self, end_id: int, modulus: int, prompt_last: int):
        self.end_id, self.modulus, self.prompt_last = end_id, modulus, prompt_last

    def __call__(self, input_ids, scores):
        last = input_ids[:, -1]
        ending = (last % self.modulus == 0) & (last != self.prompt_last)
        scores = scores.clone()
        scores[ending] = -float("inf")
        scores[ending, self.end_id] = 0.0
        return scores


@pytest.fixture(scope="module", params=["starcoder2", "gpt_bigcode"])
def noisy_model(request, tiny_model_dir, tokenizer, tmp_path_factory):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir(request.param))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    folder = tmp_path_factory.mktemp("noisy")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return load_chat_model(str(folder))


def test_greedy_answers_equal_static_batching_and_fewer_row_steps_are_spent(noisy_model):
    model, tokenizer = noisy_model
    texts = [format_chat(tokenizer, chat_messages(p)) for p in PROMPTS]
    end_id = tokenizer.convert_tokens_to_ids(END)
    prompt_last = tokenizer(texts[0], add_special_tokens=False)["input_ids"][-1]

    def processor():
        return LogitsProcessorList([EndAfterToken(end_id, 7, prompt_last)])

    static = generate_static(model, tokenizer, texts, max_new_tokens=24, batch_size=4, logits_processor=processor())
    counts = DecodeCounts()
    shrinking = generate_shrinking(
        model,
        tokenizer,
        texts,
        seeds=range(len(texts)),
        max_new_tokens=24,
        batch_size=4,
        logits_processor=processor(),
        counts=counts,
    )
    assert [c.text for c in shrinking] == [c.text for c in static]
    assert [c.new_tokens for c in shrinking] == [c.new_tokens for c in static]
    lengths = [c.new_tokens for c in static]
    assert len(set(lengths)) > 2, f"the rows should end at different steps: {lengths}"

    # Static batching runs every row of a batch for as many steps as its longest answer; here a row runs its own.
    order = sorted(range(len(texts)), key=lambda i: -len(tokenizer(texts[i], add_special_tokens=False)["input_ids"]))
    batches = [order[s : s + 4] for s in range(0, len(order), 4)]
    static_row_steps = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert counts.row_steps == sum(lengths) < static_row_steps
    assert counts.forward_passes == sum(max(lengths[i] for i in b) for b in batches)


def test_sampled_answers_do_not_depend_on_the_batch(noisy_model):
    model, tokenizer = noisy_model
    texts = [format_chat(tokenizer, chat_messages(p)) for p in PROMPTS]
    options = dict(max_new_tokens=10, do_sample=True, temperature=1.0, top_p=0.95, top_k=50)
    seeds = [100 + i for i in range(len(texts))]
    batched = generate_shrinking(model, tokenizer, texts, seeds=seeds, batch_size=3, **options)
    alone = [
        generate_shrinking(model, tokenizer, [text], seeds=[seed], batch_size=1, **options)[0]
        for text, seed in zip(texts, seeds, strict=True)
    ]
    assert [c.text for c in batched] == [c.text for c in alone]
    reseeded = generate_shrinking(model, tokenizer, texts, seeds=[s + 1 for s in seeds], batch_size=3, **options)
    assert [c.text for c in reseeded] != [c.text for c in batched]


def test_seeds_must_match_the_texts(noisy_model):
    model, tokenizer = noisy_model
    with pytest.raises(ValueError, match="2 texts but 1 seeds"):
        generate_shrinking(model, tokenizer, ["a", "b"], seeds=[0])
