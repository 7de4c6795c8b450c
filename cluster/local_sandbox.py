"""An offline sandbox to try the cluster path on one machine (README, "Running on a cluster").

Builds the tiny student that jobs/configs/small_local.yaml points at (runs/sandbox/student) once
(later calls reuse it; --rebuild builds it again), and serves the scripted OpenAI-compatible
teacher on 127.0.0.1:8000 until Ctrl-C. Neither is a real model: a job run against them checks
the wiring, not the data.

    python cluster/local_sandbox.py --build-only     # the student (about 30 s), then exit
    python cluster/local_sandbox.py &                # the teacher (the student is already there)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recycle.demo.offline import SAMPLE
from recycle.testing import tiny_student
from recycle.testing.local_server import LocalTeacherServer


def build_student(root: Path, seconds: float) -> Path:
    """A tokenizer and a tiny Llama trained for `seconds` on the bundled sample, at root/student."""
    rows = json.loads(SAMPLE.read_text())
    texts = [t for r in rows for t in (r["instruction"], r["input"], r["output"])]
    tok = tiny_student.build_tokenizer(root, texts, vocab_size=1500)
    base = tiny_student.build_tiny_model(root, tok)
    return tiny_student.train_model(
        root, base, rows, steps=400, seconds=seconds, max_length=512, name="student"
    )


def existing_student(root: Path) -> Path | None:
    """The student an earlier --build-only left at root/student, if it is complete."""
    student = root / "student"
    complete = (student / "config.json").is_file() and any(student.glob("*.safetensors"))
    return student if complete else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/sandbox", help="where the student is written")
    parser.add_argument("--port", type=int, default=8000, help="teacher port on 127.0.0.1")
    parser.add_argument("--train-seconds", type=float, default=20.0)
    parser.add_argument(
        "--build-only", action="store_true", help="build the student, serve nothing"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build the student again even if one is there"
    )
    args = parser.parse_args()
    root = Path(args.root).resolve()
    student = None if args.rebuild else existing_student(root)
    if student is None:
        student = build_student(root, args.train_seconds)
        print(f"student: {student}", flush=True)
    else:
        print(f"student: {student} (built earlier; --rebuild builds it again)", flush=True)
    if args.build_only:
        return
    with LocalTeacherServer(port=args.port) as server:
        print(f"teacher: {server.base_url} (model {server.model}); Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped")


if __name__ == "__main__":
    main()
