"""Agreement of two scorers: Spearman's rho against scipy, top-k% and kept-set overlaps, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from recycle import columns as C
from recycle.errors import InputError
from recycle.select.agreement import Overlap, agreement, spearman_rho, top_set

# finite scores with many ties (a coarse grid), and NaN for a row a scorer could not score
SCORES = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([0.5, 0.75, 1.0, 1.25]), st.floats(0.1, 3.0), st.just(math.nan)),
        st.one_of(st.sampled_from([0.5, 0.75, 1.0]), st.floats(0.1, 3.0), st.just(math.nan)),
    ),
    min_size=0,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(pairs=SCORES)
def test_spearman_rho_is_scipys_over_the_rows_both_scored(pairs):
    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    rho, n = spearman_rho(a, b)
    both = np.isfinite(a) & np.isfinite(b)
    assert n == int(both.sum())
    x, y = a[both], b[both]
    if n < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        assert math.isnan(rho)  # no ranking to compare (scipy: nan and a warning)
    else:
        assert rho == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_rho_of_a_known_case():
    # ranks of b: 1, 2.5, 2.5, 4 (a tie averaged); d = a-rank - b-rank
    rho, n = spearman_rho([1.0, 2.0, 3.0, 4.0, math.nan], [10.0, 20.0, 20.0, 40.0, 1.0])
    assert n == 4
    assert rho == pytest.approx(spearmanr([1, 2, 3, 4], [10, 20, 20, 40]).statistic)
    assert rho == pytest.approx(0.9486832980505138)
    assert spearman_rho([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])[0] == pytest.approx(-1.0)


def frame(ids, ifd, rifd=None, outcome=None) -> pd.DataFrame:
    df = pd.DataFrame({C.SAMPLE_ID: ids, C.IFD: ifd})
    if rifd is not None:
        df[C.RIFD] = rifd
    if outcome is not None:
        df[C.OUTCOME] = outcome
    return df


def test_top_set_is_the_ifd_topk_rule():
    ids = [f"s{i:02d}" for i in range(20)]
    ifd = [0.05 * i for i in range(20)]  # s19 (0.95) highest below 1
    ifd[18], ifd[3] = 1.2, math.nan  # IFD >= 1 and unscored rows are never in a top set
    df = frame(ids, ifd)
    assert top_set(df, 10.0) == {"s19", "s17"}  # ceil(20 * 10%) = 2, s18 dropped (IFD >= 1)
    assert top_set(df, 15.0) == {"s19", "s17", "s16"}


def test_overlaps_of_top_sets_and_kept_sets():
    ids = [f"s{i:02d}" for i in range(20)]
    ifd_a = [0.04 * i for i in range(20)]  # top 5%: s19; top 10%: s19, s18
    ifd_b = list(ifd_a)
    ifd_b[18], ifd_b[5] = 0.0, 0.74  # B's top 5%: s19; top 10%: s19, s05
    kept_a = [C.OUTCOME_KEPT if i < 8 else C.OUTCOME_DROPPED for i in range(20)]
    kept_b = [C.OUTCOME_KEPT if 4 <= i < 14 else C.OUTCOME_DROPPED for i in range(20)]
    a = frame(ids, ifd_a, outcome=kept_a)
    b = frame(ids, ifd_b, outcome=kept_b)
    out = agreement(a, b, percents=(5.0, 10.0))
    assert out.overlaps == (
        Overlap("top 5% by IFD", 1, 1, 1),
        Overlap("top 10% by IFD", 2, 2, 1),
        Overlap("kept", 8, 10, 4),  # s04..s07
    )
    assert [o.overlap for o in out.overlaps] == [1.0, 0.5, 0.4]
    assert out.correlations[0].rho == pytest.approx(spearmanr(ifd_a, ifd_b).statistic)
    assert out.correlations[1].rho is None and out.correlations[1].rows == 0  # no r-IFD


def test_rows_are_joined_by_sample_id_not_position():
    a = frame(["x", "y", "z", "w"], [0.1, 0.2, 0.3, 0.4], rifd=[0.9, 0.8, 0.7, 0.6])
    b = frame(["w", "z", "y", "v"], [0.4, 0.3, 0.2, 5.0], rifd=[0.6, 0.7, 0.8, 0.1])
    out = agreement(a, b)
    assert (out.shared_rows, out.only_a, out.only_b) == (3, 1, 1)
    assert [(c.statistic, c.rows, c.rho) for c in out.correlations] == [
        ("IFD", 3, pytest.approx(1.0)),
        ("r-IFD", 3, pytest.approx(1.0)),
    ]
    assert len(out.overlaps) == 3  # no outcome column: no kept-set row
    d = out.as_dict()
    assert d["overlaps"][0]["overlap"] == 1.0 and d["correlations"][0]["statistic"] == "IFD"


def test_no_shared_rows_and_no_common_scores_are_input_errors():
    with pytest.raises(InputError, match="share no rows"):
        agreement(frame(["a"], [0.5]), frame(["b"], [0.5]))
    with pytest.raises(InputError, match="has an IFD in both runs"):
        agreement(frame(["a", "b"], [0.5, math.nan]), frame(["a", "b"], [math.nan, 0.7]))
