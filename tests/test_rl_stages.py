"""deepspeed/RL reward.py, dpo.py and grpo.py: a few steps each under 2-process ZeRO-3 on the CPU, and checkpoints that
reload and behave as trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BUNDLED_DOCS
from stage_helpers import CPU_ZERO3, torchrun
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerFast,
)

from luacoder.apidocs import save_api
from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.data.preferences import build_preferences, save_preference_splits
from luacoder.dialogue import CHAT_TEMPLATE, DIALOGUE_TOKENS, EOS
from luacoder.train.tiny_model import save_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]
# The tiny models here have no LuaCoder metadata to inherit a system prompt from: the runs set one.
SYSTEM = "You are a helpful assistant that writes Lua code using the documented API."


@pytest.fixture(scope="module")
def api():
    return read_markdown_docs([BUNDLED_DOCS], name="lua54")


@pytest.fixture(scope="module")
def preferences(api, tmp_path_factory) -> dict[str, Path]:
    """16 train and 8 test pairs from the bundled docs' shortest examples (short rows keep the steps fast)."""
    examples = sorted((len(e.examples[0]), e.name, e.examples[0]) for e in api if e.examples)
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Show me {name}."},
                {"role": "assistant", "content": f"```lua\n{code}\n```"},
            ]
        }
        for _, name, code in examples[:40]
    ]
    pairs, _ = build_preferences(rows, api, seed=0)
    assert len(pairs) >= 24
    return save_preference_splits(tmp_path_factory.mktemp("preferences"), train=pairs[:16], test=pairs[16:24])


def _log(checkpoint: Path) -> list[dict]:
    return json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]


def _rendered(tokenizer, messages) -> torch.Tensor:
    return tokenizer.apply_chat_template(messages, tokenize=True, return_tensors="pt", return_dict=True)["input_ids"]


def _pairs(path: Path, checkpoint: Path) -> list[dict]:
    """The pairs as the stage trained on them: with the system prompt its run recorded (eval reads it there too)."""
    system = json.loads((checkpoint / "luacoder_meta.json").read_text())["config"]["system_prompt"]
    assert system == SYSTEM
    pairs = [json.loads(line) for line in path.read_text().splitlines()]
    return [dict(pair, prompt=[{"role": "system", "content": system}, *pair["prompt"]]) for pair in pairs]


def test_reward_model_reloads_and_scores_pairs_as_the_trainer_did(tiny_model_dir, preferences, tmp_path):
    out = tmp_path / "reward"
    torchrun(
        "RL",
        "reward.py",
        "reward_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={tiny_model_dir('starcoder2')}",
        f"--train_file={preferences['train']}",
        f"--test_file={preferences['test']}",
        f"--output_dir={out}",
        f"--system_prompt={SYSTEM}",
        "--max_steps=4",
        "--per_device_train_batch_size=4",
        "--per_device_eval_batch_size=4",
        "--eval_strategy=steps",
        "--eval_steps=4",
        "--save_strategy=steps",
        "--save_steps=4",
        "--logging_steps=1",
        "--report_to=none",
        "--learning_rate=1e-3",
    )
    checkpoint = out / "checkpoint-4"
    evaluated = next(entry for entry in _log(checkpoint) if "eval_margin" in entry)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id
    chosen, rejected = [], []
    with torch.no_grad():
        for pair in _pairs(preferences["test"], checkpoint):
            chosen.append(model(_rendered(tokenizer, pair["prompt"] + pair["chosen"])).logits[0, 0].item())
            rejected.append(model(_rendered(tokenizer, pair["prompt"] + pair["rejected"])).logits[0, 0].item())
    chosen, rejected = np.array(chosen), np.array(rejected)
    # The reloaded model is the trained one, scoring the conversations exactly as RewardTrainer rendered them.
    assert np.isclose((chosen - rejected).mean(), evaluated["eval_margin"], atol=1e-4)
    assert np.isclose((chosen > rejected).mean(), evaluated["eval_accuracy"])
    assert np.isclose(np.concatenate([chosen, rejected]).mean(), evaluated["eval_mean_reward"], atol=1e-4)
    assert json.loads((out / "luacoder_meta.json").read_text())["stage"] == "reward"


