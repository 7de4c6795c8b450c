"""flash-attention runs in bfloat16/float16 only: asking for it with float32 is refused at start-up."""

from __future__ import annotations

import pytest

from recycle.config import load_config
from recycle.config.student import flash_supports
from recycle.errors import ConfigError


def test_flash_with_float32_student_is_refused_naming_both_keys():
    with pytest.raises(
        ConfigError, match=r"student.attn_implementation=flash_attention_2.*student.dtype=float32"
    ):
        load_config(
            None, ["student.attn_implementation=flash_attention_2", "student.dtype=float32"]
        )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "auto"])
def test_flash_with_half_or_auto_dtype_is_accepted(dtype):
    cfg = load_config(
        None, ["student.attn_implementation=flash_attention_2", f"student.dtype={dtype}"]
    )
    assert (cfg.student.attn_implementation, cfg.student.dtype) == ("flash_attention_2", dtype)


def test_float32_with_auto_or_sdpa_attention_is_accepted():
    cfg = load_config(None, ["student.dtype=float32"])
    assert cfg.student.attn_implementation == "auto"
    cfg = load_config(None, ["student.dtype=float32", "student.attn_implementation=sdpa"])
    assert cfg.student.attn_implementation == "sdpa"


def test_flash_with_fp32_training_is_refused():
    with pytest.raises(ConfigError, match=r"train.attn_implementation=flash_attention_2.*fp32"):
        load_config(
            None, ["train.attn_implementation=flash_attention_2", "train.mixed_precision=fp32"]
        )


@pytest.mark.parametrize(
    ("dtype", "ok"),
    [
        ("bfloat16", True),
        ("float16", True),
        ("torch.bfloat16", True),
        ("float32", False),
        ("torch.float32", False),
    ],
)
def test_flash_supports_half_precision_only(dtype, ok):
    assert flash_supports(dtype) is ok
