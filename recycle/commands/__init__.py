"""The commands: each a small declaration run by one runner (`runner.execute`).

    from recycle.commands import run_pipeline, run_select, run_score    # what the CLI calls

`runner` starts Ray, reads, clears or resumes the run directory, runs the command's graph into part
files, writes the manifest and checks its accounting invariant; each other module declares one
command (`validate`, `score`, `reflect`, `stats`, `select`, `run`, `generate`, `judge`,
`eval`). Stage packages (data, student,
teacher, select, pipeline, eval) never import this package; the CLI, jobs and the demo do.
Names are imported on first use, so `import recycle.commands` pulls in neither Ray nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_validate": "recycle.commands.validate",
    "run_score": "recycle.commands.score",
    "run_reflect": "recycle.commands.reflect",
    "run_stats": "recycle.commands.stats",
    "run_select": "recycle.commands.select",
    "run_pipeline": "recycle.commands.run",
    "run_generate": "recycle.commands.generate",
    "run_judge": "recycle.commands.judge",
    "run_eval": "recycle.commands.eval",
    "evaluate_finetuned": "recycle.commands.eval",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recycle.commands' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
