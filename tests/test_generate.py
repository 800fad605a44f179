"""Chat generation: the inference engine (luacoder.evaluation.engine) and deepspeed/chat/generate.py on tiny models.

Tiny random models write garbage, so these tests check structure and behaviour: order, batching, stopping, the
conversation history, errors. The models get noise added to their weights so that different prompts get different
answers (a freshly initialised one repeats the same token whatever it is asked).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LogitsProcessor

from luacoder.dialogue import END, chat_messages
from luacoder.evaluation.backends import HfBackend
from luacoder.evaluation.engine import AskOptions, Decoding, Engine, format_chat
from luacoder.evaluation.prompts import read_prompts
from luacoder.files import RowError
from luacoder.train.chat_format import stop_token_ids
from luacoder.train.model_setup import load_chat_model

SCRIPT_DIR = REPO / "deepspeed" / "chat"
PROMPTS = [
    "How do I reverse a table?",
    "string.format",
    "Read a file line by line, printing each line with its number, then close the file.",
    "x",
    "What does coroutine.wrap return?",
]


@pytest.fixture(scope="module")
def noisy_model_dir(tiny_model_dir, tokenizer, tmp_path_factory):
    """Factory: the fixture's tiny model of `family` with seeded noise on every weight, saved with the tokenizer."""
    made: dict[str, Path] = {}

    def make(family: str = "starcoder2") -> Path:
        if family not in made:
            model = AutoModelForCausalLM.from_pretrained(tiny_model_dir(family))
            generator = torch.Generator().manual_seed(0)
            with torch.no_grad():
                for param in model.parameters():
                    param.add_(torch.randn(param.shape, generator=generator) * 0.1)
            made[family] = tmp_path_factory.mktemp(f"noisy-{family}")
            model.save_pretrained(made[family])
            tokenizer.save_pretrained(made[family])
        return made[family]

    return make


