"""`recycle report RUN_DIR`: one self-contained HTML file, PNGs and a markdown summary of a run.

Everything comes from the run directory (manifest.json and the outcome tables), so a report can be
rebuilt at any time, on any machine that can read the run directory.
"""

from __future__ import annotations

import base64
import html
import posixpath
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.fs as pafs

from recycle import columns as C
from recycle.data.sources import filesystem
from recycle.errors import InputError
from recycle.report import figures
from recycle.rundir import MANIFEST, read_manifest, read_outcome

REPORT_DIR = "report"
N_EXAMPLES = 6


def load_rows(run_dir: str) -> pd.DataFrame:
    """Kept and dropped rows (the scored ones), with their outcome."""
    parts = [read_outcome(run_dir, o) for o in (C.OUTCOME_KEPT, C.OUTCOME_DROPPED)]
    frames = [p.to_pandas() for p in parts if p is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({C.OUTCOME: []})


def outcome_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Samples per (instruction reflected?, response reflected?) outcome: the paper's pie."""
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


def _column(rows: pd.DataFrame, name: str, mask: np.ndarray | None = None) -> np.ndarray:
    if name not in rows:
        return np.array([], dtype=float)
    values = rows[name].astype(float).to_numpy()
    return values if mask is None else values[mask]


def make_figures(rows: pd.DataFrame, out: Path) -> dict[str, str]:
    """Draw every plot the data allows; returns {figure name: file name}."""
    kept = (rows[C.OUTCOME] == C.OUTCOME_KEPT).to_numpy()
    before_rifd = (
        C.scored(C.ORIG, C.RIFD) if C.scored(C.ORIG, C.RIFD) in rows else C.scored(C.PAIR1, C.RIFD)
    )
    made = {
        "outcomes": figures.outcome_pie(outcome_counts(rows), out / "outcomes.png"),
        "ifd": figures.before_after_hist(
            _column(rows, C.scored(C.ORIG, C.IFD)),
            _column(rows, C.FINAL_IFD, kept),
            "IFD",
            out / "ifd_hist.png",
        ),
        "rifd": figures.before_after_hist(
            _column(rows, before_rifd),
            _column(rows, C.FINAL_RIFD, kept),
            "r-IFD",
            out / "rifd_hist.png",
        ),
        "scatter": figures.ifd_rifd_scatter(
            _column(rows, C.FINAL_IFD),
            _column(rows, C.FINAL_RIFD),
            kept,
            out / "ifd_rifd_scatter.png",
        ),
    }
    return {k: v for k, v in made.items() if v}


def examples(rows: pd.DataFrame, n: int = N_EXAMPLES) -> list[dict[str, Any]]:
    """A few rewrites side by side, reflected ones first, with their scores."""
    if C.FINAL_OUTPUT not in rows:
        return []
    changed = rows[
        (rows[C.FINAL_OUTPUT] != rows[C.OUTPUT])
        | (rows[C.FINAL_INSTRUCTION] != rows[C.INSTRUCTION])
    ]
    pick = pd.concat([changed, rows]).drop_duplicates(C.SAMPLE_ID).head(n)
    cols = [
        C.SAMPLE_ID,
        C.OUTCOME,
        C.REASON,
        C.INSTRUCTION,
        C.INPUT,
        C.OUTPUT,
        C.FINAL_INSTRUCTION,
        C.FINAL_INPUT,
        C.FINAL_OUTPUT,
        C.scored(C.ORIG, C.IFD),
        C.FINAL_IFD,
        C.FINAL_RIFD,
        C.INSTRUCTION_REFLECTED,
        C.RESPONSE_REFLECTED,
    ]
    return pick[[c for c in cols if c in pick]].to_dict("records")


def summary_markdown(manifest: dict[str, Any], rows: pd.DataFrame) -> str:
    """The markdown summary: counts, choices, Table 6 statistics, teacher usage."""
    counts = manifest.get("counts", {})
    lines = [f"# recycle run: {manifest.get('command', '')}", "", "## Counts", ""]
    lines += [f"- input: {counts.get('input', 0)}", f"- kept: {counts.get('kept', 0)}"]
    for kind in ("dropped", "rejected"):
        for reason, n in (counts.get(kind) or {}).items():
            lines.append(f"- {kind} / {reason}: {n}")
    inv = manifest.get("invariant", {})
    lines += [
        f"- invariant input = kept + dropped + rejected: {'ok' if inv.get('ok') else 'BROKEN'}",
        "",
    ]
    pie = outcome_counts(rows)
    if pie:
        lines += ["## Student choices", ""] + [f"- {k}: {v}" for k, v in pie.items()] + [""]
    lines += _stats_table(manifest.get("stats") or {})
    lines += _teacher_lines(manifest.get("teacher") or {})
    lines += _status_lines(rows)
    return "\n".join(lines) + "\n"


def _stats_table(stats: dict[str, Any]) -> list[str]:
    if "skipped" in stats:
        return ["## Data statistics (Table 6)", "", f"not computed: {stats['skipped']}", ""]
    rows = {k: v for k, v in stats.items() if isinstance(v, dict) and "skipped" not in v}
    if not rows:
        return []
    keys = list(next(iter(rows.values())).keys())
    out = [
        "## Data statistics (Table 6)",
        "",
        "| data | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for name, row in rows.items():
        out.append(f"| {name} | " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
    return [*out, ""]


def _teacher_lines(teacher: dict[str, Any]) -> list[str]:
    if not teacher:
        return []
    out = ["## Teacher", ""]
    for key, value in teacher.items():
        if not isinstance(value, dict | list):
            out.append(f"- {key}: {_fmt(value)}")
    return [*out, ""]


def _status_lines(rows: pd.DataFrame) -> list[str]:
    """How each reflection ended, per stage: ok, or the parse failure that kept the original."""
    out = []
    for stage, col in (
        ("instruction", C.REFLECT_INSTRUCTION_STATUS),
        ("response", C.REFLECT_RESPONSE_STATUS),
    ):
        if col not in rows or rows[col].isna().all():
            continue
        status = rows[col].fillna("not reached").value_counts()
        failed = sum(n for s, n in status.items() if s != "ok")
        out.append(
            f"- {stage} reflection: {dict(status)} (not reflected: {failed / max(len(rows), 1):.1%})"
        )
    return ["## Teacher answers", "", *out, ""] if out else []


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{path.stem}" src="data:image/png;base64,{data}">'


def render_html(
    markdown: str, figure_files: dict[str, str], out: Path, rows: list[dict[str, Any]]
) -> str:
    """A single HTML file: the summary, the figures inlined as data URIs, the examples."""
    body = [f"<pre class='summary'>{html.escape(markdown)}</pre>"]
    body += [_img(out / f) for f in figure_files.values()]
    body.append("<h2>Example rewrites</h2>")
    for ex in rows:
        cells = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
            for k, v in ex.items()
        )
        body.append(f"<table>{cells}</table>")
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto} img{max-width:48%} td{white-space:pre-wrap} th{text-align:left;vertical-align:top;padding-right:1em} table{border-top:1px solid #ccc;margin:1em 0}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>recycle report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"


def write_report(run_dir: str) -> str:
    """Write RUN_DIR/report/{report.html, summary.md, *.png}; returns the HTML file's URI."""
    fs, root = filesystem(run_dir)
    if fs.get_file_info(posixpath.join(root, MANIFEST)).type != pafs.FileType.File:
        raise InputError(f"{run_dir!r} has no {MANIFEST}; pass the output.dir of a finished run")
    manifest = read_manifest(run_dir)
    rows = load_rows(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        figs = make_figures(rows, out) if len(rows) else {}
        markdown = summary_markdown(manifest, rows)
        (out / "summary.md").write_text(markdown)
        (out / "report.html").write_text(render_html(markdown, figs, out, examples(rows)))
        return _upload(out, run_dir)


def _upload(local: Path, run_dir: str) -> str:
    fs, root = filesystem(run_dir)
    target = posixpath.join(root, REPORT_DIR)
    fs.create_dir(target, recursive=True)
    for f in local.iterdir():
        with fs.open_output_stream(posixpath.join(target, f.name)) as dst:
            dst.write(f.read_bytes())
    return posixpath.join(run_dir.rstrip("/"), REPORT_DIR, "report.html")
