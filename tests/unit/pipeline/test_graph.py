"""The stream's block size: enough blocks for the stages to overlap, whole student batches."""

import pytest

from recycle.pipeline.graph import STREAM_BLOCKS, rows_per_block


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
