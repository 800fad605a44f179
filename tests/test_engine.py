"""The one inference engine: eval.py, deepspeed/chat/generate.py and the playground put a question the same way
(the checkpoint's template and training system prompt, its stops), so they give the same answer; its options."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import BUNDLED_DOCS, REPO
from test_eval import read_outputs, run_in_process
from transformers import AutoModelForCausalLM

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.apidocs.schema import save_api
from luacoder.evaluation.backends import HfBackend
from luacoder.evaluation.engine import AskOptions, Decoding, Engine, PromptBuilder
from luacoder.train.model_setup import load_chat_model

SYSTEM = "You answer with Lua 5.4 code for the documented API."
QUESTIONS = ["Sort a list of numbers.", "Read a file line by line.", "How do I reverse a word?"]


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tokenizer, tmp_path_factory):
    """A chat checkpoint as the chat stage leaves it (metadata with its system prompt), with noise on its weights so
    that different prompts get different answers; the bundled docs' api.json and a prompts CSV beside it."""
    root = tmp_path_factory.mktemp("engine")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("starcoder2"))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    folder = root / "chat"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    meta = {"stage": "chat", "parent": "tiny", "step": 3, "config": {"system_prompt": SYSTEM}}
    (folder / "luacoder_meta.json").write_text(json.dumps(meta))
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), root / "api.json")
    pd.DataFrame({"prompt": QUESTIONS}).to_csv(root / "prompts.csv", index=False)
    return root


@pytest.mark.slow
def test_eval_generate_and_the_playground_give_the_same_answer(trained, monkeypatch):
    from luacoder.evaluation.playground import Playground

    (trained / "config.yaml").write_text(
        "base_folder: chat\napi_path: api.json\ntest_data_path: prompts.csv\noutput_dir: out\n"
        "batch_size: 2\nmax_new_tokens: 12\ndevice: cpu\ndtype: float32\n"
    )
    assert run_in_process(trained, monkeypatch) == 0
    _, samples = read_outputs(trained / "out")
    from_eval = [s["answer"] for s in samples]

    done = subprocess.run(
        [
            sys.executable,
            "generate.py",
            f"--model_name_or_path={trained / 'chat'}",
            f"--prompt_file={trained / 'prompts.csv'}",
            f"--output_file={trained / 'answers.jsonl'}",
            "--max_new_tokens=12",
        ],
        cwd=REPO / "deepspeed" / "chat",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from_generate = [json.loads(line)["answer"] for line in (trained / "answers.jsonl").read_text().splitlines()]

    playground = Playground(trained / "chat", trained / "api.json", device="cpu", dtype="float32")
    from_playground = [playground.ask(q, max_new_tokens=12).answer for q in QUESTIONS]

    assert from_eval == from_generate == from_playground
    assert len(set(from_eval)) > 1
    # All three used the system prompt the checkpoint was trained with (generate.py used none before).
    assert playground.system_prompt == SYSTEM
    model, tokenizer = load_chat_model(str(trained / "chat"), dtype="float32", device="cpu")
    with_prompt = Engine(HfBackend(model, tokenizer), AskOptions(system_prompt=SYSTEM))
    without = Engine(HfBackend(model, tokenizer), AskOptions())
    assert [c.text for c in with_prompt.answer(QUESTIONS, Decoding(max_new_tokens=12))] == from_eval
    assert [c.text for c in without.answer(QUESTIONS, Decoding(max_new_tokens=12))] != from_eval
    assert SYSTEM in with_prompt.prompt_text(QUESTIONS[0]) and SYSTEM not in without.prompt_text(QUESTIONS[0])


class Retrieved:
    def __init__(self, names):
        self.names = names

    def search(self, question, k):
        return [type("Entry", (), {"name": n, "signature": f"{n}(...)"})() for n in self.names[:k]]


def test_retrieval_puts_the_entries_before_the_question_and_is_part_of_the_options(monkeypatch):
    import types

    module = types.ModuleType("luacoder.evaluation.retrieval")
    module.open_book_prompt = lambda question, entries: "\n".join(e.signature for e in entries) + "\n\n" + question
    monkeypatch.setitem(sys.modules, "luacoder.evaluation.retrieval", module)
    closed = PromptBuilder(AskOptions(system_prompt="S"))
    open_book = PromptBuilder(
        AskOptions(system_prompt="S", retrieval_k=2), retriever=Retrieved(["table.sort", "ipairs", "x"])
    )
    assert closed.user_message("Sort it.") == "Sort it."
    assert open_book.user_message("Sort it.") == "table.sort(...)\nipairs(...)\n\nSort it."
    assert open_book.conversation(open_book.user_message("Sort it."))[0] == {"role": "system", "content": "S"}
    assert AskOptions(retrieval_k=2).variant == "open-book"
    assert AskOptions(retrieval_k=2, constrained=True).variant == "open-book + constrained"
    assert AskOptions(constrained=True).key() == {
        "report_type": "markdown",
        "system_prompt": None,
        "constrained": True,
    }
    assert AskOptions(system_prompt="S").key() == {"report_type": "markdown", "system_prompt": "S"}  # old cache keys
    with pytest.raises(ValueError, match="needs the API docs"):
        PromptBuilder(AskOptions(retrieval_k=3))
    with pytest.raises(ValueError, match="report_type markdown"):
        AskOptions("code", retrieval_k=3)
    with pytest.raises(ValueError, match="unknown report_type"):
        AskOptions("chat")


@pytest.mark.slow
def test_open_book_and_constrained_are_asked_alike_by_eval_generate_and_the_playground(trained, monkeypatch):
    from luacoder.evaluation.playground import Playground
    from luacoder.evaluation.retrieval import CARDS_HEADER

    (trained / "config.yaml").write_text(
        "base_folder: chat\napi_path: api.json\ntest_data_path: prompts.csv\noutput_dir: out\n"
        "batch_size: 2\nmax_new_tokens: 12\ndevice: cpu\ndtype: float32\n"
    )
    variants = ["--retrieval={k: 3}", "--variants=open_book+constrained", "--variants_for=last"]
    assert run_in_process(trained, monkeypatch, "--output_dir=both", *variants) == 0
    _, samples = read_outputs(trained / "both")
    rows = [s for s in samples if s["variant"] == "open-book + constrained"]
    assert [s["prompt"] for s in rows] == QUESTIONS
    assert all(s["asked"].startswith(CARDS_HEADER) and s["asked"].endswith(s["prompt"]) for s in rows)

    done = subprocess.run(
        [
            sys.executable,
            "generate.py",
            f"--model_name_or_path={trained / 'chat'}",
            f"--prompt_file={trained / 'prompts.csv'}",
            f"--output_file={trained / 'both.jsonl'}",
            f"--api_path={trained / 'api.json'}",
            "--retrieval_k=3",
            "--constrained",
            "--max_new_tokens=12",
        ],
        cwd=REPO / "deepspeed" / "chat",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from_generate = [json.loads(line)["answer"] for line in (trained / "both.jsonl").read_text().splitlines()]
    playground = Playground(
        trained / "chat", trained / "api.json", device="cpu", dtype="float32", retrieval_k=3, constrained=True
    )
    from_playground = [playground.ask(q, max_new_tokens=12).answer for q in QUESTIONS]
    assert [s["answer"] for s in rows] == from_generate == from_playground
    assert playground.retrieved(QUESTIONS[0]) and all("(" in sig for sig in playground.retrieved(QUESTIONS[0]))
