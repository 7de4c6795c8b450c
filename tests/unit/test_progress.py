import time

import pyarrow as pa

from recycle import columns as C
from recycle.pipeline.progress import progress_line
from recycle.rundir import write_outcome_batch


def test_progress_line_counts_new_part_files(tmp_path):
    run = str(tmp_path)
    t0 = time.monotonic()
    write_outcome_batch(
        pa.table({C.SAMPLE_ID: ["a", "b"], C.OUTCOME: ["kept", "dropped"], C.REASON: ["", "x"]}),
        run,
    )
    line = progress_line(run, None, t0, parts_at_start=0)
    assert (
        line.startswith("progress: 2 part files written")
        and "'kept': 1" in line
        and "'dropped': 1" in line
    )
