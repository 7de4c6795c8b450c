"""The report of a run directory holding every outcome: its content, and how it renders in a real
browser (headless Chromium, Debian's `chromium` package; the test skips without it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.report import write_report
from recycle.report.html import word_diff
from recycle.rundir import build_manifest, count_outcomes, write_manifest, write_outcome_batch

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _scored(i: int, outcome: str, reason: str, ins: bool, res: bool, rng) -> dict:
    x, y = f"Name {i} colours of the rainbow.", f"Red, orange and yellow are three of them ({i})."
    ifd, rifd = rng.uniform(0.8, 1.1, 2)
    return {
        C.SAMPLE_ID: f"{i:024x}",
        C.OUTCOME: outcome,
        C.REASON: reason,
        C.DETAIL: "",
        C.INSTRUCTION: x,
        C.INPUT: "",
        C.OUTPUT: y,
        C.FINAL_INSTRUCTION: f"List all seven colours of the rainbow, in order ({i})."
        if ins
        else x,
        C.FINAL_INPUT: "",
        C.FINAL_OUTPUT: y + " The others are green, blue, indigo and violet." if res else y,
        C.scored(C.ORIG, C.IFD): float(rng.uniform(0.8, 1.1)),
        C.scored(C.ORIG, C.RIFD): float(rng.uniform(0.8, 1.1)),
        C.FINAL_IFD: float(ifd),
        C.FINAL_RIFD: float(rifd),
        C.INSTRUCTION_REFLECTED: ins,
        C.RESPONSE_REFLECTED: res,
        C.REFLECT_INSTRUCTION_STATUS: "ok",
        C.REFLECT_RESPONSE_STATUS: "ok" if i % 5 else "no_markers",
    }


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """40 scored samples (kept and three drop reasons) and two kinds of rejects, with a manifest."""
    rng = np.random.default_rng(0)
    kinds = [
        ("kept", "", True, True),
        ("dropped", "response_not_reflected", True, False),
        ("dropped", "ifd_not_below_one", False, True),
        ("dropped", "rifd_not_below_one", True, True),
    ]
    rows = [_scored(i, *kinds[i % 4], rng) for i in range(40)]
    write_outcome_batch(pa.Table.from_pylist(rows), str(tmp_path))
    rejects = [
        {C.SAMPLE_ID: "r1", C.OUTCOME: "rejected", C.REASON: "teacher_unavailable",
         C.DETAIL: "HTTP 503 after 6 retries", C.INSTRUCTION: "Say hi.", C.INPUT: "", C.OUTPUT: "Hi."},
        {C.SAMPLE_ID: "r2", C.OUTCOME: "rejected", C.REASON: "duplicate", C.DETAIL: "same as row 3",
         C.RAW: '{"instruction": "Say hi.", "output": "Hi."}'},
    ]  # fmt: skip
    for row in rejects:  # one file each: a teacher reject and a validation reject differ in columns
        write_outcome_batch(pa.Table.from_pylist([row]), str(tmp_path), part_prefix="validate")
    config = {
        "output": {"dir": str(tmp_path)},
        "teacher": {"model": "gpt-4o-mini", "base_url": None},
        "student": {"model": "/models/llama-2-7b"},
        "selection": {"mode": "selective"},
    }
    stats = {
        name: {"samples": n, "ifd": 0.9, "rifd": 0.95, "coherence": 0.7}
        for name, n in (("original", 40), ("final", 10))
    }
    extra = {"mode": "selective", "stats": stats, "teacher": {"requests": 84, "cost_usd": 0.0123}}
    manifest = build_manifest("run", 42, count_outcomes(str(tmp_path)), config, {}, extra)
    manifest["outputs"]["alpaca_json"] = str(tmp_path / "recycled_alpaca.json")
    write_manifest(str(tmp_path), manifest)
    return tmp_path


def test_word_diff_marks_only_the_changed_words():
    left, right = word_diff("Name three colours.", "Name seven colours, in order.")
    assert left == "Name <del>three</del> colours."
    assert right == "Name <ins>seven</ins> colours<ins>, in order</ins>."


def test_report_says_what_ran_and_shows_every_outcome(run_dir: Path):
    html = Path(write_report(str(run_dir))).read_text()
    name = run_dir.name
    assert f"<title>recycle run: {name}</title>" in html
    assert "mode <b>selective</b>" in html and "gpt-4o-mini at OpenAI" in html
    assert "/models/llama-2-7b" in html and "href='../manifest.json'" in html
    # counts as a real table, every reason once, shares of the 42 inputs
    assert "<th>outcome</th><th>reason</th><th>what it means</th>" in html
    for reason, n in (("response_not_reflected", 10), ("teacher_unavailable", 1), ("duplicate", 1)):
        assert f"<td>{reason}</td>" in html and f"<td class='n'>{n}</td>" in html
    # a transient reject is not final: the report says a rerun retries it
    assert "<td>left for a rerun</td><td>teacher_unavailable</td>" in html
    assert "the counts add up" in html and "<th>r-IFD (mean)</th>" in html  # Table 6 as a table
    # wording: reflected (parsed) vs taken (chosen), per step: 40 scored, 32 responses parsed
    assert (
        "<td>response (step 4)</td><td class='n'>40</td><td class='n'>32</td><td class='n'>8</td>"
        in html
    )
    # one captioned figure per plot, each caption saying which way is good / what 1.0 is
    assert html.count("<figure>") == 4 and html.count("<figcaption>") == 4
    assert "Lower is better" in html and "dashed line is 1.0" in html
    # examples of every outcome, with highlighted changes
    for tag in (
        "kept",
        "did not take a rewritten response",
        "IFD &gt;= 1",
        "r-IFD &gt;= 1",
        "did not answer",
        "appeared earlier",
    ):
        assert tag in html, tag
    assert "<ins>" in html and "raw row" in html and "HTTP 503 after 6 retries" in html


@pytest.mark.integration  # a browser
def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path_factory):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip(
            "chromium is not installed (Debian: apt-get install -y chromium); .ci/run installs it"
        )
    report = Path(write_report(str(run_dir)))
    shots = Path(os.environ.get("RECYCLE_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    shot = shots / "report.png"
    profile = tmp_path_factory.mktemp("chromium-profile")
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400"]
    subprocess.run(
        [*cmd, f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    dom = subprocess.run(
        [*cmd, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    print(f"report screenshot: {shot}")
    assert "Examples of every outcome" in dom.stdout and dom.stdout.count("<img") == 4
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 20  # text, tables and plots drawn, not a blank page


def test_a_large_run_gives_a_light_report_with_exact_counts(tmp_path: Path):
    """5,000 rows in 20 part files (the caps a 52k-row run meets, at a size a unit test affords):
    the scatter draws a sample, examples stay two per outcome and reason, counts stay exact, and
    the report reads the whole rows of the examples' files only."""
    from recycle.report.tally import tally_run

    rng = np.random.default_rng(1)
    kinds = [("kept", "", True, True), ("dropped", "ifd_not_below_one", False, True)]
    rows = [_scored(i, *kinds[i % 2], rng) for i in range(5000)]
    for row in rows:
        row[C.OUTPUT] += " filler" * 300  # ~2 KB a response: 10 MB of text in the run
    for k in range(20):
        write_outcome_batch(pa.Table.from_pylist(rows[k::20]), str(tmp_path), f"part{k}")
    config = {"output": {"dir": str(tmp_path)}, "selection": {"mode": "selective"}}
    write_manifest(
        str(tmp_path), build_manifest("run", 5000, count_outcomes(str(tmp_path)), config, {})
    )
    tally = tally_run(str(tmp_path))
    assert tally.rows == 5000 and tally.scatter.total == 5000 and len(tally.scatter.ifd) == 3000
    assert len(tally.examples) == 2  # one kept and one dropped part file hold the examples
    html = Path(write_report(str(tmp_path))).read_text()
    assert len(html.encode()) < 1_500_000  # 10 MB of texts in, well under the 5 MB cap out
    assert "<td>kept</td>" in html and "<td class='n'>2500</td>" in html  # exact counts
    assert html.count("class='example'") == 4  # two per (outcome, reason)


def test_a_scatter_of_many_points_draws_a_seeded_sample_of_them():
    from recycle.report.figures import MAX_POINTS, drawn_positions

    drawn = drawn_positions(10_000)
    assert len(drawn) == MAX_POINTS == len(set(drawn)) and (np.diff(drawn) > 0).all()
    assert drawn[-1] < 10_000 and (drawn == drawn_positions(10_000)).all()  # same on a rebuild
    assert (drawn_positions(MAX_POINTS) == np.arange(MAX_POINTS)).all()  # under the cap: all
