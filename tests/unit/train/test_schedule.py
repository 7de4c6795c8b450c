"""The training schedule: packing, global batches laid out over workers, determinism."""

import numpy as np
import pytest

from recycle import columns as C
from recycle.train.schedule import Layout, build_schedule, pack_best_fit, place

RNG = np.random.default_rng(0)
LENGTHS = [int(n) for n in RNG.integers(5, 60, size=50)]
IDS = [np.arange(n, dtype=np.int32) + 10 for n in LENGTHS]
STARTS = [n // 3 for n in LENGTHS]
SIDS = [f"s{i:03d}" for i in range(50)]


def test_best_fit_places_every_sample_once_within_capacity():
    rows = pack_best_fit(range(50), LENGTHS, capacity=100)
    assert sorted(i for row in rows for i in row) == list(range(50))
    assert all(sum(LENGTHS[i] for i in row) <= 100 for row in rows)
    # best fit is dense: at most one row per 100 tokens plus a little slack
    assert len(rows) <= sum(LENGTHS) // 100 + 3


def test_best_fit_prefers_the_tightest_row():
    # rows open with 60 and 90 tokens; a 10-token sample fits both and goes to the fuller one
    assert pack_best_fit([0, 1, 2], [60, 90, 10], capacity=100) == [[0], [1, 2]]


def test_place_spreads_a_step_over_workers_then_micro_batches():
    layout = Layout(global_rows=8, num_workers=2, micro_batch_size=2)
    assert layout.accum_steps == 2
    assert [place(i, layout) for i in range(9)] == [
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 1),
        (0, 0, 1),
        (0, 1, 0),
        (0, 1, 0),
        (0, 1, 1),
        (0, 1, 1),
        (1, 0, 0),
    ]


@pytest.mark.parametrize("packing", [False, True])
def test_every_worker_gets_the_same_micro_batches_per_step(packing):
    layout = Layout(global_rows=4, num_workers=2, micro_batch_size=1)
    s = build_schedule(SIDS, IDS, STARTS, layout, epochs=2, seed=1, packing=packing, capacity=128)
    assert s.total_steps == sum(s.steps_per_epoch) and len(s.steps_per_epoch) == 2
    for table in s.rank_tables:
        steps = table[C.STEP].to_pylist()
        assert steps == sorted(steps)
        assert [steps.count(k) for k in range(1, s.total_steps + 1)] == [2] * s.total_steps
    assert s.epoch_end_steps == list(np.cumsum(s.steps_per_epoch))


def test_rows_carry_positions_and_the_target_mask():
    layout = Layout(global_rows=2, num_workers=1, micro_batch_size=2)
    s = build_schedule(SIDS, IDS, STARTS, layout, epochs=1, seed=0, packing=True, capacity=128)
    row = {k: s.rank_tables[0][k][0].as_py() for k in (C.INPUT_IDS, C.POSITION_IDS, C.TARGET_MASK)}
    starts = [i for i, p in enumerate(row[C.POSITION_IDS]) if p == 0]
    assert len(starts) >= 2, "a 128-token row packs several samples"
    for a, b in zip(starts, [*starts[1:], len(row[C.INPUT_IDS])], strict=True):
        n = b - a
        i = LENGTHS.index(n) if LENGTHS.count(n) == 1 else None
        assert row[C.POSITION_IDS][a:b] == list(range(n))
        assert row[C.TARGET_MASK][a] == 0 and row[C.TARGET_MASK][b - 1] == 1
        if i is not None:
            assert sum(row[C.TARGET_MASK][a:b]) == n - STARTS[i]


def test_schedule_is_deterministic_and_independent_of_the_worker_count():
    one = build_schedule(
        SIDS, IDS, STARTS, Layout(8, 1, 4), epochs=2, seed=3, packing=False, capacity=128
    )
    two = build_schedule(
        SIDS, IDS, STARTS, Layout(8, 2, 2), epochs=2, seed=3, packing=False, capacity=128
    )
    again = build_schedule(
        SIDS, IDS, STARTS, Layout(8, 2, 2), epochs=2, seed=3, packing=False, capacity=128
    )
    other_seed = build_schedule(
        SIDS, IDS, STARTS, Layout(8, 2, 2), epochs=2, seed=4, packing=False, capacity=128
    )
    assert one.fingerprint == two.fingerprint == again.fingerprint != other_seed.fingerprint
    assert two.rank_tables[0].equals(again.rank_tables[0])
    # step 1 holds the same samples whether one worker or two train it
    ones = sorted(
        map(
            tuple,
            one.rank_tables[0]
            .filter(one.rank_tables[0][C.STEP].to_numpy() == 1)[C.INPUT_IDS]
            .to_pylist(),
        )
    )
    twos = sorted(
        tuple(r)
        for t in two.rank_tables
        for r in t.filter(t[C.STEP].to_numpy() == 1)[C.INPUT_IDS].to_pylist()
    )
    assert ones == twos


def test_epochs_reshuffle_and_leave_out_the_partial_batch():
    s = build_schedule(
        SIDS, IDS, STARTS, Layout(8, 1, 8), epochs=2, seed=0, packing=False, capacity=128
    )
    assert s.steps_per_epoch == [6, 6] and s.stats["rows_left_out"] == 2 * (50 - 48)
    t = s.rank_tables[0]
    epoch = t[C.EPOCH].to_numpy()
    first = t.filter(epoch == 0)[C.INPUT_IDS].to_pylist()[:8]
    second = t.filter(epoch == 1)[C.INPUT_IDS].to_pylist()[:8]
    assert first != second


def test_max_steps_caps_the_schedule():
    s = build_schedule(
        SIDS,
        IDS,
        STARTS,
        Layout(8, 1, 8),
        epochs=3,
        seed=0,
        packing=False,
        capacity=128,
        max_steps=8,
    )
    assert s.steps_per_epoch == [6, 2] and s.total_steps == 8
    assert max(s.rank_tables[0][C.STEP].to_pylist()) == 8
