"""`recycle score --input PATH --output DIR [CONFIG] [key=value ...]`: IFD and r-IFD of a dataset."""

from __future__ import annotations

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments, library


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    counts, scores = manifest["counts"], manifest["scores"]
    unscored = scores.get("unscored_rows", 0)
    return [
        f"scored {scores.get('rows', 0) - unscored} of {counts['input']} rows "
        f"(rejected {sum(counts['rejected'].values())}, unscored {unscored} "
        f"{scores.get('unscored_reasons') or ''})".rstrip(),
        f"mean IFD {scores.get('mean_ifd', float('nan')):.4f}, "
        f"mean r-IFD {scores.get('mean_rifd', float('nan')):.4f}",
        f"run directory: {request.cfg.output.dir}",
    ]


FACE = Face(
    name="score",
    help="student IFD and r-IFD scores of a dataset, written to a run directory",
    arguments=add_config_arguments,
    checks=lambda request: needs.SCORE,
    run=library("recycle.commands.score", "run_score"),
    summary=_summary,
)
