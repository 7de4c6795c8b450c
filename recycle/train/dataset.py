"""Ray Data side of fine-tuning: the pipeline's output -> tokenized samples -> every worker's rows.

    dataset (Alpaca JSON/JSONL, Parquet, the run's kept/ rows) --read + normalize (Ray Data)-->
    samples --tokenize_batch (Ray Data, shared sequence builder)--> token ids
    --build_schedule (driver)--> one Ray Dataset per worker, read with get_dataset_shard

Samples that keep no response token are left out and counted; when none is left, or too few
for one global batch, training stops here, before any worker starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import ray

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.data.normalize import normalize_record
from recycle.data.read import read_raw
from recycle.data.records import RAW_PARSE_ERROR, RAW_SOURCE, RAW_TEXT
from recycle.errors import ConfigError, InputError
from recycle.rundir import outcome_dir
from recycle.storage import filesystem, local_folder
from recycle.train.samples import error_counts, tokenize_batch
from recycle.train.schedule import Layout, Schedule, build_schedule

log = logging.getLogger(__name__)


@dataclass
class TrainData:
    """The schedule and what the loop and the manifest need to know about the data."""

    schedule: Schedule
    pad_id: int
    source: str
    left_out: dict[str, int]
    rows_read: int = 0  # rows of the source tokenized: the usable samples + those left out

    def datasets(self) -> dict[str, ray.data.Dataset]:
        """One Ray Dataset per worker, named rank_<r> (read with get_dataset_shard).

        Their progress bars are off: reading in-memory rows is instant, and bars from every
        worker would drown the training progress lines in the job log.
        """
        out = {}
        for rank, table in enumerate(self.schedule.rank_tables):
            ds = ray.data.from_arrow(table)
            ds.context.enable_progress_bars = False
            out[f"rank_{rank}"] = ds
        return out

    @property
    def stats(self) -> dict[str, Any]:
        """Counts for the log and the export manifest."""
        return {
            "source": self.source,
            **self.schedule.stats,
            "left_out": self.left_out,
            "rows_read": self.rows_read,
            "steps_per_epoch": self.schedule.steps_per_epoch,
        }


def training_input(cfg: RecycleConfig) -> str:
    """The dataset to fine-tune on: train.dataset, else the run's kept rows, else data.input.

    Raises:
        ConfigError: none of them is set.
    """
    if cfg.train.dataset:
        return cfg.train.dataset
    kept = outcome_dir(cfg.output.dir, C.OUTCOME_KEPT)
    fs, path = filesystem(kept)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        return kept
    if cfg.data.input:
        return cfg.data.input
    raise ConfigError(
        "no dataset to fine-tune on: set train.dataset (or data.input), or run the pipeline first so that output.dir/kept/ exists"
    )


def normalize_raw(batch: pa.Table) -> pa.Table:
    """Normalize raw records (data.normalize's pure core); rejected rows stay, with their reason."""
    C.require_columns(
        "train_normalize", batch.column_names, (RAW_TEXT, RAW_SOURCE, RAW_PARSE_ERROR)
    )
    rows = [
        normalize_record(raw, src, err)
        for raw, src, err in zip(
            batch[RAW_TEXT].to_pylist(),
            batch[RAW_SOURCE].to_pylist(),
            batch[RAW_PARSE_ERROR].to_pylist(),
            strict=True,
        )
    ]
    keep = (C.SAMPLE_ID, C.INSTRUCTION, C.INPUT, C.OUTPUT, C.OUTCOME, C.REASON, C.MESSAGES)
    return pa.table({k: pa.array([r[k] for r in rows], type=pa.string()) for k in keep})


def tokenize_dataset(cfg: RecycleConfig, uri: str) -> pa.Table:
    """Read, normalize and tokenize the dataset with Ray Data; one row per sample_id, sorted.

    Duplicates (same content, so same sample_id and same tokens) are dropped here, on the driver,
    which spares the pipeline's shuffle-based duplicate marking.

    Returns:
        a table with sample_id, input_ids, target_start and train_error.
    """
    data_cfg = cfg.data.model_copy(
        update={"input": uri, "format": cfg.data.format if uri == cfg.data.input else "auto"}
    )
    samples = read_raw(data_cfg).map_batches(
        normalize_raw, batch_format="pyarrow", batch_size=cfg.ray.block_rows
    )
    tokenized = samples.map_batches(
        tokenize_batch,
        fn_kwargs={
            "model": cfg.student.model,
            "template": cfg.student.template,
            "max_length": cfg.train.max_length,
        },
        batch_format="pyarrow",
        batch_size=cfg.ray.block_rows,
    )
    tables = [t for t in ray.get(tokenized.to_arrow_refs()) if t.num_rows]
    if not tables:
        raise InputError(f"dataset {uri!r} holds no rows; check that it is the dataset you meant")
    table = pa.concat_tables(tables).sort_by(C.SAMPLE_ID)
    first = np.ones(table.num_rows, dtype=bool)
    sid = table[C.SAMPLE_ID].to_numpy(zero_copy_only=False)
    first[1:] = sid[1:] != sid[:-1]
    return table.filter(pa.array(first))


def usable_samples(table: pa.Table, max_length: int) -> tuple[pa.Table, dict[str, int]]:
    """The samples that keep a response token, and the count left out per reason.

    Raises:
        InputError: no sample keeps a response token after truncation.
    """
    errors = table[C.TRAIN_ERROR].to_pylist()
    left_out = error_counts(errors)
    ok = table.filter(pc.equal(table[C.TRAIN_ERROR], ""))
    if ok.num_rows == 0:
        raise InputError(
            f"none of the {table.num_rows} samples keeps a response token within train.max_length={max_length} "
            f"(left out: {left_out}); raise train.max_length or use shorter prompts"
        )
    if left_out:
        log.warning(
            "left out %d of %d samples with no response token to train on: %s",
            sum(left_out.values()),
            table.num_rows,
            left_out,
        )
    return ok, left_out


def schedule_samples(cfg: RecycleConfig, table: pa.Table) -> Schedule:
    """Lay the usable samples out into every worker's rows (see schedule.py).

    Raises:
        InputError: an epoch has fewer rows than one global batch.
    """
    t = cfg.train
    layout = Layout(t.global_batch_size, t.num_workers, t.micro_batch_size)
    ids = [np.asarray(x, dtype=np.int32) for x in table[C.INPUT_IDS].to_pylist()]
    masks = None  # conversations: 1 on every assistant turn (train/samples.py)
    if C.TARGET_MASK in table.column_names:
        masks = [
            np.asarray(m, dtype=np.int8) if m else None for m in table[C.TARGET_MASK].to_pylist()
        ]
        masks = masks if any(m is not None for m in masks) else None
    schedule = build_schedule(
        table[C.SAMPLE_ID].to_pylist(),
        ids,
        table[C.TARGET_START].to_pylist(),
        layout,
        t.epochs,
        t.seed,
        t.packing,
        t.max_length,
        t.max_steps,
        t.sort_by_length,
        target_masks=masks,
    )
    if not schedule.steps_per_epoch or 0 in schedule.steps_per_epoch:
        unit = "packed rows" if t.packing else "samples"
        raise InputError(
            f"{table.num_rows} usable samples make fewer {unit} per epoch than train.global_batch_size={t.global_batch_size}; "
            "lower the global batch (keeping it a multiple of num_workers x micro_batch_size) or train on more data"
        )
    return schedule


def prepare(cfg: RecycleConfig) -> TrainData:
    """Everything data-related, done on the driver before any worker starts."""
    from transformers import AutoTokenizer

    from recycle.student.sequences import pad_token_id

    source = training_input(cfg)
    log.info("fine-tuning on %s", source)
    tokenized = tokenize_dataset(cfg, source)
    table, left_out = usable_samples(tokenized, cfg.train.max_length)
    schedule = schedule_samples(cfg, table)
    pad_id = pad_token_id(AutoTokenizer.from_pretrained(local_folder(cfg.student.model)))
    log.info("schedule: %s, steps per epoch %s", schedule.stats, schedule.steps_per_epoch)
    return TrainData(schedule, pad_id, source, left_out, tokenized.num_rows)
