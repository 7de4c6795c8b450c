"""The token-count benchmark: per-phase forward tokens of a run's rows against the authors' 16."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from recycle import columns as C
from recycle.bench.tokens import RUN_TEXT, choose_instruction, run_token_lines, with_reflections
from recycle.config.student import StudentConfig
from recycle.rundir import outcome_dir
from tests.support.fixtures import *  # noqa: F403
from tests.support.tiny_model import alpaca_rows


def _fake_run(tmp_path, rows: int) -> str:
    """A run folder whose kept part file holds the texts a selective run writes."""
    cols = with_reflections(alpaca_rows()[:rows])
    out = {C.ORIG + C.IFD: [1.0] * rows, C.INS + C.IFD: [float(i % 2) for i in range(rows)]}
    choose_instruction(cols, out)
    cols[C.INSTRUCTION_REFLECTED] = [bool(i % 2) for i in range(rows)]
    run = str(tmp_path / "run")
    folder = outcome_dir(run, C.OUTCOME_KEPT)
    (tmp_path / "run" / folder.rsplit("/", 1)[1]).mkdir(parents=True)
    pq.write_table(pa.table({k: cols[k] for k in RUN_TEXT}), f"{folder}/part-0.parquet")
    return run


def test_token_lines_count_each_phase_and_the_authors(tmp_path, tiny_model_dir):
    cfg = StudentConfig(model=str(tiny_model_dir), batch_size=4, max_length=512)
    lines = run_token_lines(_fake_run(tmp_path, 6), cfg)
    per = {ln.split("  ")[1].strip(): ln for ln in lines[1:4]}
    p1, p1s, p2 = (float(per[k].split()[-1]) for k in ("phase 1", "phase 1 + Table 6", "phase 2"))
    assert 0 < p1 < p1s and p2 > 0  # the statistics add r-IFD of (x0, y0) to phase 1
    last = lines[-1]
    assert last.startswith("forward tokens/sample: ")
    n, authors = int(last.split()[2]), int(last.split("authors: ")[1].split(",")[0])
    assert n == round(p1s + p2) and authors > n  # the authors forward 16 sequences a sample
