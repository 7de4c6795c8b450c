"""`recycle report RUN_DIR`: one self-contained HTML file, PNGs and a markdown summary of a run.

Everything comes from the run directory (manifest.json and the outcome tables), so a report can be
rebuilt at any time, on any machine that can read the run directory. The words it uses are in
`wording.py`, the page's pieces in `html.py`, the plots in `figures.py`.
"""

from __future__ import annotations

import logging
import posixpath
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from recycle import columns as C
from recycle.errors import InputError
from recycle.report import figures
from recycle.report import html as report_html
from recycle.report.examples import (
    CHANGE_COLUMNS,
    CHANGED,
    changed,
    conversation_example,
    example_ids,
    pick_examples,
)
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
SCORED = (C.OUTCOME_KEPT, C.OUTCOME_DROPPED)
TEACHER_KEYS = (
    ("requests", "requests sent"),
    ("retries", "retries (429, 5xx, timeouts)"),
    ("parse_retries", "new requests for an unparseable answer"),
    ("cache_hits", "answers from the cache (not paid again)"),
    ("prompt_tokens", "prompt tokens"),
    ("completion_tokens", "completion tokens"),
    ("cost_usd", "cost (USD)"),
)


# The columns the report reads of every row; the texts are read only to tell whether a row changed,
# and in whole only for the examples shown (a 52k-row run's texts stay on disk).
LIGHT_COLUMNS = (
    C.SAMPLE_ID, C.OUTCOME, C.REASON, C.INSTRUCTION_REFLECTED, C.RESPONSE_REFLECTED,
    C.REFLECT_INSTRUCTION_STATUS, C.REFLECT_RESPONSE_STATUS, C.FINAL_IFD, C.FINAL_RIFD,
    C.scored(C.ORIG, C.IFD), C.scored(C.ORIG, C.RIFD), C.scored(C.PAIR1, C.RIFD),
)  # fmt: skip


def _light_file(fs: pafs.FileSystem, path: str) -> pd.DataFrame:
    table = read_part(fs, path, [*LIGHT_COLUMNS, *CHANGE_COLUMNS], missing_ok=True)
    light = table.select([c for c in LIGHT_COLUMNS if c in table.column_names])
    return light.append_column(CHANGED, changed(table)).to_pandas()


