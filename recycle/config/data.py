"""Config of the input dataset, the run directory and the Ray connection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recycle.config.base import Section

DataFormat = Literal["auto", "json", "jsonl", "parquet", "hf_disk"]


class DataConfig(Section):
    """Where the instruction dataset comes from."""

    input: str | None = Field(
        default=None,
        description="File, directory or glob; local, s3:// or gs://. Alpaca JSON/JSONL, ShareGPT, Parquet, or a HF dataset saved to disk.",
    )
    format: DataFormat = Field(
        default="auto", description="Input format; 'auto' decides from the file extension."
    )
    split: str = Field(
        default="train", description="Split to read when the input is a saved HF DatasetDict."
    )
    limit: int | None = Field(
        default=None, ge=1, description="Read only the first N rows (smoke runs)."
    )


class OutputConfig(Section):
    """Where a run writes: the run directory contract (manifest.json, kept/, dropped/, rejects/)."""

    dir: str = Field(default="runs/latest", description="Run directory; local, s3:// or gs://.")
    overwrite: bool = Field(
        default=False,
        description="Delete an existing run directory first instead of resuming into it.",
    )
    retry_rejected: bool = Field(
        default=True,
        description="A rerun retries the samples rejected for a transient reason (teacher_unavailable, budget); false treats them as final, as before.",
    )
    report_stats: bool = Field(
        default=True,
        description="Compute the papers' Table 6 statistics of the original and final data for the report: in modes with a student, from the run's own scores (phase 1 adds r-IFD of (x0, y0); a Sentence-BERT actor pool, see student.coherence_actors); in the others, two more student passes after the run.",
    )


class RayConfig(Section):
    """How to reach Ray."""

    address: str | None = Field(
        default=None,
        description="Ray address. None joins the cluster RAY_ADDRESS names (as under `ray job submit`), else one `ray start --head` left running on this machine, else starts a private local Ray; `local` always starts a private local Ray; `host:port` or `ray://host:port` joins that cluster.",
    )
    num_cpus: int | None = Field(
        default=None,
        ge=1,
        description="CPUs for a private local Ray started by this process; ignored, with a warning, when joining a cluster or when Ray is already up.",
    )
    quiet: bool = Field(
        default=False,
        description="Route Ray's own lines and the workers' output away from the console (to the run's log file); the command line sets it unless --verbose.",
    )
    block_rows: int = Field(
        default=256, ge=1, description="Rows per batch handed to the CPU stages."
    )
