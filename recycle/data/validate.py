"""The validate stage as a whole run: read, normalize, write kept rows, rejects and the manifest."""

from __future__ import annotations

import logging
import time
from typing import Any

from recycle.config import RecycleConfig, redacted
from recycle.data.read import read_samples
from recycle.errors import InputError
from recycle.ray_utils import init_ray
from recycle.rundir import (
    build_manifest,
    clear_outcomes,
    count_outcomes,
    write_manifest,
    write_outcomes,
)

log = logging.getLogger(__name__)


def run_validate(cfg: RecycleConfig) -> dict[str, Any]:
    """Validate `cfg.data.input` into the run directory `cfg.output.dir`; returns the manifest.

    Raises:
        InputError: the input cannot be read at all, or rows were lost (invariant broken).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    init_ray(cfg.ray)
    samples, n_input = read_samples(cfg.data, cfg.ray.block_rows)
    timings["read"] = time.perf_counter() - t0
    clear_outcomes(cfg.output.dir)
    t1 = time.perf_counter()
    write_outcomes(samples, cfg.output.dir)
    timings["write"] = time.perf_counter() - t1
    manifest = build_manifest(
        "validate", n_input, count_outcomes(cfg.output.dir), redacted(cfg), timings
    )
    uri = write_manifest(cfg.output.dir, manifest)
    log.info("manifest: %s", uri)
    if not manifest["invariant"]["ok"]:
        raise InputError(f"rows were lost: {manifest['invariant']}; see {uri}")
    return manifest