def load_rows(run_dir: str) -> pd.DataFrame:
    """Kept and dropped rows (the scored ones), every column, with their outcome: for a notebook
    exploring a run. The report itself reads `load_light_rows`."""
    parts = [read_outcome(run_dir, o) for o in SCORED]
    frames = [p.to_pandas() for p in parts if p is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({C.OUTCOME: []})


def load_light_rows(run_dir: str, outcomes: tuple[str, ...] = SCORED) -> pd.DataFrame:
    """The light columns of every row of `outcomes` (the scored ones: kept and dropped), and
    whether its text changed."""
    fs, _ = filesystem(run_dir)
    frames = [_light_file(fs, p) for o in outcomes for p in outcome_files(run_dir, o)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({C.OUTCOME: []})


def load_examples(run_dir: str, light: pd.DataFrame) -> list[dict[str, Any]]:
    """The examples of every outcome, their whole rows read for the chosen sample ids only."""
    if not len(light):
        return []
    ids = pa.array(example_ids(light), pa.string())
    fs, _ = filesystem(run_dir)
    frames = []
    for outcome in (*SCORED, C.OUTCOME_REJECTED):
        for path in outcome_files(run_dir, outcome):
            here = read_part(fs, path, [C.SAMPLE_ID])[C.SAMPLE_ID]
            if not pc.any(pc.is_in(here, ids)).as_py():
                continue  # only the few files holding an example are read whole
            table = read_part(fs, path)
            table = table.filter(pc.is_in(table[C.SAMPLE_ID], ids))
            frames.append(table.append_column(CHANGED, changed(table)).to_pandas())
    return pick_examples(frames)


def load_conversation(run_dir: str) -> dict[str, Any] | None:
    """The reflected conversation the report shows turn by turn: a kept one with the most turns
    rewritten (else a dropped one), from the reassembled conversations' part files only."""
    fs, _ = filesystem(run_dir)
    for outcome in SCORED:
        tables = [read_part(fs, p) for p in outcome_files(run_dir, outcome, CONVERSATION_PARTS)]
        rows = [r for t in tables for r in t.to_pylist()]
        if rows:
            best = max(rows, key=lambda r: (r.get(C.TURNS_REWRITTEN) or 0, r[C.SAMPLE_ID]))
            return conversation_example(best)
    return None


def outcome_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Samples per (rewritten instruction taken?, rewritten response taken?): the paper's pie."""
    if C.INSTRUCTION_REFLECTED not in rows or C.RESPONSE_REFLECTED not in rows:
        return {}
    ins = rows[C.INSTRUCTION_REFLECTED].fillna(False).astype(bool)
    res = rows[C.RESPONSE_REFLECTED].fillna(False).astype(bool)
    labels = figures.OUTCOME_LABELS
    return {
        labels[0]: int((ins & res).sum()),
        labels[1]: int((ins & ~res).sum()),
        labels[2]: int((~ins & res).sum()),
        labels[3]: int((~ins & ~res).sum()),
    }


def rewrite_counts(rows: pd.DataFrame) -> list[list[Any]]:
    """Per step: samples scored, rewrites reflected (parsed), not reflected, taken by the student."""
    out = []
    steps = (
        ("instruction (step 2)", C.REFLECT_INSTRUCTION_STATUS, C.INSTRUCTION_REFLECTED),
        ("response (step 4)", C.REFLECT_RESPONSE_STATUS, C.RESPONSE_REFLECTED),
    )
    for step, status_col, taken_col in steps:
        if status_col not in rows or rows[status_col].isna().all():
            continue
        reflected = int((rows[status_col] == "ok").sum())
        taken = int(rows[taken_col].fillna(False).astype(bool).sum()) if taken_col in rows else 0
        out.append([step, len(rows), reflected, len(rows) - reflected, taken])
    return out


def _column(rows: pd.DataFrame, name: str, mask: np.ndarray | None = None) -> np.ndarray:
    if name not in rows:
        return np.array([], dtype=float)
    values = rows[name].astype(float).to_numpy()
    return values if mask is None else values[mask]


def make_figures(rows: pd.DataFrame, out: Path) -> dict[str, str]:
    """Draw every plot the data allows; returns {figure name: file name}."""
    kept = C.kept_mask(rows[C.OUTCOME])
    orig_rifd = C.scored(C.ORIG, C.RIFD)
    before_rifd = orig_rifd if orig_rifd in rows else C.scored(C.PAIR1, C.RIFD)
    reasons = (
        rows[C.REASON].fillna("").to_numpy() if C.REASON in rows else np.array([""] * len(rows))
    )
    ifd, rifd = _column(rows, C.scored(C.ORIG, C.IFD)), _column(rows, before_rifd)
    made = {
        "outcomes": figures.outcome_pie(outcome_counts(rows), out / "outcomes.png"),
        "ifd": figures.before_after_hist(
            ifd, _column(rows, C.FINAL_IFD, kept), "IFD", out / "ifd_hist.png", "higher"
        ),
        "rifd": figures.before_after_hist(
            rifd, _column(rows, C.FINAL_RIFD, kept), "r-IFD", out / "rifd_hist.png", "lower"
        ),
        "scatter": figures.ifd_rifd_scatter(
            _column(rows, C.FINAL_IFD),
            _column(rows, C.FINAL_RIFD),
            reasons,
            out / "ifd_rifd_scatter.png",
        ),  # fmt: skip
    }
    return {k: v for k, v in made.items() if v}


def template_drift(manifest: dict[str, Any], rows: pd.DataFrame) -> str:
    """The template-drift warning of a run (student/drift.py), "" when its IFD values look sane.

    Reads the IFD of the original pairs (before any rewrite), else the final IFD.
    """
    column = C.scored(C.ORIG, C.IFD) if C.scored(C.ORIG, C.IFD) in rows else C.FINAL_IFD
    student = (manifest.get("config") or {}).get("student") or {}
    return drift_warning(_column(rows, column), student.get("template") or "vicuna")


def report_title(manifest: dict[str, Any]) -> str:
    """`recycle run: NAME`, NAME being the run directory's last part."""
    run_dir = ((manifest.get("config") or {}).get("output") or {}).get("dir") or ""
    name = posixpath.basename(run_dir.rstrip("/")) or "run"
    return f"recycle {manifest.get('command', 'run')}: {name}"


def summary_markdown(manifest: dict[str, Any], rows: pd.DataFrame) -> str:
    """The markdown summary: warnings, counts, rewrites, Table 6 statistics, teacher usage."""
    counts = manifest.get("counts", {})
    lines = [f"# {report_title(manifest)}", ""]
    drift = template_drift(manifest, rows)
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
    rewrites = rewrite_counts(rows)
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
    pie = outcome_counts(rows)
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
    rows: pd.DataFrame,
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
    drift = template_drift(manifest, rows)
    if drift:
        sections.insert(0, ("Warning: template drift", f"<p><b>{report_html.esc(drift)}</b></p>"))
    rewrites = rewrite_counts(rows)
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
    fs, root = filesystem(run_dir)
    rows = load_light_rows(run_dir)
    rejects = load_light_rows(run_dir, (C.OUTCOME_REJECTED,))
    exs = load_examples(run_dir, pd.concat([rows, rejects]))
    drift = template_drift(manifest, rows)
    if drift:
        log.warning("%s (report of %s)", drift, run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        figs = make_figures(rows, out) if len(rows) else {}
        (out / "summary.md").write_text(summary_markdown(manifest, rows))
        conversation = load_conversation(run_dir)
        (out / "report.html").write_text(render_page(manifest, rows, figs, out, exs, conversation))
        return _upload(out, run_dir)


def _upload(local: Path, run_dir: str) -> str:
    fs, root = filesystem(run_dir)
    target = posixpath.join(root, REPORT_DIR)
    fs.create_dir(target, recursive=True)
    for f in local.iterdir():
        with fs.open_output_stream(posixpath.join(target, f.name)) as dst:
            dst.write(f.read_bytes())
    return posixpath.join(run_dir.rstrip("/"), REPORT_DIR, "report.html")
