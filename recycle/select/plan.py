"""The selection a run executes, resolved once when it starts: a `SelectionPlan`.

`plan_selection` looks the mode up in the declaration table (declarations.py), checks the
declaration (checks.py) and returns the plan that everything which selects is handed: the
stream's graph and its choose adapters, `recycle select`, the Table 6 statistics, pre-flight and
the benchmarks. Nothing else looks a mode up by its name, so no two parts of a run can read the
mode differently, and no batch rebuilds it.

    plan = plan_selection(cfg.selection)      # the mode's declaration, checked
    plan.spec.phase1, plan.spec.step2, plan.spec.phase2, plan.spec.step4, plan.spec.final_filter
    plan.global_topk                          # the global top-k by IFD instead of the two steps
    plan.with_table6()                        # phase 1 widened for the Table 6 statistics

A plan pickles with its rules by name (rules.py), so the copy a Ray worker is handed holds the
table's own rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from recycle.config import RecycleConfig
from recycle.config.selection import SelectionConfig
from recycle.select.checks import check_mode
from recycle.select.declarations import ModeSpec, mode_spec, with_table6


@dataclass(frozen=True)
class SelectionPlan:
    """The selection of one run, as it runs.

    Attributes:
        config: a copy of the selection section the run started with (the final filter's
            switches, the top-k size, the random ablation's seed).
        spec: the mode's declaration as the run executes it: phase 1 widened for the Table 6
            statistics when `table6` (declarations.with_table6).
        table6: the run computes its Table 6 statistics in the stream.
    """

    config: SelectionConfig
    spec: ModeSpec
    table6: bool = False

    @property
    def mode(self) -> str:
        return self.spec.name

    @property
    def global_topk(self) -> bool:
        """Whether the selection is the global top-k by IFD of the originals (topk.py)."""
        return self.spec.global_topk

    def with_table6(self) -> SelectionPlan:
        """This plan with the Table 6 statistics computed in the stream (phase 1 also scores
        IFD and r-IFD of (x0, y0)); a mode without a student phase is returned unchanged: its
        statistics are computed after the run."""
        if not self.spec.needs_student:
            return self
        return replace(self, spec=with_table6(self.spec), table6=True)


def plan_selection(selection: SelectionConfig) -> SelectionPlan:
    """The plan of `selection.mode`, its declaration checked.

    Raises:
        ConfigError: an unknown mode (the known ones listed), or a declaration whose rules or
            filter read a score no phase computes (checks.check_mode).
    """
    spec = mode_spec(selection.mode)
    check_mode(spec)
    return SelectionPlan(selection.model_copy(deep=True), spec)


def as_plan(selection: SelectionPlan | SelectionConfig | RecycleConfig) -> SelectionPlan:
    """A plan as it is; a config (its selection section) planned here, for a caller that holds
    only the config (a notebook or a test applying the selection to rows)."""
    if isinstance(selection, SelectionPlan):
        return selection
    if isinstance(selection, RecycleConfig):
        selection = selection.selection
    return plan_selection(selection)
