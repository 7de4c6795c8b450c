"""`recycle agree RUN_A RUN_B [--top 5 10 15]`: do two scorers agree on the same rows?

Prints Spearman's rho of IFD and of r-IFD over the rows both runs scored, and the overlap of their
top k% by IFD (and of their kept sets when both selected), so that a cheap scorer can be checked
against the student before the student scores everything (recycle.select.agreement).
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from recycle.commands.entry import Face, Request, always_ok

if TYPE_CHECKING:  # pandas stays unimported until the command runs
    from recycle.select.agreement import Agreement


def percent(text: str) -> float:
    """A k of a top k%: a number in (0, 100]."""
    value = float(text)
    if not 0.0 < value <= 100.0:
        raise argparse.ArgumentTypeError(f"{text}: a top k% needs 0 < k <= 100")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_a", help="run directory of scorer A (`recycle score` or `recycle run`)"
    )
    parser.add_argument("run_b", help="run directory of scorer B, over the same input")
    parser.add_argument(
        "--top",
        nargs="+",
        type=percent,
        default=None,
        metavar="K",
        help="the k of the top k%% sets by IFD compared (default: 5 10 15)",
    )


def _run(request: Request) -> Agreement:
    from recycle.commands.agree import run_agree

    a = request.args
    return run_agree(a.run_a, a.run_b, a.top)


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "n/a"
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def agreement_lines(result: Agreement) -> list[str]:
    """The agreement as two small markdown tables and a line saying what the numbers are."""
    lines = [f"{side}: {run}" for side, run in zip("AB", result.runs, strict=False)]
    lines += [
        f"{result.shared_rows} shared rows (only in A: {result.only_a}, only in B: {result.only_b})",
        "| statistic | rows | Spearman's rho |",
        "|---|---|---|",
    ]
    lines += [f"| {c.statistic} | {c.rows} | {_number(c.rho, 4)} |" for c in result.correlations]
    lines += ["| set | A | B | shared | overlap |", "|---|---|---|---|---|"]
    lines += [
        f"| {o.name} | {o.size_a} | {o.size_b} | {o.shared} | {_number(o.overlap, 4)} |"
        for o in result.overlaps
    ]
    lines.append(
        "rho over the rows both runs scored (n/a: a run has no such score); top k%: the ifd_topk "
        "rule (IFD < 1, the highest IFD first); overlap = shared / the larger set"
    )
    return lines


FACE = Face(
    name="agree",
    help="how far two scorers agree on the same rows: Spearman's rho of IFD and r-IFD, top-k% overlap",
    arguments=add_arguments,
    run=_run,
    summary=lambda request, result, log_file: agreement_lines(result),
    exit=always_ok,
    config=lambda args, settings: None,
    log_dir=lambda request: None,
)
