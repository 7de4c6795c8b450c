"""Training's attention kernel: flash-attention only with bf16 mixed precision on GPU."""

from __future__ import annotations

import sys
import types

import pytest

from recycle.errors import ConfigError
from recycle.train.model import resolve_attn


@pytest.fixture
def flash_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import flash_attn` succeeds (a stand-in module)."""
    monkeypatch.setitem(sys.modules, "flash_attn", types.ModuleType("flash_attn"))


def test_auto_picks_flash_for_bf16_on_gpu(flash_installed):
    assert resolve_attn("auto", use_gpu=True, mixed_precision="bf16") == "flash_attention_2"


def test_auto_picks_sdpa_for_fp32_on_gpu_even_with_flash_installed(flash_installed):
    assert resolve_attn("auto", use_gpu=True, mixed_precision="fp32") == "sdpa"


def test_auto_picks_sdpa_on_cpu(flash_installed):
    assert resolve_attn("auto", use_gpu=False, mixed_precision="bf16") == "sdpa"


def test_explicit_flash_with_fp32_is_a_config_error():
    with pytest.raises(ConfigError, match="train.mixed_precision=fp32"):
        resolve_attn("flash_attention_2", use_gpu=True, mixed_precision="fp32")


@pytest.mark.parametrize("attn", ["sdpa", "eager", "flash_attention_2"])
def test_explicit_choice_is_kept_when_it_can_run(attn):
    assert resolve_attn(attn, use_gpu=True, mixed_precision="bf16") == attn
