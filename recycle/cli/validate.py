"""`recycle validate`: read and normalize a dataset, write kept rows, rejects and the manifest."""

from __future__ import annotations

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments, library


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    counts = manifest["counts"]
    return [
        f"validated {counts['input']} rows: kept {counts['kept']}, "
        f"rejected {sum(counts['rejected'].values())} {counts['rejected'] or ''}".rstrip(),
        f"run directory: {request.cfg.output.dir}",
    ]


FACE = Face(
    name="validate",
    help="read and normalize a dataset; write kept rows, rejects with reasons and a manifest",
    arguments=add_config_arguments,
    checks=lambda request: needs.VALIDATE,
    run=library("recycle.commands.validate", "run_validate"),
    summary=_summary,
)
