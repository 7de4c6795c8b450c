"""The end product: a Hugging Face folder (safetensors, config, tokenizer) under the run directory.

All ranks gather the full state dict (a collective); rank 0 writes it with `save_pretrained`
into a local folder, next to the student's tokenizer and generation config and a
`recycle_train.json` that says how it was trained, and copies the folder to the run directory
when that is on s3:// or gs://.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import tempfile
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from recycle.storage import filesystem
from recycle.train.model import PREFIX

MODEL_DIR = "model"
TRAIN_MANIFEST = "recycle_train.json"


def model_dir(output_dir: str) -> str:
    """URI of the exported Hugging Face folder of a run directory."""
    return posixpath.join(output_dir.rstrip("/"), MODEL_DIR)


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights on rank 0's CPU (empty elsewhere), without the wrapper prefix."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    sd = get_model_state_dict(model, options=options)
    return {k.removeprefix(PREFIX): v for k, v in sd.items()}


def save_hf_folder(
    state_dict: dict[str, torch.Tensor],
    base_model: str,
    folder: str,
    dtype: torch.dtype,
    manifest: dict[str, Any],
) -> None:
    """Write weights (cast to `dtype`), config, tokenizer and generation config of the student."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    config = AutoConfig.from_pretrained(base_model)
    config.use_cache = True
    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(config, dtype=dtype)
    lm.load_state_dict({k: v.to(dtype) for k, v in state_dict.items()}, assign=True, strict=False)
    lm.tie_weights()
    missing = [name for name, p in lm.named_parameters() if p.is_meta]
    if missing:
        raise RuntimeError(f"export: no trained value for {missing[:5]} ({len(missing)} tensors)")
    lm.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_model).save_pretrained(folder)
    with contextlib.suppress(OSError):  # no generation_config.json: save_pretrained wrote a default
        GenerationConfig.from_pretrained(base_model).save_pretrained(folder)
    with open(os.path.join(folder, TRAIN_MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)


def upload(local: str, uri: str) -> None:
    """Copy a local folder to a URI (local path, s3:// or gs://), replacing what is there."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)
    fs.create_dir(path, recursive=True)
    pafs.copy_files(
        local, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )


def export_hf(
    model: nn.Module,
    base_model: str,
    output_dir: str,
    dtype: torch.dtype,
    rank: int,
    manifest: dict[str, Any],
) -> str:
    """Gather the weights and write the Hugging Face folder (collective); returns its URI."""
    state_dict = full_state_dict(model)
    uri = model_dir(output_dir)
    if rank == 0:
        with tempfile.TemporaryDirectory(prefix="recycle-export-") as folder:
            save_hf_folder(state_dict, base_model, folder, dtype, manifest)
            upload(folder, uri)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return uri
