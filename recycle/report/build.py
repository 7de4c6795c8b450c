"""`recycle report RUN_DIR`: one self-contained HTML file, PNGs and a markdown summary of a run.

Everything comes from the run directory (manifest.json and the outcome tables), so a report can be
rebuilt at any time, on any machine that can read the run directory. The rows are read one part
file at a time into what the report shows (`tally.py`): the driver's memory does not grow with
them. The words it uses are in `wording.py`, the page's pieces in `html.py`, the plots in
`figures.py`.
"""

from __future__ import annotations

import itertools
import logging
import posixpath
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recycle import columns as C
from recycle.errors import InputError
from recycle.report import figures
from recycle.report import html as report_html
from recycle.report.examples import CHANGED, changed, conversation_example, pick_examples
from recycle.report.tally import SCORED, ReportTally, outcome_split, tally_run
from recycle.report.wording import reason_text
from recycle.rundir import (
    CONVERSATION_PARTS,
    MANIFEST,
    outcome_files,
    read_manifest,
    read_outcome,
    read_part,
)
from recycle.storage import file_exists, filesystem
from recycle.student.drift import drift_warning

log = logging.getLogger(__name__)

REPORT_DIR = "report"
TEACHER_KEYS = (
    ("requests", "requests sent"),
    ("retries", "retries (429, 5xx, timeouts)"),
    ("parse_retries", "new requests for an unparseable answer"),
    ("cache_hits", "answers from the cache (not paid again)"),
    ("prompt_tokens", "prompt tokens"),
    ("completion_tokens", "completion tokens"),
    ("cost_usd", "cost (USD)"),
)


