"""Pytest fixtures of tiny students, shared by every test folder.

Use them from a conftest.py with `from tests.support.fixtures import *  # noqa: F403`. The
artifacts live under one session folder and the builders return an existing build at once, so a
session builds each tokenizer or model once even when several conftest files import the fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import tiny_model

__all__ = [
    "tiny_artifacts",
    "tiny_tokenizer_dir",
    "tiny_model_dir",
    "tiny_model_no_bos_dir",
    "trained_student_dir",
]


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session folder holding every tiny tokenizer and model."""
    root = tmp_path_factory.getbasetemp() / "tiny_students"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tiny_artifacts: Path) -> Path:
    """A 2k-vocab byte-level BPE with bos, eos, pad and unk tokens."""
    if not tiny_model.ALPACA.is_file():
        pytest.skip(f"shared data not found at {tiny_model.ALPACA}")
    return tiny_model.build_tokenizer(tiny_artifacts)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_artifacts: Path, tiny_tokenizer_dir: Path) -> Path:
    """A random-init 2-layer, 64-wide Llama with its tokenizer, in one from_pretrained folder."""
    return tiny_model.build_tiny_model(tiny_artifacts, tiny_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_model_no_bos_dir(tiny_artifacts: Path) -> Path:
    """The same model shape with a tokenizer that has neither a bos nor a pad token."""
    if not tiny_model.ALPACA.is_file():
        pytest.skip(f"shared data not found at {tiny_model.ALPACA}")
    tok = tiny_model.build_tokenizer(tiny_artifacts, bos=False, pad=False)
    return tiny_model.build_tiny_model(tiny_artifacts, tok)


@pytest.fixture(scope="session")
def trained_student_dir(tiny_artifacts: Path, tiny_model_dir: Path) -> Path:
    """The tiny model trained for 300 steps (about 25 s on 2 idle cores) on templated Alpaca rows.

    Rows 400 onwards are the training rows (vicuna template); rows 0..399 stay unseen for tests.
    """
    rows = tiny_model.alpaca_rows()[400:]
    return tiny_model.train_model(tiny_artifacts, tiny_model_dir, rows, steps=300)
