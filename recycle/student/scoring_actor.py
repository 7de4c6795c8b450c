"""`StudentScorer`: the Ray Data stage that adds IFD / r-IFD columns to a dataset.

Phase 1 of the pipeline (IFD of the original and of the instruction-reflected pair):

    from recycle import columns as C
    from recycle.student import Variant, score_dataset

    phase1 = [
        Variant(prefix=C.ORIG),
        Variant(prefix=C.INS, instruction=C.NEW_INSTRUCTION, input=C.NEW_INPUT, output=C.NEW_OUTPUT),
    ]
    ds = score_dataset(ds, cfg.student, phase1, stage="score_phase1")

Phase 2 (r-IFD of both candidates; IFD of (x1, y_res) only where its r-IFD wins step 4, the only
rows whose IFD the final filter reads; the loss_x both share is computed once):

    x1 = {"instruction": C.INSTRUCTION_1, "input": C.INPUT_1}
    phase2 = [
        Variant(prefix=C.PAIR1, output=C.OUTPUT_1, ifd=False, rifd=True, **x1),
        Variant(prefix=C.RES, output=C.BETTER_OUTPUT, rifd=True, ifd_only_if_rifd_below=C.PAIR1, **x1),
    ]
    ds = score_dataset(ds, cfg.student, phase2, stage="score_phase2")

Only rows whose `outcome` is "kept" are scored; the other rows pass through with NaN scores and
a `not_scored` reason in each variant's score_error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.config.load import as_config
from recycle.config.student import StudentConfig
from recycle.student.batching import ForwardStats
from recycle.student.model import check_student, load_student
from recycle.student.scoring import score_columns
from recycle.student.variants import Variant, check_variants, columns_carried, columns_read

log = logging.getLogger(__name__)


class StudentScorer:
    """Callable class for `ds.map_batches`: loads the student once, scores each pandas batch.

    Args:
        student: the student config (or its dict form, as passed through Ray).
        variants: what to score for each row.
        stage: stage name used in column-check errors.
    """

    def __init__(
        self,
        student: StudentConfig | dict[str, Any],
        variants: Sequence[Variant],
        stage: str = "score",
    ):
        self.cfg = as_config(StudentConfig, student)
        self.variants = check_variants(variants)
        self.stage = stage
        self.model, self.tokenizer = load_student(self.cfg)
        self.stats = ForwardStats()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch with every variant's score columns added; row order and count unchanged."""
        C.require_columns(self.stage, batch.columns, (C.OUTCOME, *columns_read(self.variants)))
        kept = np.flatnonzero(C.kept_mask(batch[C.OUTCOME])).tolist()
        # a turn row's history, where the batch has one: its IFD pairs are scored after it
        names = columns_read(self.variants) + columns_carried(self.variants) + (C.TURN_HISTORY,)
        columns = {c: batch[c].tolist() for c in names if c in batch.columns}
        out, stats = score_columns(
            self.model, self.tokenizer, columns, self.variants, self.cfg, kept
        )
        self.stats.add(stats)
        result = batch.copy()
        for name, values in out.items():
            result[name] = values
        return result


def resolve_num_gpus(cfg: StudentConfig) -> float:
    """GPUs per actor: the configured number, else 1 when the Ray cluster has a GPU, else 0."""
    import ray

    if cfg.num_gpus_per_actor is not None:
        return cfg.num_gpus_per_actor
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def score_dataset(
    ds: Any, cfg: StudentConfig, variants: Sequence[Variant], stage: str = "score"
) -> Any:
    """Add the variants' score columns to a Ray dataset with a fixed pool of StudentScorer actors.

    The student is checked in the driver first, so a wrong `student.model` fails before any
    actor starts.

    Raises:
        ConfigError: the student model or tokenizer cannot be used, or the variants clash.
    """
    import ray

    variants = check_variants(variants)
    check_student(cfg)
    num_gpus = resolve_num_gpus(cfg)
    log.info("scoring with %d actor(s), %s GPU(s) each", cfg.num_actors, num_gpus)
    return ds.map_batches(
        StudentScorer,
        fn_constructor_kwargs={"student": cfg.model_dump(), "variants": variants, "stage": stage},
        batch_size=cfg.batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=cfg.num_actors),
        num_gpus=num_gpus,
        num_cpus=cfg.num_cpus_per_actor,
        udf_modifying_row_count=False,
    )
