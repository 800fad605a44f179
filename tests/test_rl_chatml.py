"""RL from a chat checkpoint trained with the model's own chat template (ChatML, as SmolLM2's): on-policy pairs, DPO
and GRPO take it, keep the template, inherit the system prompt, and the results answer with <|im_end|>.

The checkpoint is a tiny random StarCoder2 with the test tokenizer, ChatML's two tokens and SmolLM2's template
verbatim, chat fine-tuned by deepspeed/chat/train.py on a toy task (each prompt answered by one of four answers, then
<|im_end|>). It takes the same code path as SmolLM2 (the model template, marked for assistant-only loss, stopping at
<|im_end|>), in seconds and without the package index; test_real_model.py runs the real SmolLM2 through the chat stage.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BUNDLED_DOCS
from stage_helpers import python_stage, write_jsonl
from test_chat_format import SMOLLM2_TEMPLATE
from transformers import AutoModelForCausalLM, AutoTokenizer

from luacoder.apidocs import save_api
from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.evaluation.engine import Decoding
from luacoder.grading.api_index import load_index
from luacoder.rl.policy_pairs import PairsSettings, build_policy_pairs, read_prompt_rows, save_policy_pairs
from luacoder.train.tiny_model import save_tiny_model

pytestmark = pytest.mark.slow

SYSTEM = "You write Lua with the documented API."
# Per prompt: a clean answer, an invented module member, an invented global, a wrong argument count.
TASKS = {
    "Repeat ab three times.": (
        "string.rep",
        [
            '```lua\nprint(string.rep("ab", 3))\n```',
            '```lua\nprint(string.repeat("ab", 3))\n```',
            '```lua\nprint(rep("ab", 3))\n```',
            '```lua\nprint(string.rep("ab"))\n```',
        ],
    ),
    "Upper-case the word lua.": (
        "string.upper",
        [
            '```lua\nprint(string.upper("lua"))\n```',
            '```lua\nprint(string.toUpper("lua"))\n```',
            '```lua\nprint(upper("lua"))\n```',
            '```lua\nprint(string.upper("lua", 1))\n```',
        ],
    ),
}
CLEAN = {question: answers[0] for question, (_, answers) in TASKS.items()}
HALLUCINATING = {answer for _, answers in TASKS.values() for answer in answers[1:3]}


@pytest.fixture(scope="module")
def chat_checkpoint(tokenizer, tmp_path_factory) -> Path:
    """A ChatML chat checkpoint, as deepspeed/chat/train.py writes it (template and system prompt in its metadata)."""
    root = tmp_path_factory.mktemp("chatml")
    chatml = copy.deepcopy(tokenizer)
    chatml.add_special_tokens({"extra_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    chatml.chat_template = SMOLLM2_TEMPLATE
    save_tiny_model("starcoder2", chatml, root / "base", seed=0, hidden_size=64, intermediate_size=128)
    rows = [
        {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
        for question, (_, answers) in TASKS.items()
        for answer, times in zip(answers, (2, 2, 2, 1), strict=True)  # the wrong arity less often
        for _ in range(times)
    ]
    python_stage(
        "chat",
        "train.py",
        "config_cpu.yaml",
        f"--model_name_or_path={root / 'base'}",
        f"--train_file={write_jsonl(root / 'chat.jsonl', rows * 2)}",
        "--test_file=none",
        f"--output_dir={root / 'chat'}",
        f"--system_prompt={SYSTEM}",
        "--max_steps=150",
        "--per_device_train_batch_size=1",
        "--learning_rate=3e-3",
        "--warmup_steps=0",
        "--save_strategy=no",
        "--eval_strategy=no",
        "--report_to=none",
    )
    return root / "chat"


def _meta(folder: Path) -> dict:
    return json.loads((folder / "luacoder_meta.json").read_text())


def _greedy(folder: Path, question: str) -> tuple[list[int], AutoTokenizer]:
    """The new token ids of the model's greedy answer to `question`, asked with its recorded system prompt."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    messages = [{"role": "system", "content": _meta(folder)["config"]["system_prompt"]}]
    inputs = tokenizer.apply_chat_template(
        [*messages, {"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt",
        return_dict=True,
    )  # fmt: skip
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    return output[0, inputs["input_ids"].shape[1] :].tolist(), tokenizer


def assert_keeps_chatml_and_answers_with_im_end(folder: Path, parent: Path, stage: str) -> None:
    meta = _meta(folder)
    assert meta["stage"] == stage and meta["parent"] == str(parent.resolve())
    # Inherited from the chat checkpoint's metadata: no stage was given either.
    assert meta["config"]["chat_template"] == "model" and meta["config"]["system_prompt"] == SYSTEM
    saved = AutoTokenizer.from_pretrained(folder)
    assert saved.chat_template == AutoTokenizer.from_pretrained(parent).chat_template
    conversation = [{"role": "user", "content": "Repeat ab three times."}, {"role": "assistant", "content": "x"}]
    assert saved.apply_chat_template(conversation, tokenize=False) == saved.apply_chat_template(
        conversation, tokenize=False, chat_template=SMOLLM2_TEMPLATE
    )  # still SmolLM2's ChatML, token for token
    im_end = saved.convert_tokens_to_ids("<|im_end|>")
    assert len(saved) == len(AutoTokenizer.from_pretrained(parent))  # no token was added
    assert im_end in AutoModelForCausalLM.from_pretrained(folder).generation_config.eos_token_id
    for question in TASKS:
        ids, tokenizer = _greedy(folder, question)
        assert ids[-1] == im_end, tokenizer.decode(ids)  # the answer ends its turn with <|im_end|>
        answer = tokenizer.decode(ids[:-1])
        assert answer.startswith("```lua\nprint(") and answer.endswith(")\n```"), answer


def test_the_chat_checkpoint_answers_the_toy_task_in_chatml(chat_checkpoint):
    meta = _meta(chat_checkpoint)
    assert meta["config"]["chat_template"] == "model" and meta["config"]["system_prompt"] == SYSTEM
    im_end = AutoTokenizer.from_pretrained(chat_checkpoint).convert_tokens_to_ids("<|im_end|>")
    for question in TASKS:
        ids, tokenizer = _greedy(chat_checkpoint, question)
        assert ids[-1] == im_end and tokenizer.decode(ids[:-1]) in TASKS[question][1]  # one of its four answers


@pytest.fixture(scope="module")
def api_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "api.json"
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), path)
    return path


