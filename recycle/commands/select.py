"""`recycle select`: a selection mode applied to the rows of an earlier run (recycle.pipeline.reselect).

The selection runs on the driver before Ray starts, so a mode that cannot be derived from the
source run is refused in seconds. The source's input count, and the samples a stopped source
never reached, carry over, so the manifest adds up to the source's input.
"""

from __future__ import annotations

from typing import Any

import ray

from recycle.commands import needs
from recycle.commands.runner import Command, Run, execute
from recycle.config import RecycleConfig
from recycle.errors import ConfigError
from recycle.pipeline.export import write_alpaca_json
from recycle.pipeline.reselect import load_scored, reselect
from recycle.preflight import Preflight
from recycle.rundir import write_outcomes
from recycle.select.plan import plan_selection


def check(cfg: RecycleConfig) -> None:
    if not cfg.data.input:
        raise ConfigError(
            "pass --input RUN_DIR: the run directory of an earlier `recycle run` or `recycle score`"
        )


def _read(run: Run) -> Any:
    df, source = load_scored(run.cfg.data.input)
    run.n_input, run.pending = source["counts"]["input"], source["counts"].get("pending")
    run.extra.update(mode=run.cfg.selection.mode, selected_from=run.cfg.data.input)
    return reselect(df, plan_selection(run.cfg.selection), source.get("mode"))


def _write(run: Run, selected: Any) -> None:
    write_outcomes(ray.data.from_pandas(selected), run.out_dir)


def _sections(run: Run, counts: dict[str, Any]) -> None:
    run.outputs["alpaca_json"] = write_alpaca_json(run.out_dir)


SELECT = Command(name="select", check=check, read=_read, write=_write, sections=_sections,
                 read_before_ray=True, timings=(None, "select"), preflight=needs.SELECT)  # fmt: skip


def run_select(cfg: RecycleConfig, preflight: bool | Preflight = True) -> dict[str, Any]:
    """Re-select data.input (a run directory) into output.dir; returns the new manifest.

    Raises:
        ConfigError: no source, or a mode that cannot be derived from it (see reselect).
        InputError: the source is not a run directory, or rows were lost (invariant broken).
    """
    return execute(SELECT, cfg, preflight)
