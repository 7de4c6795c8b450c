"""The stream's choose adapters select under the plan they are handed (never the config's mode,
never rebuilt per batch), and each half becomes one Ray Data step given that plan."""

import dataclasses

import pandas as pd
import pytest

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.pipeline.choose import choose_instruction_batch, choose_response_batch, choose_step
from recycle.rundir import LIGHT_CPUS
from recycle.select import declarations as D
from recycle.select import plan_selection
from recycle.select.modes import RESPONSE_NOT_REFLECTED, select_instruction, select_response
from tests.unit.select.test_modes import row


def rows() -> pd.DataFrame:
    """a: the reflected instruction wins on IFD, its reflected response loses on r-IFD but wins
    on IFD; b: the original instruction wins on IFD."""
    return pd.DataFrame([row("a", 0.5, 0.8, 0.6, 0.7, 0.9), row("b", 0.8, 0.5, 0.9, 0.7, 0.6)])


def test_the_adapters_use_the_plan_they_are_handed_not_its_configs_mode():
    selective = plan_selection(SelectionConfig(mode="selective"))
    ifd_only = dataclasses.replace(selective, spec=D.MODES["ifd_only"])  # selective's config
    chosen = choose_instruction_batch(rows(), ifd_only)
    assert chosen[C.INSTRUCTION_REFLECTED].tolist() == [True, False]  # higher IFD, as both
    chosen["pair1_rifd"] = [0.6, 0.9]
    assert chosen["pair1_ifd"].tolist() == [0.8, 0.8]  # carried by step 2 from ins_ / orig_
    by_ifd = choose_response_batch(chosen, ifd_only).set_index(C.SAMPLE_ID)
    by_rifd = choose_response_batch(chosen, selective).set_index(C.SAMPLE_ID)
    # a: pair1 IFD 0.8 vs res IFD 0.9 -> ifd_only takes y_res; r-IFD 0.7 vs 0.6 -> selective keeps y1
    assert by_ifd[C.RESPONSE_REFLECTED].to_dict() == {"a": True, "b": False}
    assert by_rifd[C.RESPONSE_REFLECTED].to_dict() == {"a": False, "b": True}
    assert by_rifd.loc["a", C.REASON] == RESPONSE_NOT_REFLECTED


def test_an_adapter_names_its_step_and_the_missing_column():
    plan = plan_selection(SelectionConfig())
    with pytest.raises(KeyError, match="choose_instruction.*reflect_instruction_status"):
        choose_instruction_batch(rows().drop(columns=[C.REFLECT_INSTRUCTION_STATUS]), plan)
    recycle_instruction = plan_selection(SelectionConfig(mode="recycle_instruction"))
    no_status = select_instruction(rows(), recycle_instruction).drop(
        columns=[C.REFLECT_RESPONSE_STATUS]
    )
    out = choose_response_batch(no_status, recycle_instruction)  # no response reflected: no status
    assert not out[C.RESPONSE_REFLECTED].any()


class Recorded:
    """A dataset that records the steps added to it."""

    def __init__(self) -> None:
        self.steps: list[tuple] = []

    def map_batches(self, fn, **kwargs):
        self.steps.append((fn, kwargs))
        return self


@pytest.mark.parametrize(
    ("half", "adapter"),
    [(select_instruction, choose_instruction_batch), (select_response, choose_response_batch)],
)
def test_a_half_is_one_step_given_the_plan_object(half, adapter):
    plan = plan_selection(SelectionConfig(mode="coherence"))
    ds = choose_step(Recorded(), half, plan, num_cpus=0.5)
    [(fn, kwargs)] = ds.steps
    assert fn is adapter and kwargs["fn_kwargs"]["plan"] is plan
    assert (kwargs["num_cpus"], kwargs["batch_format"]) == (0.5, "pandas")
    assert kwargs["udf_modifying_row_count"] is False
    assert choose_step(Recorded(), half, plan).steps[0][1]["num_cpus"] == LIGHT_CPUS
