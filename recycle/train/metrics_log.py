"""Where step metrics go besides Ray Train: JSONL parts in the run directory, MLflow or W&B.

Rank 0 buffers the metrics of each step and writes them as
`OUTPUT/train_metrics/steps-<first>-<last>.jsonl` whenever a checkpoint is committed and at the
end, so object stores (no appends) work too; a resumed run rewrites the steps it redoes.
`read_metrics` merges the parts, the latest write of a step winning.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

import pyarrow.fs as pafs

from recycle.errors import ConfigError
from recycle.storage import filesystem

METRICS_DIR = "train_metrics"
TRACKER_PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}


def metrics_dir(output_dir: str) -> str:
    """URI of the folder of metric parts of a run directory."""
    return posixpath.join(output_dir.rstrip("/"), METRICS_DIR)


class MetricsLog:
    """Buffers step metrics on rank 0 and flushes them as one JSONL part per flush."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.rows: list[dict[str, Any]] = []

    def add(self, metrics: dict[str, Any]) -> None:
        """Keep one step's metrics until the next flush."""
        self.rows.append(metrics)

    def flush(self) -> str | None:
        """Write the buffered steps as a part file; returns its URI (None when empty)."""
        if not self.rows:
            return None
        fs, folder = filesystem(metrics_dir(self.output_dir))
        fs.create_dir(folder, recursive=True)
        name = f"steps-{self.rows[0]['step']:08d}-{self.rows[-1]['step']:08d}.jsonl"
        with fs.open_output_stream(posixpath.join(folder, name)) as f:
            f.write("".join(json.dumps(r) + "\n" for r in self.rows).encode("utf-8"))
        self.rows = []
        return posixpath.join(metrics_dir(self.output_dir), name)


def read_metrics(output_dir: str) -> list[dict[str, Any]]:
    """Every step's metrics written under a run directory, in step order."""
    fs, folder = filesystem(metrics_dir(output_dir))
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return []
    infos = [i for i in fs.get_file_info(pafs.FileSelector(folder)) if i.path.endswith(".jsonl")]
    by_step: dict[int, dict[str, Any]] = {}
    for info in sorted(infos, key=lambda i: (i.mtime_ns or 0, i.path)):
        with fs.open_input_stream(info.path) as f:
            for line in f.read().decode("utf-8").splitlines():
                row = json.loads(line)
                by_step[row["step"]] = row
    return [by_step[s] for s in sorted(by_step)]


def check_tracker(kind: str) -> None:
    """Fail at start-up when the configured tracker's package is missing.

    Raises:
        ConfigError: naming the package to install.
    """
    if kind == "none":
        return
    import importlib.util

    if importlib.util.find_spec(TRACKER_PACKAGES[kind]) is None:
        raise ConfigError(
            f"train.tracker={kind} needs the {TRACKER_PACKAGES[kind]} package: pip install {TRACKER_PACKAGES[kind]} (or set train.tracker=none)"
        )


class Tracker:
    """MLflow or W&B logging of params and step metrics on rank 0; 'none' does nothing."""

    def __init__(
        self, kind: str, project: str, run_name: str, params: dict[str, Any], uri: str | None = None
    ):
        self.kind, self._run = kind, None
        if kind == "mlflow":
            import mlflow

            if uri:
                mlflow.set_tracking_uri(uri)
            mlflow.set_experiment(project)
            self._run = mlflow.start_run(run_name=run_name)
            mlflow.log_params(_flat(params))
        elif kind == "wandb":
            import wandb

            self._run = wandb.init(
                project=project, name=run_name, id=run_name, resume="allow", config=params
            )

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """Log one step's numeric metrics."""
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        if self.kind == "mlflow":
            import mlflow

            mlflow.log_metrics(numeric, step=step)
        elif self.kind == "wandb":
            self._run.log(numeric, step=step)

    def close(self) -> None:
        """End the tracking run."""
        if self.kind == "mlflow":
            import mlflow

            mlflow.end_run()
        elif self.kind == "wandb":
            self._run.finish()


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
