"""A manifest that adds up across invocations, and the exit code of a run with samples left."""

from __future__ import annotations

import argparse
import json

from recycle import exit_codes
from recycle.cli.pipeline import left_for_rerun, resume_command
from recycle.pipeline.resume import add_up, invocation, previous_invocations, prior_cost_usd
from recycle.rundir import write_manifest


def test_teacher_totals_add_up_over_invocations(tmp_path):
    first = {"requests": 10, "cost_usd": 0.5, "errors": {"connection": 4}, "budget_exhausted": True}
    second = {"requests": 3, "cost_usd": 0.25, "errors": {"connection": 1, "timeout": 2}}
    summary = {"model": "m", "base_url": "http://h:1/v1", **second, "max_cost_usd": 1.0}
    history = [invocation("stopped", 0.0, first), invocation("finished", 0.0, summary)]
    total = add_up(summary, history)
    assert total["requests"] == 13 and total["cost_usd"] == 0.75 and total["invocations"] == 2
    assert total["errors"] == {"connection": 5, "timeout": 2}
    assert total["max_cost_usd"] == 1.0 and total["model"] == "m"  # settings are not summed
    assert "model" not in history[1]["teacher"] and prior_cost_usd(history) == 0.75

    write_manifest(str(tmp_path), {"invocations": history, "teacher": total})
    assert previous_invocations(str(tmp_path)) == json.loads(json.dumps(history))
    assert previous_invocations(str(tmp_path / "fresh")) == []


def test_a_run_with_samples_left_exits_incomplete_and_says_how_to_resume(capsys):
    args = argparse.Namespace(
        settings=["cfg.yaml", "teacher.model=x y"], input=None, output="runs/a"
    )
    command = resume_command(args)
    assert command == "recycle run cfg.yaml 'teacher.model=x y' --output runs/a"
    manifest = {"counts": {"retry": {"teacher_unavailable": 2, "budget": 1}}}
    assert left_for_rerun(manifest, command) == exit_codes.INCOMPLETE == 3
    err = capsys.readouterr().err
    assert "3 samples were left for a rerun" in err and command in err and "max_cost_usd" in err
    assert left_for_rerun({"counts": {"kept": 1}}, command) == exit_codes.OK


def test_progress_line_names_an_outage_and_its_limit():
    from recycle.pipeline.progress import outage_note

    assert outage_note({"circuit": "closed", "outage_s": 0.0, "max_outage_s": 600.0}) == ""
    note = outage_note({"circuit": "open", "outage_s": 46.4, "max_outage_s": 600.0})
    assert note == "; teacher unreachable for 46 s, waiting (limit 600 s)"
