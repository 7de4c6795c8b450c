"""The report page: a header that says what ran, real tables, captioned plots, and examples of
every outcome with the changed words highlighted. Pure functions from plain data to HTML text."""

from __future__ import annotations

import base64
import difflib
import html
import re
from pathlib import Path
from typing import Any

import numpy as np

from recycle.report.wording import CAPTIONS, GLOSSARY, TABLE6_COLUMNS, reason_text

TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em} .meta{color:#555;margin-top:0} .meta b{color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em} th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
dl.glossary{display:grid;grid-template-columns:max-content 1fr;gap:2px 1em;background:#f8f8f8;padding:.6em 1em}
dl.glossary dt{font-weight:bold} dl.glossary dd{margin:0}
.figures{display:grid;grid-template-columns:1fr 1fr;gap:1.2em} figure{margin:0}
figure img{max-width:100%} figcaption{font-size:.9em;color:#444}
table.example{width:100%;table-layout:fixed} table.example td{white-space:pre-wrap;font-size:.9em}
table.example th.field{width:7em} del{background:#fdd;text-decoration:line-through} ins{background:#cfc;text-decoration:none}
h3 .tag{font-size:.75em;font-weight:normal;color:#555}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def fmt(value: Any) -> str:
    """Numbers to 4 significant digits, yes/no for booleans, the rest as text."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def table(header: list[str], rows: list[list[Any]], numeric_from: int = 1) -> str:
    """An HTML table; cells from column `numeric_from` on are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{esc(fmt(c))}</td>" if i >= numeric_from else f"<td>{esc(fmt(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def word_diff(before: str, after: str) -> tuple[str, str]:
    """Both texts as HTML, removed words in <del> on the left, added words in <ins> on the right."""
    a, b = TOKEN.findall(before or ""), TOKEN.findall(after or "")
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = esc("".join(a[i1:i2])), esc("".join(b[j1:j2]))
        if op == "equal":
            left.append(old)
            right.append(new)
            continue
        if old:
            left.append(f"<del>{old}</del>")
        if new:
            right.append(f"<ins>{new}</ins>")
    return "".join(left), "".join(right)


def header(title: str, facts: list[tuple[str, str]], links: list[tuple[str, str]]) -> str:
    """The title, one line of facts (mode, teacher, student, date) and links to the run's files."""
    meta = " · ".join(f"{esc(k)} <b>{esc(v)}</b>" for k, v in facts if v)
    anchors = " · ".join(f"<a href='{esc(href)}'>{esc(label)}</a>" for label, href in links)
    return f"<h1>{esc(title)}</h1><p class='meta'>{meta}</p><p class='meta'>{anchors}</p>"


def glossary() -> str:
    items = "".join(f"<dt>{esc(term)}</dt><dd>{esc(meaning)}</dd>" for term, meaning in GLOSSARY)
    return f"<dl class='glossary'>{items}</dl>"


RERUN = "left for a rerun"  # transient rejects (retry/) and samples a stopped run did not reach


def counts_table(counts: dict[str, Any]) -> str:
    """Every sample once: kept, then each drop and reject reason, with what it means and its share."""
    n = max(int(counts.get("input", 0)), 1)
    rows: list[list[Any]] = [["kept", "", reason_text(""), counts.get("kept", 0)]]
    for outcome, key in (("dropped", "dropped"), ("rejected", "rejected"), (RERUN, "retry")):
        for reason, k in sorted((counts.get(key) or {}).items(), key=lambda kv: -kv[1]):
            rows.append([outcome, reason, reason_text(reason), k])
    if counts.get("pending"):
        rows.append([RERUN, "pending", "not reached before the run stopped", counts["pending"]])
    rows = [[*r, f"{r[3] / n:.1%}"] for r in rows]
    rows.append(["input", "", "every sample read", counts.get("input", 0), "100%"])
    return table(["outcome", "reason", "what it means", "samples", "share"], rows, numeric_from=3)


def table6(stats: dict[str, Any]) -> str:
    """The papers' Table 6 rows (original and kept data) as a table, or why it is missing."""
    if "skipped" in stats:
        return f"<p>Not computed: {esc(stats['skipped'])}</p>"
    rows = {k: v for k, v in stats.items() if isinstance(v, dict) and "skipped" not in v}
    if not rows:
        return "<p>Not computed (output.report_stats=false, or no student).</p>"
    keys = list(next(iter(rows.values())))
    names = {"original": "original (valid input)", "final": "final (kept samples)"}
    body = [[names.get(name, name), *(row.get(k) for k in keys)] for name, row in rows.items()]
    return table(["data", *(TABLE6_COLUMNS.get(k, k) for k in keys)], body)


def figure(name: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = CAPTIONS.get(name, "")
    return f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{data}'><figcaption>{esc(caption)}</figcaption></figure>"


def example(ex: dict[str, Any]) -> str:
    """One sample: original and final text side by side, changes highlighted, scores below."""
    outcome, reason = ex.get("outcome", ""), ex.get("reason") or ""
    tag = f"{outcome}: {reason_text(reason)}" if reason else outcome
    rows = []
    for label, before, after in ex["fields"]:
        if not before and not after:
            continue
        left, right = word_diff(before, after) if after is not None else (esc(before), "")
        rows.append(f"<tr><th class='field'>{esc(label)}</th><td>{left}</td><td>{right}</td></tr>")
    scores = "; ".join(f"{esc(k)} {esc(fmt(v))}" for k, v in ex.get("scores", {}).items())
    detail = f"<p>{esc(ex['detail'])}</p>" if ex.get("detail") else ""
    return (
        f"<h3>{esc(ex.get('sample_id', '')[:12])} <span class='tag'>{esc(tag)}</span></h3>{detail}"
        f"<table class='example'><tr><th class='field'></th><th>original</th><th>final</th></tr>"
        f"{''.join(rows)}</table><p>{scores}</p>"
    )


def page(title: str, sections: list[tuple[str, str]], top: str) -> str:
    """The whole document: the header block, then each (heading, body) section."""
    body = top + "".join(f"<h2>{esc(h)}</h2>{b}" for h, b in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
