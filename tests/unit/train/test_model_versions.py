"""The training model builds and checkpoints activations with every transformers version accepted.

transformers >= 5.23 names it `activation_checkpointing_enable`; older ones (the project's floor
among them) only have `gradient_checkpointing_enable`. These tests run the real code on the
installed transformers (the lowest-versions CI step runs them on the floor, 4.56, the first to take
`dtype=`) and, with stand-ins, on the other API. `dtype_kwarg` keeps `torch_dtype=` for older
transformers, which the GPU check meets on GPU images below the floor.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from recycle.errors import ConfigError
from recycle.student.model import dtype_kwarg
from recycle.train.model import enable_activation_checkpointing, meta_model


class OldLM(nn.Module):
    """A causal LM with only the pre-5.23 API (`gradient_checkpointing_enable`)."""

    supports_gradient_checkpointing = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None) -> None:
        self.calls.append(gradient_checkpointing_kwargs)


class NewLM(OldLM):
    """A causal LM with the 5.23 API beside the deprecated alias."""

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None) -> None:
        self.calls.append({"new": activation_checkpointing_kwargs})


def test_old_api_gets_non_reentrant_checkpointing() -> None:
    lm = OldLM()
    enable_activation_checkpointing(lm)
    assert lm.calls == [{"use_reentrant": False}]


def test_new_api_is_preferred_over_the_deprecated_alias() -> None:
    lm = NewLM()
    enable_activation_checkpointing(lm)
    assert lm.calls == [{"new": {"use_reentrant": False}}]


def test_a_model_without_checkpointing_support_is_a_config_error() -> None:
    lm = OldLM()
    lm.supports_gradient_checkpointing = False
    with pytest.raises(ConfigError, match="train.activation_checkpointing=false"):
        enable_activation_checkpointing(lm)


def test_dtype_keyword_follows_the_installed_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    monkeypatch.setattr(transformers, "__version__", "4.55.4")
    assert dtype_kwarg(torch.bfloat16) == {"torch_dtype": torch.bfloat16}
    monkeypatch.setattr(transformers, "__version__", "4.56.0")
    assert dtype_kwarg(torch.bfloat16) == {"dtype": torch.bfloat16}
    monkeypatch.setattr(transformers, "__version__", "5.25.0.dev0")
    assert dtype_kwarg("auto") == {"dtype": "auto"}


def test_meta_model_checkpoints_every_decoder_layer(tiny_model_dir: Path) -> None:
    lm = meta_model(str(tiny_model_dir), "sdpa", activation_checkpointing=True)
    layers = lm.get_decoder().layers
    assert len(layers) == 2
    assert all(layer.gradient_checkpointing for layer in layers)
    assert {p.device.type for p in lm.parameters()} == {"meta"}
    assert {p.dtype for p in lm.parameters()} == {torch.float32}


def test_meta_model_without_checkpointing(tiny_model_dir: Path) -> None:
    lm = meta_model(str(tiny_model_dir), "sdpa", activation_checkpointing=False)
    assert not any(
        getattr(layer, "gradient_checkpointing", False) for layer in lm.get_decoder().layers
    )


def test_checkpointed_gradient_equals_plain(tiny_model_dir: Path) -> None:
    """The checkpointed model is really recomputed and gives the same gradient."""
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 5, 9, 13, 17, 21]])  # (B=1, T=6)
    grads = []
    for checkpointing in (False, True):
        lm = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
        lm.train()
        if checkpointing:
            enable_activation_checkpointing(lm)
        lm(input_ids=ids, labels=ids, use_cache=False).loss.backward()
        grads.append(lm.get_input_embeddings().weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])
