"""`recycle demo`: the README's first command, offline, end to end."""

import json

import pytest

from recycle.cli.main import main
from recycle.rundir import read_manifest

pytestmark = pytest.mark.integration


def test_demo_runs_offline_and_says_what_it_is(ray_local, tmp_path, capfd):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--train-seconds", "5"]) == 0
    captured = capfd.readouterr()  # file descriptors: native code and Ray's output count too
    printed = captured.out
    lines = (captured.out + captured.err).splitlines()
    print(f"recycle demo printed {len(lines)} lines")
    assert len(lines) <= 40, "\n".join(lines)
    assert "OFFLINE WIRING CHECK" in printed and "scripted" in printed
    assert f"report:   {out}/report/report.html" in printed
    assert (
        f"student:  {out}/demo_student/" in printed
        and f"log:      {out}/logs/recycle.log" in printed
    )
    assert "reflect+score: 120/120 samples" in captured.err  # the stage's last progress line
    assert "Ray Data" not in captured.err and "logging_progress" not in captured.err
    manifest = read_manifest(str(out))
    assert manifest["invariant"]["ok"] and manifest["counts"]["input"] == 120
    assert manifest["teacher"]["requests"] >= 2 * 120  # two prompts a sample, plus retried faults
    assert set(manifest["stats"]) == {"original", "final"}
    html = (out / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "Examples of every outcome" in html
    assert len(json.loads((out / "recycled_alpaca.json").read_text())) == manifest["counts"]["kept"]