def _margins(model_dir: Path, pairs: list[dict]) -> np.ndarray:
    """log p(chosen) - log p(rejected) of each pair's answer (its content and <|end|>) given the prompt."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    margins = []
    for pair in pairs:
        prompt = tokenizer.apply_chat_template(pair["prompt"], add_generation_prompt=True, tokenize=True)
        prompt_length = len(prompt["input_ids"] if isinstance(prompt, dict) else prompt)
        logps = []
        for answer in (pair["chosen"], pair["rejected"]):
            ids = _rendered(tokenizer, pair["prompt"] + answer)
            with torch.no_grad():
                logits = model(ids).logits[0, :-1].log_softmax(-1)
            targets = ids[0, 1:]
            logps.append(logits.gather(1, targets[:, None])[prompt_length - 1 :].sum().item())
        margins.append(logps[0] - logps[1])
    return np.array(margins)


def test_dpo_moves_the_policy_toward_the_documented_answers(tiny_model_dir, preferences, tmp_path):
    start = tiny_model_dir("starcoder2")
    out = tmp_path / "dpo"
    torchrun(
        "RL",
        "dpo.py",
        "dpo_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={start}",
        f"--train_file={preferences['train']}",
        "--test_file=none",
        f"--output_dir={out}",
        f"--system_prompt={SYSTEM}",
        "--max_steps=6",
        "--per_device_train_batch_size=2",
        "--eval_strategy=no",
        "--save_strategy=steps",
        "--save_steps=6",
        "--logging_steps=1",
        "--report_to=none",
        "--learning_rate=1e-3",
        "--lr_scheduler_type=constant",
        "--warmup_steps=0",
    )
    checkpoint = out / "checkpoint-6"
    pairs = _pairs(preferences["train"], checkpoint)
    gained = _margins(checkpoint, pairs) - _margins(start, pairs)
    assert gained.mean() > 0 and (gained > 0).mean() >= 0.75, gained
    policy = AutoModelForCausalLM.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert tokenizer.chat_template == CHAT_TEMPLATE  # still a chat checkpoint: eval and generate take it as is
    assert tokenizer.convert_tokens_to_ids("<|end|>") in policy.generation_config.eos_token_id
    assert json.loads((checkpoint / "luacoder_meta.json").read_text())["stage"] == "dpo"


# The toy task: one prompt, and a vocabulary in which each answer is one token, so a completion of one token is a
# choice among these answers (and the dialogue tokens). The grader's rewards rank them; GRPO must find the best.
TOY_PROMPT = "Repeat ab three times."
TOY_ANSWERS = [
    '```lua\nprint(string.rep("ab", 3))\n```',  # correct_call 1.0, expected_recall 1.0
    '```lua\nprint(string.repeat("ab", 3))\n```',  # a hallucinated name: 0.5, 0.0
    '```lua\nprint(table.rep("ab", 3))\n```',  # a wrong module: 0.5, 0.0
    '```lua\nprint(string.rep("ab"))\n```',  # a wrong argument count: 0.5, 1.0
]


def _toy_model(folder: Path) -> None:
    raw = Tokenizer(models.WordLevel({EOS: 0, "<unk>": 1}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token=EOS, pad_token=EOS, unk_token="<unk>", extra_special_tokens=DIALOGUE_TOKENS
    )
    tokenizer.add_tokens(TOY_ANSWERS)
    tokenizer.chat_template = CHAT_TEMPLATE
    save_tiny_model(
        "starcoder2", tokenizer, folder, seed=0, hidden_size=32, intermediate_size=64, num_attention_heads=2,
        num_key_value_heads=1,
    )  # fmt: skip


def test_grpo_raises_the_graders_reward_on_a_toy_task(api, tmp_path):
    _toy_model(tmp_path / "toy")
    save_api(api, tmp_path / "api.json")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(f"prompt,expected_apis\n{TOY_PROMPT},string.rep\n")
    out = tmp_path / "grpo"
    torchrun(
        "RL",
        "grpo.py",
        "grpo_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={tmp_path / 'toy'}",
        f"--api_path={tmp_path / 'api.json'}",
        f"--train_file={prompts}",
        f"--output_dir={out}",
        f"--system_prompt={SYSTEM}",
        "--reward_funcs=[correct_call, expected_recall]",
        "--reward_weights=[1.0, 1.0]",
        "--num_generations=8",
        "--per_device_train_batch_size=4",
        "--max_completion_length=1",
        "--max_steps=12",
        "--save_steps=12",
        "--logging_steps=1",
        "--learning_rate=0.02",
        "--report_to=none",
    )
    checkpoint = out / "checkpoint-12"
    rewards = [entry["reward"] for entry in _log(checkpoint) if "reward" in entry]
    assert len(rewards) == 12
    assert np.mean(rewards[-3:]) > np.mean(rewards[:3]) + 0.5 and np.mean(rewards[-3:]) > 1.5, rewards
    # The reloaded policy answers with the documented call.
    policy = AutoModelForCausalLM.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    prompt = tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TOY_PROMPT}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )  # fmt: skip
    answer = policy.generate(**prompt, max_new_tokens=1, do_sample=False)[0, -1:]
    assert tokenizer.decode(answer) == TOY_ANSWERS[0]
    assert json.loads((checkpoint / "luacoder_meta.json").read_text())["stage"] == "grpo"
