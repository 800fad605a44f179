"""luacoder.checkpoints.generation_settings: how a checkpoint is asked, read from its metadata in one place."""

from __future__ import annotations

import json

import pytest

from luacoder.checkpoints import CheckpointError, GenerationSettings, generation_settings


def _meta(folder, **config) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"stage": "chat", "parent": "models/smollm2", "step": 64, "config": config}
    (folder / "luacoder_meta.json").write_text(json.dumps(meta))


def test_a_chat_checkpoint_gives_its_system_prompt_template_and_stops(tmp_path):
    _meta(tmp_path / "ck", system_prompt="You write Lua 5.4.", chat_template="model", learning_rate=2e-4)
    (tmp_path / "ck" / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 7, 2]}))
    assert generation_settings(tmp_path / "ck") == GenerationSettings(
        system_prompt="You write Lua 5.4.",
        chat_template="model",
        stop_token_ids=(2, 7),
        stage="chat",
        parent="models/smollm2",
        trained=True,
    )


def test_a_model_luacoder_did_not_train_has_no_system_prompt(tmp_path):
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "generation_config.json").write_text(json.dumps({"eos_token_id": 2}))
    assert generation_settings(tmp_path / "hub") == GenerationSettings(stop_token_ids=(2,))
    _meta(tmp_path / "empty", system_prompt="", chat_template="auto")
    settings = generation_settings(tmp_path / "empty")
    assert (settings.system_prompt, settings.chat_template, settings.trained) == (None, None, True)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("luacoder_meta.json", '{"config": {"system_prompt": "Be b', "unreadable LuaCoder metadata"),
        ("luacoder_meta.json", '{"config": {"system_prompt": 3}}', "system_prompt must be text"),
        ("luacoder_meta.json", '{"config": {"chat_template": "chatml"}}', "chat_template is 'chatml'"),
        ("generation_config.json", '{"eos_token_id": ', "unreadable generation config"),
        ("generation_config.json", '{"eos_token_id": ["<|end|>"]}', "eos_token_id must be a token id"),
    ],
)
def test_unreadable_settings_are_errors_naming_the_file(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(CheckpointError, match=message) as error:
        generation_settings(tmp_path)
    assert str(tmp_path / name) in str(error.value)