def load_rows(run_dir: str) -> pd.DataFrame:
    """Kept and dropped rows (the scored ones), every column, with their outcome: for a notebook
    exploring a run. The report itself reads the part files one at a time (`tally_run`)."""
    parts = [read_outcome(run_dir, o) for o in SCORED]
    frames = [p.to_pandas() for p in parts if p is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({C.OUTCOME: []})


def load_examples(run_dir: str, chosen: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The examples of every outcome: the whole rows of the chosen sample ids, read from the part
    files that hold them ({part file: sample ids}, `ExampleChooser.chosen`), in that order."""
    fs, _ = filesystem(run_dir)
    frames = []
    for path, ids in chosen.items():
        table = read_part(fs, path)
        table = table.filter(pc.is_in(table[C.SAMPLE_ID], pa.array(ids, pa.string())))
        frames.append(table.append_column(CHANGED, changed(table)).to_pandas())
    return pick_examples(frames)


def load_conversation(run_dir: str) -> dict[str, Any] | None:
    """The reflected conversation the report shows turn by turn: a kept one with the most turns
    rewritten (else a dropped one; ties: the highest sample id, the first found), from the
    reassembled conversations' part files only, read whole for the one shown."""
    fs, _ = filesystem(run_dir)
    for outcome in SCORED:
        best: tuple[tuple[int, str], str, int] | None = None  # (key, part file, row)
        for path in outcome_files(run_dir, outcome, CONVERSATION_PARTS):
            keys = read_part(fs, path, [C.SAMPLE_ID, C.TURNS_REWRITTEN], missing_ok=True)
            turns = (
                keys[C.TURNS_REWRITTEN].to_pylist()
                if C.TURNS_REWRITTEN in keys.column_names
                else None
            )
            for i, sample_id in enumerate(keys[C.SAMPLE_ID].to_pylist()):
                key = ((turns[i] if turns else None) or 0, sample_id)
                if best is None or key > best[0]:
                    best = (key, path, i)
        if best is not None:
            return conversation_example(read_part(fs, best[1]).slice(best[2], 1).to_pylist()[0])
    return None


def outcome_counts(rows: pd.DataFrame) -> dict[str, int]:
    """The paper's pie of a frame of rows (`load_rows`): samples per (rewritten instruction
    taken?, rewritten response taken?), split as the report splits its part files."""
    if C.INSTRUCTION_REFLECTED not in rows or C.RESPONSE_REFLECTED not in rows:
        return {}
    ins = rows[C.INSTRUCTION_REFLECTED].fillna(False).astype(bool).to_numpy()
    return outcome_split(ins, rows[C.RESPONSE_REFLECTED].fillna(False).astype(bool).to_numpy())


def make_figures(tally: ReportTally, out: Path) -> dict[str, str]:
    """Draw every plot the data allows; returns {figure name: file name}."""
    made = {"outcomes": figures.outcome_pie(tally.outcome_counts(), out / "outcomes.png")}
    for name, label, better in (("ifd", "IFD", "higher"), ("rifd", "r-IFD", "lower")):
        if name in tally.histograms:
            before, after = tally.histograms[name]
            path = out / f"{name}_hist.png"
            made[name] = figures.before_after_hist(before, after, label, path, better)
    if tally.scatter is not None:
        made["scatter"] = figures.ifd_rifd_scatter(tally.scatter, out / "ifd_rifd_scatter.png")
    return {k: v for k, v in made.items() if v}


def template_drift(manifest: dict[str, Any], tally: ReportTally) -> str:
    """The template-drift warning of a run (student/drift.py), "" when its IFD values look sane.

    Reads the IFD of the original pairs (before any rewrite), else the final IFD.
    """
    student = (manifest.get("config") or {}).get("student") or {}
    above, n = tally.ifd_above_one()
    # drift_warning reads values: these stand for the run's (as many, as many above 1), made one
    # at a time. Its list of them is transient, 8 bytes a value; a counts-taking entry in
    # student/drift.py would spare it.
    values = itertools.chain(itertools.repeat(2.0, above), itertools.repeat(0.0, n - above))
    return drift_warning(values, student.get("template") or "vicuna")


def report_title(manifest: dict[str, Any]) -> str:
    """`recycle run: NAME`, NAME being the run directory's last part."""
    run_dir = ((manifest.get("config") or {}).get("output") or {}).get("dir") or ""
    name = posixpath.basename(run_dir.rstrip("/")) or "run"
    return f"recycle {manifest.get('command', 'run')}: {name}"


def summary_markdown(manifest: dict[str, Any], tally: ReportTally) -> str:
    """The markdown summary: warnings, counts, rewrites, Table 6 statistics, teacher usage."""
    counts = manifest.get("counts", {})
    lines = [f"# {report_title(manifest)}", ""]
    drift = template_drift(manifest, tally)
    if drift:
        lines += ["## Warnings", "", f"- {drift}", ""]
    lines += ["## Counts", ""]
    lines += [f"- input: {counts.get('input', 0)}", f"- kept: {counts.get('kept', 0)}"]
    for kind in ("dropped", "rejected"):
        for reason, n in (counts.get(kind) or {}).items():
            lines.append(f"- {kind} / {reason}: {n} ({reason_text(reason)})")
    for reason, n in (counts.get("retry") or {}).items():
        lines.append(f"- left for a rerun / {reason}: {n} ({reason_text(reason)})")
    if counts.get("pending"):
        lines.append(
            f"- left for a rerun / not reached before the run stopped: {counts['pending']}"
        )
    ok = (manifest.get("invariant") or {}).get("ok")
    lines += [
        f"- invariant input = kept + dropped + rejected + left for a rerun: {'ok' if ok else 'BROKEN'}",
        "",
    ]
    rewrites = tally.rewrite_counts()
    if rewrites:
        lines += [
            "## Rewrites (reflected: the teacher's answer parsed; taken: the student chose it)",
            "",
        ]
        lines += [
            f"- {s}: {n} scored, {r} reflected, {nr} not reflected, {t} taken"
            for s, n, r, nr, t in rewrites
        ]
        lines.append("")
    pie = tally.outcome_counts()
    if pie:
        lines += ["## Rewrites the student took", "", *(f"- {k}: {v}" for k, v in pie.items()), ""]
    lines += _stats_markdown(manifest.get("stats") or {})
    teacher = manifest.get("teacher") or {}
    if teacher:
        lines += ["## Teacher", ""]
        lines += [
            f"- {label}: {report_html.fmt(teacher[k])}" for k, label in TEACHER_KEYS if k in teacher
        ]
        lines.append("")
    return "\n".join(lines) + "\n"


def _stats_markdown(stats: dict[str, Any]) -> list[str]:
    if "skipped" in stats:
        return ["## Data statistics (Table 6)", "", f"not computed: {stats['skipped']}", ""]
    rows = {k: v for k, v in stats.items() if isinstance(v, dict) and "skipped" not in v}
    if not rows:
        return []
    keys = list(next(iter(rows.values())).keys())
    out = ["## Data statistics (Table 6)", "", "| data | " + " | ".join(keys) + " |"]
    out.append("|---" * (len(keys) + 1) + "|")
    out += [
        f"| {n} | " + " | ".join(report_html.fmt(r.get(k)) for k in keys) + " |"
        for n, r in rows.items()
    ]
    return [*out, ""]


def render_page(
    manifest: dict[str, Any],
    tally: ReportTally,
    figs: dict[str, str],
    out: Path,
    exs: list,
    conversation: dict[str, Any] | None = None,
) -> str:
    """The HTML report: header, counts, rewrites, plots, Table 6, teacher, examples."""
    cfg = manifest.get("config") or {}
    teacher, student = cfg.get("teacher") or {}, cfg.get("student") or {}
    facts = [
        ("mode", manifest.get("mode") or (cfg.get("selection") or {}).get("mode", "")),
        ("teacher", f"{teacher.get('model', '')} at {teacher.get('base_url') or 'OpenAI'}"),
        ("student", student.get("model") or "none"),
        ("created", manifest.get("created_at", "")),
    ]
    links = [("manifest.json", "../manifest.json"), ("summary.md", "summary.md")]
    if (manifest.get("outputs") or {}).get("alpaca_json"):
        links.insert(1, ("dataset (Alpaca JSON)", "../recycled_alpaca.json"))
    ok = (manifest.get("invariant") or {}).get("ok")
    sections = [
        ("What happened to each sample", report_html.glossary() + report_html.counts_table(manifest.get("counts", {}))
         + f"<p>Every input sample is counted once: {'the counts add up' if ok else 'THE COUNTS DO NOT ADD UP'}.</p>"),
    ]  # fmt: skip
    drift = template_drift(manifest, tally)
    if drift:
        sections.insert(0, ("Warning: template drift", f"<p><b>{report_html.esc(drift)}</b></p>"))
    rewrites = tally.rewrite_counts()
    if rewrites:
        header = [
            "rewrite",
            "samples scored",
            "reflected",
            "not reflected (original text used)",
            "taken by the student",
        ]
        sections.append(
            ("Teacher rewrites and student choices", report_html.table(header, rewrites))
        )
    if figs:
        body = "".join(report_html.figure(name, out / f) for name, f in figs.items())
        sections.append(("Plots", f"<div class='figures'>{body}</div>"))
    sections.append(
        ("Data statistics (the papers' Table 6)", report_html.table6(manifest.get("stats") or {}))
    )
    t = manifest.get("teacher") or {}
    if t:
        usage = [[label, t[k]] for k, label in TEACHER_KEYS if k in t]
        sections.append(("Teacher usage", report_html.table(["", "total"], usage)))
    if manifest.get("conversations"):
        counted = [[k.replace("_", " "), v] for k, v in manifest["conversations"].items()]
        sections.append(("Conversations and turns", report_html.table(["", "n"], counted)))
    if conversation is not None:
        sections.append(
            ("A reflected conversation, turn by turn", report_html.example(conversation))
        )
    sections.append(
        (
            "Examples of every outcome",
            "".join(report_html.example(e) for e in exs) or "<p>No rows.</p>",
        )
    )
    title = report_title(manifest)
    return report_html.page(title, sections, report_html.header(title, facts, links))


def write_report(run_dir: str) -> str:
    """Write RUN_DIR/report/{report.html, summary.md, *.png}; returns the HTML file's URI."""
    if not file_exists(posixpath.join(run_dir, MANIFEST)):
        raise InputError(f"{run_dir!r} has no {MANIFEST}; pass the output.dir of a finished run")
    manifest = read_manifest(run_dir)
    tally = tally_run(run_dir)
    exs = load_examples(run_dir, tally.examples)
    drift = template_drift(manifest, tally)
    if drift:
        log.warning("%s (report of %s)", drift, run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        figs = make_figures(tally, out) if tally.rows else {}
        (out / "summary.md").write_text(summary_markdown(manifest, tally))
        conversation = load_conversation(run_dir)
        (out / "report.html").write_text(render_page(manifest, tally, figs, out, exs, conversation))
        return _upload(out, run_dir)


def _upload(local: Path, run_dir: str) -> str:
    fs, root = filesystem(run_dir)
    target = posixpath.join(root, REPORT_DIR)
    fs.create_dir(target, recursive=True)
    for f in local.iterdir():
        with fs.open_output_stream(posixpath.join(target, f.name)) as dst:
            dst.write(f.read_bytes())
    return posixpath.join(run_dir.rstrip("/"), REPORT_DIR, "report.html")
