"""Fixtures that need no network: a tiny BPE tokenizer trained on the bundled docs, tiny StarCoder-family models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if "PYTEST_XDIST_WORKER" in os.environ:  # two workers on two cores (./set-up.sh test): one torch thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
CORPORA = REPO.parent / "shared" / "corpora"


def need(path: Path) -> None:
    """Skip the test where a shared corpus is not on this machine."""
    if not path.exists():
        pytest.skip(
            f"{path} is absent: the shared corpora (../shared/corpora, see its README) are not on this machine"
        )


@pytest.fixture(scope="session")
def corpus_reading():
    """`corpus_reading(set)`: the set of corpora_truth.SETS read with `read_docs([path])` and no layout, once per
    session whichever test module asks (skipped where the corpus is absent)."""
    from corpora_truth import SETS

    from luacoder.apidocs import read_docs

    readings: dict = {}

    def read(name: str):
        path, _truth = SETS[name]
        need(path)
        if name not in readings:
            readings[name] = read_docs([path])
        return readings[name]

    return read


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from luacoder.train.tokenizer import docs_texts, train_tokenizer

    path = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(docs_texts([BUNDLED_DOCS]), vocab_size=1024).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """Factory: `tiny_model_dir("starcoder2")` saves (once per family) and returns a model folder."""
    from luacoder.train.tiny_model import save_tiny_model

    made: dict[str, Path] = {}

    def make(family: str = "starcoder2") -> Path:
        if family not in made:
            made[family] = tmp_path_factory.mktemp(f"tiny-{family}")
            save_tiny_model(family, tokenizer, made[family], seed=0)
        return made[family]

    return make


def pytest_collection_modifyitems(config, items):
    """The files with slow or multi-process tests first: ./set-up.sh test hands files to its two workers in this
    order, so the long ones start early and the many quick ones fill in around them, instead of one long file
    running alone at the end."""
    heavy = {item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("multiprocess")}
    items.sort(key=lambda item: item.path not in heavy)  # stable: each file's tests keep their order
