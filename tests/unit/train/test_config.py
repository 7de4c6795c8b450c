"""The training config: the papers' presets, and a global batch that must divide evenly."""

from pathlib import Path

import pytest

from recycle.config import RecycleConfig, load_config
from recycle.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[3] / "jobs" / "configs"


@pytest.mark.parametrize(
    ("name", "lr", "accum"),
    [("llama2_7b_finetune.yaml", 2e-5, 4), ("llama2_13b_finetune.yaml", 1e-5, 8)],
)
def test_presets_are_the_papers_recipe(name, lr, accum):
    cfg = load_config(CONFIGS / name)
    t = cfg.train
    assert (t.lr, t.global_batch_size, t.epochs, t.max_length, t.warmup_ratio) == (
        lr,
        128,
        3,
        2048,
        0.03,
    )
    assert cfg.student.template == "vicuna" and t.use_gpu and t.mixed_precision == "bf16"
    assert t.activation_checkpointing and t.grad_accum_steps == accum


def test_defaults_keep_the_existing_fields():
    t = RecycleConfig().train
    assert (t.num_workers, t.use_gpu, t.epochs, t.global_batch_size, t.micro_batch_size) == (
        1,
        False,
        3,
        128,
        4,
    )
    assert (t.max_length, t.lr, t.warmup_ratio) == (2048, 2e-5, 0.03)
    assert t.grad_accum_steps == 32 and t.tracker == "none" and t.storage_path is None


def test_global_batch_not_divisible_is_named_with_a_fix():
    with pytest.raises(
        ConfigError,
        match=r"train.global_batch_size=100 is not divisible by train.num_workers x train.micro_batch_size = 8 x 4 = 32.*e.g. 96",
    ):
        load_config(None, ["train.num_workers=8", "train.global_batch_size=100"])


def test_bad_train_values_name_the_key():
    with pytest.raises(ConfigError, match=r"'train.tracker'"):
        load_config(None, ["train.tracker=tensorboard"])
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'train.micro_batch'.*did you mean 'train.micro_batch_size'",
    ):
        load_config(None, ["train.micro_batch=2"])


def test_explicit_flash_attention_with_fp32_training_is_refused_naming_both_keys():
    with pytest.raises(
        ConfigError,
        match=r"train.attn_implementation=flash_attention_2 with train.mixed_precision=fp32.*set train.mixed_precision=bf16",
    ):
        load_config(
            None, ["train.attn_implementation=flash_attention_2", "train.mixed_precision=fp32"]
        )
    ok = load_config(
        None, ["train.attn_implementation=flash_attention_2", "train.mixed_precision=bf16"]
    )
    assert ok.train.attn_implementation == "flash_attention_2"


def test_efficiency_defaults_and_the_13b_preset_s_memory_choice():
    t = RecycleConfig().train
    assert (t.sort_by_length, t.grad_sync, t.reduce_dtype, t.mesh, t.async_checkpoint) == (
        True,
        "last_micro_batch",
        "fp32",
        "auto",
        True,
    )
    assert load_config(CONFIGS / "llama2_7b_finetune.yaml").train.grad_sync == "last_micro_batch"
    # deferring the reduction would hold a ~52 GB unsharded fp32 gradient per GPU at 13B
    assert load_config(CONFIGS / "llama2_13b_finetune.yaml").train.grad_sync == "every_micro_batch"
    with pytest.raises(ConfigError, match=r"'train.reduce_dtype'"):
        load_config(None, ["train.reduce_dtype=fp16"])
