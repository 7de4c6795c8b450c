"""Ray Data adapters of the two halves of the selection: pandas batch in, pandas batch out, row
count unchanged. recycle.select.modes.select_reflected composes them (`choose_step` is how the
stream runs a half); each batch is selected under the plan the run made when it started, handed
to the step, never rebuilt from the config."""

from __future__ import annotations

import pandas as pd
import ray

from recycle import columns as C
from recycle.rundir import LIGHT_CPUS
from recycle.select.modes import Half, select_instruction, select_response
from recycle.select.plan import SelectionPlan


def choose_instruction_batch(batch: pd.DataFrame, plan: SelectionPlan) -> pd.DataFrame:
    """Step 2 on one batch: pick (x1, y1) between the original and the reflected instruction."""
    status = (C.REFLECT_INSTRUCTION_STATUS,) if plan.spec.reflect_instruction else ()
    C.require_columns("choose_instruction", batch.columns, (C.OUTCOME, *status))
    return select_instruction(batch, plan)


def choose_response_batch(batch: pd.DataFrame, plan: SelectionPlan) -> pd.DataFrame:
    """Step 4 and the filter on one batch: pick y2, then keep or drop the sample with a reason."""
    status = (C.REFLECT_RESPONSE_STATUS,) if plan.spec.reflect_response else ()
    C.require_columns("choose_response", batch.columns, (C.OUTCOME, C.OUTPUT_1, *status))
    return select_response(batch, plan)


BATCH_ADAPTER = {
    select_instruction: choose_instruction_batch,
    select_response: choose_response_batch,
}


def choose_step(
    ds: ray.data.Dataset, half: Half, plan: SelectionPlan, num_cpus: float = LIGHT_CPUS
) -> ray.data.Dataset:
    """A half of the selection as a step over pandas batches of `ds`, handed `plan`.

    Ray Data fuses it into the next operator (one task, or the next actor pool's actors) when
    that one reserves the same `num_cpus`: no task of its own.
    """
    return ds.map_batches(
        BATCH_ADAPTER[half],
        fn_kwargs={"plan": plan},
        batch_format="pandas",
        num_cpus=num_cpus,
        udf_modifying_row_count=False,
    )
