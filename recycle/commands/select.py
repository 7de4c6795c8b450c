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
from recycle.pipeline.reassemble import PARTS, conversation_counts
from recycle.pipeline.reselect import load_scored, load_turns, reselect_conversations
from recycle.pipeline.turns import turns_dir
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
    turns = load_turns(run.cfg.data.input)
    plan = plan_selection(run.cfg.selection)
    return reselect_conversations(df, turns, plan, source.get("mode"))


def _write(run: Run, selected: Any) -> None:
    """Single rows as before; a run's conversations as `recycle run` writes them: turn rows in
    OUTPUT/turns/, one reassembled row each in the run directory."""
    singles, turns, conversations = selected
    write_outcomes(ray.data.from_pandas(singles), run.out_dir)
    if len(conversations):
        write_outcomes(ray.data.from_pandas(turns), turns_dir(run.out_dir))
        write_outcomes(ray.data.from_pandas(conversations), run.out_dir, PARTS)


def _sections(run: Run, counts: dict[str, Any]) -> None:
    run.outputs["alpaca_json"] = write_alpaca_json(run.out_dir)
    if conversations := conversation_counts(run.out_dir):
        run.extra["conversations"] = conversations


SELECT = Command(name="select", check=check, read=_read, write=_write, sections=_sections,
                 read_before_ray=True, timings=(None, "select"), preflight=needs.SELECT)  # fmt: skip


def run_select(cfg: RecycleConfig, preflight: bool | Preflight = True) -> dict[str, Any]:
    """Re-select data.input (a run directory) into output.dir; returns the new manifest.

    Raises:
        ConfigError: no source, or a mode that cannot be derived from it (see reselect).
        InputError: the source is not a run directory, or rows were lost (invariant broken).
    """
    return execute(SELECT, cfg, preflight)
