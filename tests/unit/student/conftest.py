"""Fixtures of the student tests: tiny offline models and the one-sequence-per-forward reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from recycle.student.sequences import TokenSequence
from tests.support.fixtures import *  # noqa: F403


def reference_nll(model, seq: TokenSequence) -> float:
    """The plain reference: one sequence per forward, full logits, mean NLL over target positions."""
    ids = torch.tensor([seq.input_ids])  # (1, T)
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)  # (T, V)
    t = seq.target_start
    return -logp[t - 1 : -1].gather(1, ids[0, t:, None]).mean().item()


@pytest.fixture(scope="session")
def reference() -> Callable[[object, TokenSequence], float]:
    """`reference(model, seq)` -> mean target NLL computed the slow, obvious way."""
    return reference_nll


@pytest.fixture(scope="session")
def tiny_student(tiny_model_dir):
    """(model, tokenizer, config) of the random-init tiny Llama, loaded through load_student."""
    from recycle.config.student import StudentConfig
    from recycle.student.model import load_student

    cfg = StudentConfig(model=str(tiny_model_dir), max_length=256, batch_tokens=2048)
    model, tokenizer = load_student(cfg)
    return model, tokenizer, cfg
