"""The notebooks run top to bottom offline, in a kernel of this Python, as a user would run them.

quickstart.ipynb runs the pipeline on local Ray with the scripted teacher and a tiny student into a
temporary run directory; explore_scores.ipynb then reads that run directory. The notebooks are
stored without outputs; the executed copies are kept in memory only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT_S = 600
KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")


def execute(name: str, run_dir: Path) -> nbformat.NotebookNode:
    """Run a notebook in a fresh `python3` kernel (this interpreter) from the notebooks folder.

    The kernel gets no RAY_* variables (so nothing is submitted and no other Ray is joined) and
    the run directory through RECYCLE_RUN_DIR.
    """
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows the plots
    env.update(RECYCLE_RUN_DIR=str(run_dir), RAY_ENABLE_UV_RUN_RUNTIME_ENV="0")
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env=env)
    return nb


def outputs(nb: nbformat.NotebookNode, kind: str | None = None) -> list[dict]:
    found = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return [o for o in found if kind is None or kind in o.get("data", {})]


def text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for o in outputs(nb):
        parts.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks") / "quickstart"


@pytest.fixture(scope="module")
def quickstart(run_dir) -> nbformat.NotebookNode:
    return execute("quickstart.ipynb", run_dir)


@pytest.mark.parametrize("name", ["quickstart.ipynb", "explore_scores.ipynb"])
def test_notebooks_are_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_quickstart_runs_the_pipeline_and_shows_the_report(quickstart, run_dir):
    assert (run_dir / "manifest.json").is_file() and (run_dir / "report" / "report.html").is_file()
    out = text(quickstart)
    assert re.search(r"selective run done in \d+s:\n  input 30: kept \d+", out)  # print_summary
    images = outputs(quickstart, "image/png")
    assert len(images) >= 2  # the report's plots, inline
    assert len(outputs(quickstart, "text/markdown")) == 1  # the report's summary
    assert "original instruction" in out and "final response" in out  # one rewrite, in full


def test_quickstart_shows_the_cluster_submission_without_submitting_offline(quickstart):
    out = text(quickstart)
    assert "RAY_API_SERVER_ADDRESS is not set, nothing submitted" in out
    assert "python jobs/end_to_end.py jobs/configs/small_local.yaml" in out
    assert '"working_dir"' in out and not KEY_LIKE.search(out)


def test_explore_scores_reads_the_run_plots_and_filters(quickstart, run_dir):
    nb = execute("explore_scores.ipynb", run_dir)
    out = text(nb)
    assert "invariant input = kept + dropped + rejected: {'ok': True" in out
    assert outputs(nb, "image/png")  # IFD / r-IFD plots
    assert re.search(r"the papers rules'?: kept \d+", out)
    assert "instruction words" in out and "recycled" in out
