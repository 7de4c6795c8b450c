"""recycle from Python and notebooks: each command as a function, through the one entry.

    from recycle import api

    manifest = api.run("jobs/configs/small_local.yaml", ["output.dir=runs/x"])
    manifest = api.end_to_end(cfg, train=False)        # a RecycleConfig, taken as it is
    row = api.stats("data.json", ["student.model=models/tiny"])

Each function goes the way `recycle COMMAND` goes (recycle.commands.entry.call: the config, the
command's pre-flight before Ray, the run log OUTPUT/logs/recycle.log, the command) and returns
what the command made: its manifest (the training result for `train`, the Table 6 row for
`stats`, the report's path for `report`). Where the command line exits with a code, these raise
the typed error instead: ConfigError, InputError, PreflightError (exit 2), TeacherOutageError
(exit 4), KeyboardInterrupt (130). Samples left for a rerun (exit 3) are in the returned
manifest, under counts.retry (`left_for_rerun(manifest)` says how many).

`config` is a YAML path (with `overrides` applied), a RecycleConfig (taken as it is; it is
copied, never changed), or None (the defaults, then `overrides`). `preflight=False` skips the
checks here and in every run the command starts; `quiet=True` keeps Ray's lines in the run log.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recycle.cli.main import face
from recycle.commands.entry import Settings, call
from recycle.config import RecycleConfig
from recycle.errors import ConfigError

Config = str | Path | RecycleConfig | None


def command(
    name: str,
    /,
    config: Config = None,
    overrides: Sequence[str] = (),
    preflight: bool = True,
    quiet: bool | None = None,
    **options: Any,
) -> Any:
    """Run the command `name` (as `recycle NAME` names it) with its `options`; returns its result.

    Raises:
        ConfigError: overrides given with a RecycleConfig, or a bad config; and whatever the
            command raises (typed: recycle.errors, recycle.teacher.errors).
    """
    cfg = config if isinstance(config, RecycleConfig) else None
    if cfg is not None and overrides:
        raise ConfigError(
            "overrides apply to a YAML file or the defaults; change the config object"
        )
    words = [str(config)] if isinstance(config, str | Path) else []
    given = {"settings": [*words, *overrides], "input": None, "output": None}
    args = argparse.Namespace(**(given | options), no_preflight=not preflight)
    return call(face(name), args, Settings(preflight=preflight, quiet=quiet), cfg)[1]


def validate(config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> dict[str, Any]:
    """`recycle validate`: the manifest of the validated run directory."""
    return command("validate", config, overrides, **kw)


def reflect(kind: str, config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> dict:
    """`recycle reflect instruction|response`: the manifest."""
    return command("reflect", config, overrides, kind=kind, **kw)


def score(config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> dict[str, Any]:
    """`recycle score`: the manifest (its "scores" section)."""
    return command("score", config, overrides, **kw)


def stats(
    dataset: str, overrides: Sequence[str] = (), output: str | None = None, **kw: Any
) -> dict[str, Any]:
    """`recycle stats DATASET`: the Table 6 row (written to `output` when given)."""
    return command("stats", None, overrides, dataset=dataset, stats_output=output, **kw)


def agree(run_a: str, run_b: str, top: Sequence[float] | None = None, **kw: Any) -> dict[str, Any]:
    """`recycle agree RUN_A RUN_B`: Spearman's rho of IFD and r-IFD, and the overlaps of the top
    k% (default 5, 10, 15) and kept sets of two scored runs on the rows they share."""
    return command("agree", run_a=run_a, run_b=run_b, top=top, **kw).as_dict()


def select(config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> dict[str, Any]:
    """`recycle select`: the manifest of the re-selected run directory."""
    return command("select", config, overrides, **kw)


def run(config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> dict[str, Any]:
    """`recycle run`: the pipeline's manifest."""
    return command("run", config, overrides, **kw)


def end_to_end(
    config: Config = None, overrides: Sequence[str] = (), train: bool = True, **kw: Any
) -> dict[str, Any]:
    """`recycle end-to-end`: the run's manifest (with "train" and "verdict" when they ran)."""
    return command("end-to-end", config, overrides, skip_train=not train, **kw)


def train(config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> Any:
    """`recycle train`: the training result (checkpoint, metrics, model folder)."""
    return command("train", config, overrides, **kw)


def generate(
    model: str,
    output: str,
    config: Config = None,
    overrides: Sequence[str] = (),
    template: str | None = None,
    name: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """`recycle generate --model M --output DIR`: the generation's manifest."""
    options = {"model": model, "output": output, "template": template, "name": name}
    return command("generate", config, overrides, **options, **kw)


def judge(
    answers_a: str,
    answers_b: str,
    output: str,
    config: Config = None,
    overrides: Sequence[str] = (),
    **kw: Any,
) -> dict[str, Any]:
    """`recycle judge --answers-a A --answers-b B --output DIR`: the manifest, verdict included."""
    options = {"answers_a": answers_a, "answers_b": answers_b, "output": output}
    return command("judge", config, overrides, **options, **kw)


def evaluate(config: Config = None, overrides: Sequence[str] = (), **kw: Any) -> dict[str, Any]:
    """`recycle eval`: the evaluation's manifest, verdict last."""
    return command("eval", config, overrides, **kw)


def demo(
    output: str | None = None, overrides: Sequence[str] = (), train_seconds: float = 30.0, **kw: Any
) -> dict[str, Any]:
    """`recycle demo`: the offline demo's manifest."""
    return command("demo", None, overrides, output=output, train_seconds=train_seconds, **kw)


def report(run_dir: str) -> str:
    """`recycle report RUN_DIR`: the report's path."""
    return command("report", run_dir=run_dir)


def left_for_rerun(manifest: dict[str, Any]) -> int:
    """How many samples a finished call left for a rerun (the command line's exit 3 when > 0)."""
    return sum((manifest["counts"].get("retry") or {}).values())
