"""data/config.yaml and its typed loader: defaults, overrides, unknown keys, relative paths."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO

from luacoder.config import ConfigError
from luacoder.data.config import DataConfig, ImportConfig, load_data_config

CONFIG = REPO / "data" / "config.yaml"


def test_shipped_config_sets_every_key_and_matches_the_defaults():
    config = load_data_config(CONFIG)
    defaults = DataConfig()
    # The file documents every knob; its values are the built-in defaults, so the CLI without --config agrees.
    assert config.to_dict() == defaults.to_dict()
    assert config.out == (REPO / "outputs" / "data").resolve()
    assert config.path(config.docs.paths[0]) == (REPO / "data" / "docs" / "lua54").resolve()


def test_the_data_config_imports_no_torch():
    import subprocess

    code = (
        "import sys, luacoder.data.config, luacoder.data.chat, luacoder.data.pretrain; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_overrides_are_typed_and_dotted(tmp_path):
    overrides = ["--seed=7", "--chat.dialogues_per_entry=3", "--pretrain.near_dup_threshold=0.7"]
    overrides += ["--sandbox.allow=files"]
    config = load_data_config(CONFIG, overrides)
    assert config.seed == 7
    assert config.chat.dialogues_per_entry == 3
    assert config.pretrain.near_dup_threshold == 0.7
    assert config.sandbox.allow == ["files"]
    assert load_data_config(CONFIG, {"chat.split_by": "dialogue"}).chat.split_by == "dialogue"


def test_unknown_keys_are_errors_that_name_the_key(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("chat:\n  dialogs_per_entry: 3\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'chat.dialogs_per_entry'; did you mean 'chat.dialogues_per_entry'"
    ):
        load_data_config(path)
    path.write_text("sed: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'sed'; did you mean 'seed'"):
        load_data_config(path)
    with pytest.raises(ConfigError, match="pretrain.typo"):
        load_data_config(CONFIG, ["--pretrain.typo=1"])


def test_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"'chat.eval_prompts'.*whole number"):
        load_data_config(CONFIG, ["--chat.eval_prompts=2.5"])
    with pytest.raises(ConfigError, match="split_by"):
        load_data_config(CONFIG, ["--chat.split_by=row"])
    with pytest.raises(ConfigError, match=r"config.yaml: 'pretrain.test_fraction': must be in \[0, 1\), got 1.5"):
        load_data_config(CONFIG, ["--pretrain.test_fraction=1.5"])
    with pytest.raises(ConfigError, match=r"config.yaml: 'sandbox.timeout': must be above 0, got 0"):
        load_data_config(CONFIG, ["--sandbox.timeout=0"])
    with pytest.raises(ConfigError, match=r"'chat.dialogues_per_entry': must be at least 0, got -1"):
        load_data_config(CONFIG, ["--chat.dialogues_per_entry=-1"])
    with pytest.raises(ConfigError, match=r"'pretrain.num_perm': must be at least 1, got 0"):
        load_data_config(CONFIG, ["--pretrain.num_perm=0"])
    with pytest.raises(ConfigError, match=r"'chat.imports\[0\].limit': must be at least 1, got 0"):
        load_data_config(CONFIG, {"chat": {"imports": [{"path": "x.jsonl", "limit": 0}]}})
    with pytest.raises(ConfigError, match="write it as --key=value"):
        load_data_config(CONFIG, ["seed"])


def test_imports_are_typed_and_relative_to_the_config(tmp_path):
    path = tmp_path / "sub" / "config.yaml"
    path.parent.mkdir()
    path.write_text(
        "output_dir: out\nchat:\n  imports:\n    - {path: chats.jsonl, format: alpaca, limit: 5}\n    - {hub: org/x}\n"
    )
    config = load_data_config(path)
    first, second = config.chat.imports
    assert isinstance(first, ImportConfig) and first.format == "alpaca" and first.limit == 5
    assert config.path(first.path) == tmp_path / "sub" / "chats.jsonl"
    assert second.hub == "org/x" and second.split == "train"
    assert config.out == tmp_path / "sub" / "out"
    path.write_text("chat:\n  imports:\n    - {format: alpaca}\n")
    with pytest.raises(ConfigError, match=r"imports\[0\].*exactly one of 'path'"):
        load_data_config(path)
    path.write_text("chat:\n  imports:\n    - {path: x.jsonl, format: sharegpt}\n")
    with pytest.raises(ConfigError, match="import format 'sharegpt'"):
        load_data_config(path)