@pytest.fixture(scope="module")
def prompts_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "train_prompts.csv"
    path.write_text("prompt,expected_apis\n" + "".join(f"{q},{api}\n" for q, (api, _) in TASKS.items()))
    return path


@pytest.fixture(scope="module")
def policy_pairs(chat_checkpoint, api_path, prompts_csv, tmp_path_factory) -> Path:
    """luacoder policy-pairs' library calls: 8 answers per prompt sampled from the chat checkpoint (at a low
    temperature: the toy model's four answers stay about equally likely, the noise of its few training steps goes)."""
    index = load_index(api_path)
    settings = PairsSettings(
        samples_per_prompt=8,
        pairs_per_prompt=2,
        seed=0,
        decoding=Decoding(max_new_tokens=40, do_sample=True, temperature=0.7, top_p=1.0, top_k=0),
        system_prompt=SYSTEM,
    )
    prompts = read_prompt_rows([prompts_csv], index, settings)
    rows, samples, report = build_policy_pairs(chat_checkpoint, index, prompts, settings)
    about = {"checkpoint": str(chat_checkpoint), "api_path": str(api_path)}
    out = tmp_path_factory.mktemp("pairs") / "pairs"
    save_policy_pairs(out, rows, samples, report, {**about, **_card_settings(settings)})
    return out


def _card_settings(settings: PairsSettings) -> dict:
    return {
        "samples_per_prompt": settings.samples_per_prompt,
        "pairs_per_prompt": settings.pairs_per_prompt,
        "seed": settings.seed,
        "temperature": settings.decoding.temperature,
        "top_p": settings.decoding.top_p,
        "top_k": settings.decoding.top_k,
        "max_new_tokens": settings.decoding.max_new_tokens,
        "system_prompt": settings.system_prompt,
        "count_undefined_globals": settings.count_undefined_globals,
    }


