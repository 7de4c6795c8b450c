"""`recycle demo`: the whole pipeline offline in a few minutes, as a wiring check.

A scripted OpenAI-compatible teacher runs in this process on 127.0.0.1 (with injected faults), a
tiny student is built and trained for a few seconds on the bundled Alpaca sample, and the real
pipeline runs between them. The numbers it prints say nothing about data quality.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from recycle.config import RecycleConfig, load_config
from recycle.preflight import Preflight

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "alpaca_sample.json"
CONFIG = HERE / "demo.yaml"
DEMO_FAULTS = {"server_error": 0.04, "rate_limit": 0.04, "no_markers": 0.04}
BANNER = (
    "recycle demo: an OFFLINE WIRING CHECK. The teacher is a scripted server on 127.0.0.1 "
    "(with injected faults), the student a tiny model trained for seconds on {n} bundled Alpaca rows. "
    "The scores and choices below show the pipeline working, not what a real teacher and student would give."
)

log = logging.getLogger(__name__)


def build_student(out: Path, seconds: float) -> Path:
    """A tokenizer, a tiny Llama and a few seconds of training on the bundled sample, once."""
    from recycle.testing.tiny_student import build_tiny_model, build_tokenizer, train_model

    rows = json.loads(SAMPLE.read_text())
    texts = [t for r in rows for t in (r["instruction"], r["input"], r["output"])]
    tok = build_tokenizer(out, texts, vocab_size=1500)
    base = build_tiny_model(out, tok)
    return train_model(out, base, rows, steps=400, seconds=seconds, max_length=512)


def demo_config(output: str | None = None, overrides: list[str] | None = None) -> RecycleConfig:
    """The demo's config (recycle/demo/demo.yaml on the bundled sample), then `overrides`."""
    given = [f"data.input='{SAMPLE}'", *([f"output.dir='{output}'"] if output else [])]
    return load_config(CONFIG, [*given, *(overrides or ())])


def run_demo(
    cfg: RecycleConfig, train_seconds: float = 30.0, preflight: bool | Preflight = True
) -> dict[str, Any]:
    """Run the offline demo of `cfg` (`demo_config`); returns the run's manifest.

    The tiny student (unless student.model is set) and the teacher's address go into a copy of
    `cfg`; the pipeline runs under the `preflight` policy of the entry that started the demo.
    """
    from recycle.commands.pipeline import run_pipeline
    from recycle.testing.local_server import LocalTeacherServer

    print(BANNER.format(n=len(json.loads(SAMPLE.read_text()))), flush=True)
    student = cfg.student
    if not student.model:
        student_dir = Path(cfg.output.dir) / "demo_student"
        print(f"building and training the tiny student in {student_dir} ...", flush=True)
        model = str(build_student(student_dir, train_seconds))
        student = student.model_copy(update={"model": model})
    with LocalTeacherServer(faults=DEMO_FAULTS, seed=0, retry_after_s=0.1) as server:
        teacher = cfg.teacher.model_copy(update={"base_url": server.base_url})
        demo = cfg.model_copy(update={"student": student, "teacher": teacher})
        manifest = run_pipeline(demo, preflight=preflight)
        manifest["demo_teacher_requests"] = server.stats.requests
    return manifest
