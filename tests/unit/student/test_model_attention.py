"""The student's attention kernel and where its weights are loaded.

flash-attention is chosen only for bfloat16/float16 on CUDA (flash-attn refuses float32); the
weights are read straight onto the device, and the scores are the same as a model read on the
host and moved.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from recycle.config.student import StudentConfig
from recycle.errors import ConfigError
from recycle.student import model as student_model
from recycle.student.model import placement_kwargs, resolve_attention


@pytest.fixture
def flash_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_spec('flash_attn') answers as if flash-attn were installed."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "flash_attn":
            return object()
        return real(name, *args, **kwargs)

    monkeypatch.setattr(student_model.importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_auto_picks_flash_for_half_precision_on_cuda(flash_installed, dtype):
    assert resolve_attention(StudentConfig(), "cuda", dtype) == "flash_attention_2"


def test_auto_picks_sdpa_for_float32_on_cuda_even_with_flash_installed(flash_installed):
    cfg = StudentConfig(dtype="float32")
    assert resolve_attention(cfg, "cuda", torch.float32) == "sdpa"


def test_auto_picks_sdpa_on_cpu(flash_installed):
    assert resolve_attention(StudentConfig(), "cpu", torch.bfloat16) == "sdpa"


def test_explicit_flash_where_dtype_resolves_to_float32_is_a_config_error():
    cfg = StudentConfig(attn_implementation="flash_attention_2")  # dtype auto: float32 on CPU
    with pytest.raises(
        ConfigError, match="student.attn_implementation=flash_attention_2 needs CUDA"
    ):
        resolve_attention(cfg, "cpu", torch.float32)


def test_explicit_flash_in_bfloat16_on_cuda_is_kept():
    cfg = StudentConfig(attn_implementation="flash_attention_2", dtype="bfloat16")
    assert resolve_attention(cfg, "cuda", torch.bfloat16) == "flash_attention_2"


def test_the_installed_transformers_loads_straight_to_the_device():
    """transformers 5 (or accelerate) places the weights itself: no host copy first."""
    import transformers
    from packaging.version import Version

    direct = (
        Version(transformers.__version__).major >= 5
        or importlib.util.find_spec("accelerate") is not None
    )
    assert placement_kwargs("cuda") == ({"device_map": "cuda"} if direct else {})


def test_scores_of_a_model_loaded_on_its_device_equal_the_host_loaded_model(
    tiny_model_dir, monkeypatch
):
    """The same weights and the same logits whether from_pretrained placed them or .to() moved them."""
    cfg = StudentConfig(model=str(tiny_model_dir))
    direct, _ = student_model.load_student(cfg)
    assert {p.device.type for p in direct.parameters()} == {"cpu"}
    monkeypatch.setattr(student_model, "placement_kwargs", lambda device: {})
    moved, _ = student_model.load_student(cfg)
    ids = torch.tensor([[1, 7, 42, 99, 3, 250]])  # (B=1, T=6)
    with torch.no_grad():
        a, b = direct(input_ids=ids).logits, moved(input_ids=ids).logits  # (1, 6, V)
    assert torch.equal(a, b)
    for (name, p), (_, q) in zip(
        direct.state_dict().items(), moved.state_dict().items(), strict=True
    ):
        assert torch.equal(p, q), name


def test_load_student_asks_from_pretrained_to_place_the_weights(tiny_model_dir, monkeypatch):
    """The weights go straight to the device: from_pretrained gets the device, no .to() after."""
    from transformers import AutoModelForCausalLM

    if not placement_kwargs("cpu"):
        pytest.skip("transformers 4.x without accelerate cannot place weights while loading")

    seen: dict = {}
    real = AutoModelForCausalLM.from_pretrained

    def from_pretrained(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)
    student_model.load_student(StudentConfig(model=str(tiny_model_dir)))
    assert seen["device_map"] == "cpu"
