"""The data notebooks: committed without outputs, and they run top to bottom (nbclient) into complete datasets."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from conftest import BUNDLED_DOCS, REPO

from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.files import read_jsonl
from luacoder.grading.api_index import ApiIndex

DATA_NOTEBOOKS = ["json.ipynb", "lua.ipynb", "dialogue.ipynb"]  # in the order they run
SKIP = {"outputs", "node_modules", "__pycache__"}  # and every hidden folder (.venv, .git, .ipynb_checkpoints)
COUNTS = re.compile(r"read (\d+) = removed (\d+) \+ kept (\d+) \(test (\d+) \+ train (\d+)\)")


def committed_notebooks():
    found = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".")]
        found += [Path(folder) / f for f in files if f.endswith(".ipynb")]
    return sorted(found)


def test_the_data_notebooks_exist():
    assert {p.name for p in committed_notebooks() if p.parent == REPO / "data"} >= set(DATA_NOTEBOOKS)


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


def teacher_script(key, attempt, query):
    """A teacher for dialogue.ipynb's synthesis: a task per item, and an answer that calls the drawn entries the way
    the usage writer does, tested by calling it (some run, some do not: the funnel sorts them out)."""
    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.data.usage import UsageWriter

    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    names = re.findall(r"^- `([\w.:]+)\(", query, flags=re.M)
    if query.startswith("### API"):
        return ("ok", f"Write a function run() that uses {' and '.join(names)}.")
    usages = [UsageWriter(api).usage(api.get(n)) for n in names if api.get(n) is not None]
    body = "\n".join("  " + line for usage in usages if usage for line in usage.splitlines())
    code = f"local function run()\n{body}\n  return true\nend"
    return ("ok", f"Like this.\n\n```lua\n{code}\n```\n\n[Tests]\n```lua\nassert(run())\n```")


@pytest.mark.slow
def test_the_notebooks_build_the_datasets(tmp_path, monkeypatch):
    from nbclient import NotebookClient
    from scripted_server import ScriptedServer

    server = ScriptedServer(teacher_script, lambda query: query.split("\n", 2)[1])
    config = tmp_path / "config.yaml"
    config.write_text(
        f"output_dir: out\ndocs:\n  paths: [{BUNDLED_DOCS}]\n"
        "chat:\n  dialogues_per_entry: 4\n  combined_per_entry: 1\n  eval_prompts: 30\n"
        "  task_dialogues_per_entry: 2\n  near_miss_dialogues: 20\n"
        f"synthesis:\n  teacher: {server.url}\n  items: 12\n  samples: 1\n  num_fewshots: 1\n"
    )
    monkeypatch.setenv("LUACODER_DATA_CONFIG", str(config))  # the kernel inherits the environment
    for name in DATA_NOTEBOOKS:
        nb = nbformat.read(REPO / "data" / name, as_version=4)
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO / "data")}}
        ).execute()
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, (name, errors)

    out = tmp_path / "out"
    from luacoder.apidocs.schema import load_api

    api = load_api(out / "api.json")
    assert len(api) == 177
    for dataset, field in (("pretrain", "content"), ("chat", "messages")):
        train = read_jsonl(out / dataset / "train.jsonl", required=(field,))
        test = read_jsonl(out / dataset / "test.jsonl", required=(field,))
        rejects = (out / dataset / "rejects.jsonl").read_text().splitlines()
        read, removed, kept, n_test, n_train = map(
            int, COUNTS.search((out / dataset / "README.md").read_text()).groups()
        )
        assert (n_train, n_test, removed) == (len(train), len(test), len(rejects)), dataset
        assert read == removed + kept == n_train + n_test + removed, dataset
    prompts = read_eval_prompts(out / "eval" / "prompts.csv", ApiIndex(api))
    assert len(prompts) == 30
    # dialogue.ipynb synthesized with the teacher and built the chat dataset again with the kept rows
    server.close()
    funnel = json.loads((out / "synth" / "funnel.json").read_text())["funnel"]
    assert funnel["generated"] == 12 and 0 < funnel["kept"] <= funnel["passed"]
    chat_rows = read_jsonl(out / "chat" / "train.jsonl") + read_jsonl(out / "chat" / "test.jsonl")
    synthesized = [r for r in chat_rows if r["source"] == "synthesized"]
    assert 0 < len(synthesized) <= funnel["kept"] == len(read_jsonl(out / "synth" / "chat.jsonl"))
    # the committed notebooks were only read: still without outputs
    for name in DATA_NOTEBOOKS:
        test_notebooks_are_committed_without_outputs(REPO / "data" / name)