def run_script(*args: str, stdin: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """`python generate.py ARGS` from deepspeed/chat, as a user runs it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "generate.py", *args],
        cwd=SCRIPT_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_batch_mode_writes_one_row_per_prompt_in_order(noisy_model_dir, tmp_path):
    model_dir = noisy_model_dir("starcoder2")
    prompts_file = tmp_path / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt": p, "id": n}) + "\n" for n, p in enumerate(PROMPTS)))
    output_file = tmp_path / "out" / "answers.jsonl"
    system = "You write Lua 5.4."
    result = run_script(
        f"--model_name_or_path={model_dir}",
        f"--prompt_file={prompts_file}",
        f"--output_file={output_file}",
        f"--system_prompt={system}",
        "--batch_size=2",
        "--max_new_tokens=8",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in output_file.read_text().splitlines()]
    assert [row["prompt"] for row in rows] == PROMPTS
    assert all(set(row) == {"prompt", "answer"} and isinstance(row["answer"], str) for row in rows)
    assert not list(output_file.parent.glob(".*.tmp"))  # written atomically: no temporary file left behind

    # The same answers as the engine gives in-process, with the system prompt in every conversation.
    engine = Engine(HfBackend(*load_chat_model(str(model_dir)), batch_size=2), AskOptions(system_prompt=system))
    expected = texts(engine, PROMPTS, 8)
    assert [row["answer"] for row in rows] == expected
    assert len(set(expected)) > 1, "the noisy model should answer different prompts differently"


def texts(engine: Engine, questions, max_new_tokens: int, histories=None) -> list[str]:
    return [c.text for c in engine.answer(questions, Decoding(max_new_tokens=max_new_tokens), histories=histories)]


@pytest.mark.parametrize("family", ["starcoder2", "gpt_bigcode"])
def test_batched_answers_equal_one_at_a_time_answers_with_greedy_decoding(noisy_model_dir, family):
    model, tokenizer = load_chat_model(str(noisy_model_dir(family)))
    batched = texts(Engine(HfBackend(model, tokenizer, batch_size=3)), PROMPTS, 12)
    single = [texts(Engine(HfBackend(model, tokenizer, batch_size=1)), [p], 12)[0] for p in PROMPTS]
    assert batched == single
    assert len(set(batched)) > 1


class Forcing:
    """A constraint (as luacoder.evaluation.constrained's) whose HF processor is the one given."""

    def __init__(self, processor: LogitsProcessor):
        self.processor = processor

    def hf_processor(self, prompt_width: int | None = None) -> LogitsProcessor:
        return self.processor


class ForceTokenAfter(LogitsProcessor):
    """Lets the model write `after` tokens of its own, then allows only `token_id`; counts generation steps."""

    def __init__(self, token_id: int, after: int):
        self.token_id, self.after, self.steps = token_id, after, 0

    def __call__(self, input_ids, scores):
        self.steps += 1
        if self.steps > self.after:
            scores = torch.full_like(scores, -float("inf"))
            scores[:, self.token_id] = 0.0
        return scores


@pytest.mark.parametrize("after", [0, 4])
def test_generation_stops_at_end_token_and_strips_it(noisy_model_dir, after):
    model, tokenizer = load_chat_model(str(noisy_model_dir("starcoder2")))
    # A checkpoint whose generation_config knows only EOS still stops at <|end|>: the tokenizer has it.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    end_id = tokenizer.convert_tokens_to_ids(END)
    force = ForceTokenAfter(end_id, after)
    question = ["How do I reverse a table?"]
    free = texts(Engine(HfBackend(model, tokenizer)), question, after)[0] if after else ""
    # The engine's constraint option is where a logits processor goes in (ApiNameConstraint's, or this one).
    forced = Engine(HfBackend(model, tokenizer), AskOptions(constrained=True), constraint=Forcing(force))
    answer = texts(forced, question, 50)[0]
    assert force.steps == after + 1, "generation went on after <|end|>"
    assert END not in answer
    assert answer == free  # the answer is what the model wrote before <|end|>, untouched


def test_stop_token_ids_come_from_generation_config_and_the_end_token(tokenizer):
    end_id = tokenizer.convert_tokens_to_ids(END)
    assert stop_token_ids(tokenizer, [tokenizer.eos_token_id, 7]) == [tokenizer.eos_token_id, 7, end_id]
    assert stop_token_ids(tokenizer, None) == [tokenizer.eos_token_id, end_id]
    assert stop_token_ids(tokenizer, 7) == [7, tokenizer.eos_token_id, end_id]


def test_system_prompt_appears_in_the_formatted_prompt(tokenizer):
    text = format_chat(tokenizer, chat_messages("Reverse a table.", "You are a Lua 5.4 expert."))
    assert text == ("<|system|>\nYou are a Lua 5.4 expert.<|end|>\n<|user|>\nReverse a table.<|end|>\n<|assistant|>\n")
    assert format_chat(tokenizer, chat_messages("Reverse a table.")).startswith("<|user|>\n")


def test_interactive_mode_answers_each_prompt_with_the_conversation_so_far(noisy_model_dir):
    model_dir = noisy_model_dir("gpt_bigcode")
    result = run_script(
        f"--model_id={model_dir}",  # the original LuaCoder toolkit's name, still read
        "--max_new_tokens=6",
        stdin="How do I reverse a table?\n\nAnd in place?\nexit\nnever answered\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]

    engine = Engine.load(model_dir, device="cpu")
    first = texts(engine, ["How do I reverse a table?"], 6)[0]
    history = [{"role": "user", "content": "How do I reverse a table?"}, {"role": "assistant", "content": first}]
    second = texts(engine, ["And in place?"], 6, [history])[0]
    assert result.stdout == f"{first}\n\n{second}\n\n"
    without_history = texts(engine, ["And in place?"], 6)[0]
    assert second != without_history, "the follow-up should see the first turn"


def test_a_prompts_file_without_a_prompt_column_is_an_error_naming_the_file(tiny_model_dir, tmp_path):
    prompts_file = tmp_path / "questions.csv"
    prompts_file.write_text("question,expected_apis\nHow do I reverse a table?,table.insert\n")
    result = run_script(
        f"--model_name_or_path={tiny_model_dir('starcoder2')}",
        f"--prompt_file={prompts_file}",
        f"--output_file={tmp_path / 'answers.jsonl'}",
    )
    assert result.returncode != 0
    assert str(prompts_file) in result.stderr and "no 'prompt' column" in result.stderr
    assert not (tmp_path / "answers.jsonl").exists()


def test_read_prompts_from_txt_jsonl_and_csv(tmp_path):
    (tmp_path / "p.txt").write_text("first prompt\n\nsecond prompt\n")
    (tmp_path / "p.jsonl").write_text('{"prompt": "first prompt"}\n{"prompt": "second prompt", "x": 1}\n')
    (tmp_path / "p.csv").write_text('prompt,expected_apis\nfirst prompt,a\n"second prompt",b\n')
    for name in ("p.txt", "p.jsonl", "p.csv"):
        assert read_prompts(tmp_path / name) == ["first prompt", "second prompt"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "\n  \n", "no prompts"),
        ("blank.csv", 'prompt\nfine\n" "\n', "empty prompt"),
        ("blank.jsonl", '{"prompt": ""}\n', "empty prompt"),
        ("missing.jsonl", '{"question": "hi"}\n', "missing field(s) ['prompt']"),
        ("prompts.tsv", "prompt\thi\n", "unsupported prompts file"),
    ],
)
def test_read_prompts_errors_name_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(RowError) as error:
        read_prompts(tmp_path / name)
    assert str(tmp_path / name) in str(error.value) and message in str(error.value)


def test_a_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        load_chat_model(str(tmp_path / "checkpoint-500"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        load_chat_model(str(tmp_path / "empty"))


def test_pickled_weights_are_refused_and_the_help_says_so(noisy_model_dir, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(noisy_model_dir(), pickled)
    weights = load_file(pickled / "model.safetensors")
    (pickled / "model.safetensors").unlink()
    torch.save(weights, pickled / "pytorch_model.bin")  # what an older or a hostile checkpoint ships
    with pytest.raises(OSError, match="safetensors"):
        load_chat_model(str(pickled))
    with pytest.raises(OSError, match="safetensors"):
        load_chat_model(str(pickled), chat=False)  # eval's code mode loads through the same loader
    assert load_chat_model(str(noisy_model_dir()))  # the safetensors checkpoint loads
    shown = run_script("--help")
    assert shown.returncode == 0 and "safetensors files only" in " ".join(shown.stdout.split())
    eval_help = subprocess.run(
        [sys.executable, str(REPO / "eval" / "eval.py"), "--help"], capture_output=True, text=True
    )
    assert eval_help.returncode == 0 and "safetensors files only" in " ".join(eval_help.stdout.split())
