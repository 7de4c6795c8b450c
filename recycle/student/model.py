"""Load the student (model + tokenizer) once, with the device, dtype and attention kernel resolved.

`check_student` runs in the driver before any actor starts, so a wrong `student.model` stops
the run at once with a message saying what to set.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from recycle.config.student import FLASH, StudentConfig, flash_supports
from recycle.errors import ConfigError
from recycle.storage import local_folder
from recycle.student.sequences import prompt_prefix, start_token_id

log = logging.getLogger(__name__)

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def resolve_device(cfg: StudentConfig) -> str:
    """'cuda' or 'cpu': the configured one, or CUDA whenever this process sees a GPU."""
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "student.device=cuda but this process sees no CUDA device; use student.device=auto"
        )
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.device


def resolve_dtype(cfg: StudentConfig, device: str) -> Any:
    """torch dtype: bfloat16 on CUDA and float32 on CPU unless set."""
    import torch

    if cfg.dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, DTYPES[cfg.dtype])


def dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """The keyword naming the weights' dtype in `from_pretrained`/`from_config`.

    transformers 4.56 renamed `torch_dtype` to `dtype`; older versions reject `dtype` (TypeError
    from the model's __init__), newer ones warn on `torch_dtype`. 4.56 is this project's floor,
    but the GPU check (recycle.bench.gpu_check) runs on whatever transformers a GPU image has.
    """
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__).release >= (4, 56):
        return {"dtype": dtype}
    return {"torch_dtype": dtype}


# CPU: a micro-batch that fits the cache (README, "Measured defaults")
BATCH_TOKENS = {"cuda": 16384, "cpu": 2048}


def resolve_batch_tokens(cfg: StudentConfig, device: str) -> int:
    """Token budget of a scoring micro-batch: the configured one, else BATCH_TOKENS of the device.

    On a CPU, micro-batches of ~2k tokens keep the activations in cache: the bench_stats rows
    score in about half the time they take at the GPU's 16k.
    """
    return cfg.batch_tokens or BATCH_TOKENS["cuda" if device == "cuda" else "cpu"]


def resolve_attention(cfg: StudentConfig, device: str, dtype: Any) -> str:
    """flash_attention_2 on CUDA in bfloat16/float16 when flash-attn is installed, else SDPA.

    Raises:
        ConfigError: flash_attention_2 was asked for where it cannot run (CPU or float32).
    """
    half = flash_supports(str(dtype))
    if cfg.attn_implementation == FLASH and (device != "cuda" or not half):
        raise ConfigError(
            f"student.attn_implementation=flash_attention_2 needs CUDA and bfloat16/float16, "
            f"but the student runs on {device} in {str(dtype).removeprefix('torch.')}; set "
            "student.dtype=bfloat16 on a GPU, or student.attn_implementation=sdpa (or auto)"
        )
    if cfg.attn_implementation != "auto":
        return cfg.attn_implementation
    if device == "cuda" and half and importlib.util.find_spec("flash_attn") is not None:
        return FLASH
    return "sdpa"


def on_this_node(cfg: StudentConfig) -> StudentConfig:
    """`cfg` with `model` readable here: a model on s3:// or gs:// is copied to this node once."""
    if not cfg.model or "://" not in cfg.model:
        return cfg
    return cfg.model_copy(update={"model": local_folder(cfg.model)})


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.path.isabs(name) or name.count("/") > 1


def check_student(cfg: StudentConfig) -> Any:
    """Fail fast on a student that cannot be used; returns its tokenizer.

    Checks that `student.model` is set and loads (config and tokenizer only, cheap), that the
    tokenizer has a start token, and that `student.template=chat` has a chat template.

    Raises:
        ConfigError: naming `student.model` and what to do.
    """
    if not cfg.model:
        raise ConfigError(
            "student.model is not set; pass student.model=PATH (a local Hugging Face model folder) or a hub id"
        )
    cfg = on_this_node(cfg)
    if _looks_local(cfg.model) and not Path(cfg.model).expanduser().exists():
        raise ConfigError(
            f"student.model {cfg.model!r} does not exist; point it at a folder holding config.json, weights and the tokenizer"
        )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
        tokenizer = load_tokenizer(cfg)
    except (OSError, ValueError) as err:
        raise ConfigError(f"student.model {cfg.model!r} cannot be loaded: {err}") from None
    start_token_id(tokenizer)
    prompt_prefix(cfg.template, "check", tokenizer)
    return tokenizer


def load_tokenizer(cfg: StudentConfig) -> Any:
    """The student's tokenizer; logs how a missing bos or pad token is handled."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    if tokenizer.bos_token_id is None:
        log.warning(
            "student tokenizer has no bos token: sequences start with eos (%r) instead",
            tokenizer.eos_token,
        )
    if tokenizer.pad_token_id is None:
        log.info("student tokenizer has no pad token: padding (masked, never scored) uses eos")
    return tokenizer


def load_student(cfg: StudentConfig) -> tuple[Any, Any]:
    """Model (eval mode, on its device) and tokenizer of `cfg.model`, loaded once per actor.

    The weights are read straight onto the device where the installed transformers can
    (`placement_kwargs`), so an actor does not hold a second, host copy of the model.
    """
    from transformers import AutoModelForCausalLM

    cfg = on_this_node(cfg)
    tokenizer = check_student(cfg)
    device = resolve_device(cfg)
    dtype = resolve_dtype(cfg, device)
    attn = resolve_attention(cfg, device, dtype)
    placement = placement_kwargs(device)
    model = AutoModelForCausalLM.from_pretrained(
        cfg.model,
        attn_implementation=attn,
        trust_remote_code=cfg.trust_remote_code,
        **dtype_kwarg(dtype),
        **placement,
    )
    if not placement:
        model.to(device)
    model.eval()
    log.info("student %s on %s, %s, attention %s", cfg.model, device, dtype, attn)
    return model, tokenizer


def placement_kwargs(device: str) -> dict[str, Any]:
    """`from_pretrained` keywords that load the weights straight onto `device`.

    transformers 5 places them itself (`device_map`); 4.x needs accelerate for that. Without it the
    model is read on the host and moved (said in the log), as before.
    """
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__).major >= 5 or importlib.util.find_spec("accelerate"):
        return {"device_map": device}
    if device != "cpu":
        log.info("accelerate is not installed: the student is read on the host, then moved")
    return {}