def test_on_policy_pairs_put_the_clean_answer_against_the_models_own_hallucinations(policy_pairs):
    summary = json.loads((policy_pairs / "summary.json").read_text())
    samples = [json.loads(line) for line in (policy_pairs / "samples.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (policy_pairs / "train.jsonl").read_text().splitlines()]
    assert summary["samples"] == len(samples) == 16 and summary["prompts"] == 2
    assert summary["clean_samples"] == sum(s["clean"] for s in samples) >= 2
    assert summary["hallucinating_samples"] == sum(s["hallucinating"] for s in samples) >= 2
    # Both prompts gave pairs: the clean answer against each distinct hallucination the model sampled, two at most.
    assert summary["prompts_with_a_pair"] == 2 and summary["pairs"] == len(pairs)
    for question in TASKS:
        wrong = {s["answer"] for s in samples if s["question"] == question and s["hallucinating"]}
        assert sum(p["prompt"][-1]["content"] == question for p in pairs) == min(2, len(wrong)) >= 1
    for pair in pairs:
        question = pair["prompt"][-1]["content"]
        assert pair["prompt"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        assert pair["chosen"] == [{"role": "assistant", "content": CLEAN[question]}]
        assert pair["rejected"][0]["content"] in HALLUCINATING
        assert pair["rejected"][0]["content"] in {s["answer"] for s in samples if s["question"] == question}
    assert len({p["rejected"][0]["content"] for p in pairs}) == len(pairs)
    assert "| all | 2 | 2 |" in (policy_pairs / "README.md").read_text()


def _margins(model_dir: Path, pairs: list[dict]) -> np.ndarray:
    """log p(chosen) - log p(rejected) of each pair's answer (its content and <|im_end|>) given the prompt."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    margins = []
    for pair in pairs:
        prompt = tokenizer.apply_chat_template(pair["prompt"], add_generation_prompt=True, tokenize=True)["input_ids"]
        logps = []
        for answer in (pair["chosen"], pair["rejected"]):
            ids = tokenizer.apply_chat_template(pair["prompt"] + answer, return_tensors="pt", return_dict=True)
            ids = ids["input_ids"]
            with torch.no_grad():
                logits = model(ids).logits[0, :-1].log_softmax(-1)
            logps.append(logits.gather(1, ids[0, 1:, None])[len(prompt) - 1 :].sum().item())
        margins.append(logps[0] - logps[1])
    return np.array(margins)


@pytest.fixture(scope="module")
def dpo_checkpoint(chat_checkpoint, policy_pairs, tmp_path_factory) -> Path:
    """DPO from the chat checkpoint on its own pairs; neither template nor system prompt is given."""
    out = tmp_path_factory.mktemp("dpo") / "dpo"
    python_stage(
        "RL",
        "dpo.py",
        "dpo_cpu.yaml",
        f"--model_name_or_path={chat_checkpoint}",
        f"--train_file={policy_pairs / 'train.jsonl'}",
        "--test_file=none",
        f"--output_dir={out}",
        "--max_steps=4",
        "--per_device_train_batch_size=2",
        "--learning_rate=1e-3",
        "--lr_scheduler_type=constant",
        "--warmup_steps=0",
        "--eval_strategy=no",
        "--save_strategy=no",
        "--logging_steps=1",
        "--report_to=none",
    )
    return out


def test_dpo_on_policy_pairs_keeps_chatml_and_prefers_the_clean_answers(chat_checkpoint, policy_pairs, dpo_checkpoint):
    assert_keeps_chatml_and_answers_with_im_end(dpo_checkpoint, chat_checkpoint, "dpo")
    pairs = [json.loads(line) for line in (policy_pairs / "train.jsonl").read_text().splitlines()]
    gained = _margins(dpo_checkpoint, pairs) - _margins(chat_checkpoint, pairs)
    assert gained.mean() > 0 and (gained > 0).all(), gained


def test_grpo_after_dpo_keeps_chatml_and_its_rollouts_end_with_im_end(dpo_checkpoint, api_path, prompts_csv, tmp_path):
    """GRPO from the DPO checkpoint: the template and system prompt come down the chain through DPO's metadata."""
    out = tmp_path / "grpo"
    python_stage(
        "RL",
        "grpo.py",
        "grpo_cpu.yaml",
        f"--model_name_or_path={dpo_checkpoint}",
        f"--api_path={api_path}",
        f"--train_file={prompts_csv}",
        f"--output_dir={out}",
        "--reward_funcs=[hallucination_free, arity, expected_recall]",
        "--reward_weights=[1.0, 1.0, 1.0]",
        "--num_generations=4",
        "--per_device_train_batch_size=4",
        "--max_completion_length=40",
        "--max_steps=3",
        "--learning_rate=1e-3",
        "--save_strategy=steps",
        "--save_steps=3",
        "--logging_steps=1",
        "--report_to=none",
    )
    assert_keeps_chatml_and_answers_with_im_end(out, dpo_checkpoint, "grpo")
    log = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in log if "reward" in entry]
    assert len(steps) == 3
    # Every rollout ended its turn with <|im_end|> before the length limit, and was graded by eval's scores.
    assert all(entry["completions/clipped_ratio"] == 0.0 for entry in steps)
    assert all("rewards/hallucination_free/mean" in entry for entry in steps)
