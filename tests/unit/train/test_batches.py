"""Micro-batch tensors and attention inputs: shifted labels, block mask, varlen flattening."""

import numpy as np
import torch

from recycle import columns as C
from recycle.train.batches import IGNORE_INDEX, block_causal_mask, collate_rows, flatten_varlen


def _rows(*rows):
    """Schedule rows from (ids, positions, target_mask) triples."""
    return {
        C.INPUT_IDS: np.array([np.array(r[0]) for r in rows], dtype=object),
        C.POSITION_IDS: np.array([np.array(r[1]) for r in rows], dtype=object),
        C.TARGET_MASK: np.array([np.array(r[2]) for r in rows], dtype=object),
        C.STEP: np.array([1] * len(rows)),
        C.MICRO: np.array([0] * len(rows)),
    }


def test_labels_are_shifted_targets_and_padding_is_masked():
    # a packed row of two samples (5 then 3 tokens) and a short row of one sample
    packed = ([1, 11, 12, 13, 14, 1, 21, 22], [0, 1, 2, 3, 4, 0, 1, 2], [0, 0, 0, 1, 1, 0, 0, 1])
    short = ([1, 31, 32], [0, 1, 2], [0, 1, 1])
    b = collate_rows(_rows(packed, short), pad_id=0)
    x = IGNORE_INDEX
    assert b["labels"].tolist() == [[x, x, 13, 14, x, x, 22, x], [31, 32, x, x, x, x, x, x]]
    assert b["attention_mask"].tolist() == [[1] * 8, [1, 1, 1, 0, 0, 0, 0, 0]]
    assert b["input_ids"][1].tolist() == [1, 31, 32, 0, 0, 0, 0, 0]
    assert b["position_ids"][1].tolist() == [0, 1, 2, 0, 0, 0, 0, 0]


def test_block_mask_isolates_samples_causally():
    pos = torch.tensor([[0, 1, 2, 0, 1, 0]])  # samples of 3, 2 and 1 tokens
    m = block_causal_mask(pos)[0, 0].int()  # (T, T)
    assert m.tolist() == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],
    ]
    additive = block_causal_mask(pos, torch.float32)[0, 0]
    assert additive[1, 0] == 0 and additive[3, 2] == torch.finfo(torch.float32).min


def test_flatten_varlen_drops_padding_and_gives_cumulative_lengths():
    packed = ([1, 11, 12, 13, 14, 1, 21, 22], [0, 1, 2, 3, 4, 0, 1, 2], [0, 0, 0, 1, 1, 0, 0, 1])
    short = ([1, 31, 32], [0, 1, 2], [0, 1, 1])
    flat, kwargs = flatten_varlen(collate_rows(_rows(packed, short), pad_id=0))
    assert flat["input_ids"].tolist() == [[1, 11, 12, 13, 14, 1, 21, 22, 1, 31, 32]]
    assert kwargs["cu_seq_lens_q"].tolist() == [0, 5, 8, 11] and kwargs["max_length_q"] == 5
    assert kwargs["cu_seq_lens_q"].dtype == torch.int32
    assert (flat["labels"] != IGNORE_INDEX).sum() == 5
