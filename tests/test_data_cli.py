"""`luacoder build-pretrain` and `luacoder build-chat` on the command line."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.apidocs.schema import save_api
from luacoder.cli import main
from luacoder.files import read_jsonl


@pytest.fixture(scope="module")
def api_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "api.json"
    save_api(read_markdown_docs([BUNDLED_DOCS / "string.md"], name="strings"), path)
    return path


def test_build_pretrain_from_an_api_json(api_json, tmp_path, capsys):
    assert main(["build-pretrain", "--api_path", str(api_json), "-o", str(tmp_path), "--seed=3", "-q"]) == 0
    out = capsys.readouterr().out
    train = read_jsonl(tmp_path / "pretrain" / "train.jsonl", required=("content",))
    test = read_jsonl(tmp_path / "pretrain" / "test.jsonl", required=("content",))
    assert f"train {len(train)} rows" in out and f"test {len(test)} rows" in out
    assert "Seed 3;" in (tmp_path / "pretrain" / "README.md").read_text()


def test_build_chat_with_a_config_file(api_json, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("output_dir: out\nchat:\n  dialogues_per_entry: 3\n  combined_per_entry: 0\n  eval_prompts: 5\n")
    assert main(["build-chat", "--config", str(config), "--api_path", str(api_json), "-q"]) == 0
    assert (tmp_path / "out" / "chat" / "train.jsonl").is_file()
    assert (tmp_path / "out" / "eval" / "prompts.csv").read_text().count("\n") == 6  # header + 5 prompts
    assert "chat: read" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--api_path", "missing.json", "-o", "OUT"], "missing.json: no such file"),
        (
            ["-o", "OUT", "--pretrain.shingles=3"],
            "unknown key 'pretrain.shingles'; did you mean 'pretrain.shingle_size'?",
        ),
        (["-o", "OUT", "--seed=many"], "'seed'"),
        ([], "give --config data/config.yaml or -o OUTPUT_DIR"),
    ],
)
def test_errors_are_one_clear_line(args, message, tmp_path, capsys):
    args = [str(tmp_path / a) if a in ("OUT", "missing.json") else a for a in args]
    assert main(["build-pretrain", *args]) == 2  # a user's mistake: luacoder.errors.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("luacoder build-pretrain: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "OUT" / "pretrain").exists()
