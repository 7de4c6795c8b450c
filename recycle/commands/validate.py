"""`recycle validate`: read and normalize, write kept rows, rejects and the manifest."""

from __future__ import annotations

from typing import Any

from recycle.commands import needs
from recycle.commands.runner import Command, execute
from recycle.config import RecycleConfig
from recycle.preflight import Preflight

VALIDATE = Command(name="validate", timings=("read", "write"), preflight=needs.VALIDATE)


def run_validate(cfg: RecycleConfig, preflight: bool | Preflight = True) -> dict[str, Any]:
    """Validate `cfg.data.input` into the run directory `cfg.output.dir`; returns the manifest.

    Raises:
        InputError: the input cannot be read at all, or rows were lost (invariant broken).
    """
    return execute(VALIDATE, cfg, preflight)
