"""How the graph turns a phase declaration into student variants, as a run executes it, and the
stream's block size: enough blocks for the stages to overlap, whole student batches."""

from __future__ import annotations

import pytest

from recycle import columns as C
from recycle.config import load_config
from recycle.pipeline.graph import STREAM_BLOCKS, phase_variants, rows_per_block
from recycle.pipeline.stats import run_spec, table6_in_stream
from recycle.select.declarations import COHERENCE, IFD, IFD_WHERE_RIFD_WINS, RIFD, Phase, mode_spec
from recycle.student.variants import Variant


def test_one_variant_per_pair_with_student_scores_reading_the_pairs_text():
    phase = Phase("p", {C.ORIG: (RIFD,), C.INS: (IFD, RIFD), C.PAIR1: (COHERENCE,)})
    ins_text = {"instruction": C.NEW_INSTRUCTION, "input": C.NEW_INPUT, "output": C.NEW_OUTPUT}
    assert phase_variants(phase) == [  # the pair with coherence only is Sentence-BERT's
        Variant(prefix=C.ORIG, ifd=False, rifd=True),
        Variant(prefix=C.INS, ifd=True, rifd=True, **ins_text),
    ]
    assert phase_variants(Phase("c", {C.ORIG: (COHERENCE,)})) == []


def test_a_gated_ifd_is_computed_only_where_the_pair_wins_step_4_against_pair1():
    (res,) = phase_variants(Phase("p2", {C.RES: (RIFD, IFD_WHERE_RIFD_WINS)}))
    assert (res.ifd, res.rifd, res.ifd_only_if_rifd_below) == (True, True, C.PAIR1)
    assert (res.instruction, res.input, res.output) == (C.INSTRUCTION_1, C.INPUT_1, C.BETTER_OUTPUT)


def test_the_run_widens_phase_1_for_table_6_only_when_it_computes_the_statistics(tmp_path):
    base = [f"student.model='{tmp_path}'", "selection.mode=ifd_only"]
    off = load_config(None, [*base, "output.report_stats=false"])
    assert not table6_in_stream(off) and run_spec(off, False) == mode_spec("ifd_only")
    assert [v.rifd for v in phase_variants(run_spec(off, False).phase1)] == [False, False]
    no_student = load_config(None, ["selection.mode=ifd_only", "output.report_stats=true"])
    assert not table6_in_stream(no_student)  # no student: statistics come after the run
    widened = run_spec(off, True)
    assert [v.rifd for v in phase_variants(widened.phase1)] == [True, False]  # r-IFD of (x0, y0)


@pytest.mark.parametrize(
    ("n_rows", "batch_size", "block_rows", "expected"),
    [
        (300, 16, 256, 32),  # 38 rows, cut to 2 whole student batches
        (300, 256, 256, 38),  # less than one student batch: a batch of its own
        (120, 32, 256, 15),
        (52_000, 256, 256, 256),  # a large input: block_rows
        (52_000, 16, 100, 96),  # block_rows, cut to whole batches
        (3, 16, 256, 1),
        (0, 16, 256, 1),
    ],
)
def test_rows_per_block(n_rows, batch_size, block_rows, expected):
    assert rows_per_block(n_rows, batch_size, block_rows) == expected


def test_small_inputs_get_several_blocks():
    rows = rows_per_block(1000, 8, 256)
    assert -(-1000 // rows) >= STREAM_BLOCKS - 1
