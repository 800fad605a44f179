"""Eval's generation backends without a GPU: vLLM's requests checked against a stand-in `vllm` module."""

from __future__ import annotations

import json
import sys
import types

import pytest
from test_eval import stand_in_options  # noqa: F401  (a fixture: the open-book and constraint modules' stand-ins)

from luacoder.dialogue import END
from luacoder.evaluation.backends import VllmBackend, load_backend
from luacoder.evaluation.engine import AskOptions, Decoding, Engine


class FakeLLM:
    """Records what `vllm.LLM` is built with and asked; answers each request with token ids it was told to."""

    built: list[dict] = []
    calls: list[tuple[list, list]] = []
    answer_ids: list[int] = []

    def __init__(self, **options):
        FakeLLM.built.append(options)

    def generate(self, prompts, sampling_params, use_tqdm=True):
        FakeLLM.calls.append((prompts, sampling_params))
        output = types.SimpleNamespace(token_ids=list(FakeLLM.answer_ids))
        return [types.SimpleNamespace(outputs=[output]) for _ in prompts]


class FakeSamplingParams:
    def __init__(self, **options):
        self.options = options


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams = FakeLLM, FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.built, FakeLLM.calls = [], []
    return module


@pytest.mark.usefixtures("stand_in_options")
def test_vllm_gets_every_prompt_in_one_call_each_seeded_by_its_index(fake_vllm, tiny_model_dir, tokenizer, tmp_path):
    path = tiny_model_dir("starcoder2")
    backend = VllmBackend(path, "markdown", dtype="bfloat16", seed=7, tensor_parallel_size=2)
    (options,) = FakeLLM.built
    assert options["model"] == options["tokenizer"] == str(path)
    assert (options["tensor_parallel_size"], options["dtype"], options["seed"]) == (2, "bfloat16", 7)
    assert options["enable_prefix_caching"] is True and options["trust_remote_code"] is False

    hello = tokenizer("print('hi')", add_special_tokens=False)["input_ids"]
    end = tokenizer.convert_tokens_to_ids(END)
    FakeLLM.answer_ids = [*hello, end, *hello]  # vLLM stops at the stop token; the answer is cut there anyway
    texts = [Engine(backend).prompt_text(p) for p in ("reverse a table", "string.format", "x")]
    completions = backend.complete(texts, Decoding(max_new_tokens=64, do_sample=True), [7, 8, 9])

    assert backend.all_at_once and len(FakeLLM.calls) == 1
    prompts, params = FakeLLM.calls[0]
    assert [p["prompt_token_ids"] for p in prompts] == tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert [p.options["seed"] for p in params] == [7, 8, 9]
    first = params[0].options
    assert (first["temperature"], first["top_p"], first["top_k"], first["max_tokens"]) == (0.2, 0.95, 50, 64)
    assert end in first["stop_token_ids"] and first["skip_special_tokens"] is False
    assert [c.text for c in completions] == ["print('hi')"] * 3
    assert [c.new_tokens for c in completions] == [len(hello) + 1] * 3

    greedy = backend.complete(texts[:1], Decoding(max_new_tokens=8), [0])
    assert FakeLLM.calls[1][1][0].options["temperature"] == 0.0 and greedy[0].text == "print('hi')"
    with pytest.raises(ValueError, match="2 texts but 1 seeds"):
        backend.complete(texts[:2], Decoding(), [0])
    # Constrained: the engine's processor, registered when the LLM is built, turned on per request.
    assert options["logits_processors"] == ["luacoder.evaluation.constrained:VllmApiNameProcessor"]
    api_path = tmp_path / "api.json"
    api_path.write_text(json.dumps({"name": "t", "entries": [{"name": "print", "kind": "function", "module": "_G"}]}))
    constrained = Engine(backend, AskOptions(constrained=True), api_path=api_path, base="lua54")
    constrained.answer(["x"], Decoding())
    assert FakeLLM.calls[-1][1][0].options["extra_args"] == {
        "luacoder_api_constraint": {"api": str(api_path), "base": "lua54", "report_type": "markdown"}
    }
    assert "extra_args" not in FakeLLM.calls[1][1][0].options  # a closed-book request: the processor stays off
    with pytest.raises(ValueError, match="pass api_path="):
        Engine(backend, AskOptions(constrained=True), api=[])


@pytest.mark.usefixtures("stand_in_options")
def test_load_backend_passes_each_backend_only_its_own_options(fake_vllm, tiny_model_dir, monkeypatch):
    import luacoder.evaluation.backends as backends

    monkeypatch.setattr(backends, "check_backend", lambda name: None)  # no GPU here
    options = dict(dtype="float32", device="cpu", batch_size=3, seed=5, tensor_parallel_size=4)
    vllm_backend = load_backend("vllm", tiny_model_dir("starcoder2"), "code", **options)
    assert FakeLLM.built[-1]["tensor_parallel_size"] == 4 and not hasattr(vllm_backend, "batch_size")
    hf_backend = load_backend("hf", tiny_model_dir("starcoder2"), "code", **options)
    assert hf_backend.batch_size == 3 and not hf_backend.all_at_once
