"""recycle's length-controlled win rate against alpaca_eval 0.6.6's own `length_controlled_minimal`
fit (`alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate`), on the authors' real GPT-4
reviews (cherry_alpaca_5_per = A against alpaca = B, five sets) and on a seeded set where A is
almost always longer; and the extreme-change rule against `get_is_extreme_changes`.

Offline: the one download alpaca_eval makes on this path (`df_gamed.csv`, read only for its
instruction difficulties, which the minimal formula does not use) is answered by a local file of
zeros; nothing is written into the installed package (the weights go to tmp_path).

Tolerance. Both fit the same cross-entropy on the same feature, tanh((len_A - len_B) / sd);
they differ only in their penalties: recycle's ridge SLOPE_PENALTY * N * b1² / 2 on the slope,
alpaca_eval's L1 on both coefficients with C picked by 5-fold CV (and liblinear's tolerance). The
test measures the ridge's effect on the same data (recycle's fit with the penalty minus without)
and allows that plus ALPACA_SLACK, which bounds alpaca_eval's own penalty and solver: an L1 term
|w| / (C N) moves b0 by about 4 / (C N), so the rate (2 sigmoid(b0)) by about 2 / (C N), below
1e-3 for the C its CV picks here; recycle's unpenalized fit must match alpaca_eval within that slack
alone.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recycle.eval.length_control import (
    PERCENT_PER_RATE,
    PREFERENCE,
    is_extreme_change,
    lc_win_rate,
    length_controlled,
    length_feature,
)
from recycle.eval.pairwise_rule import LOSE, TIE, WIN, outcome
from recycle.eval.questions import BUILTIN_SETS
from tests.support.judge_reviews import recorded_scores, review_items

glm = pytest.importorskip("alpaca_eval.metrics.glm_winrate")
sklearn = pytest.importorskip("sklearn")

ALPACA_SLACK = 1e-3  # papers' scale (0.05 points of AlpacaEval's percent): its L1 and solver
# AlpacaEval's preference: 1 = output_1 (the baseline, B) preferred, 2 = output_2 (A), 1.5 = tie
ALPACA_PREFERENCE = {WIN: 2.0, LOSE: 1.0, TIE: 1.5}


def _authors_items() -> tuple[list[str], list[str], list[str]]:
    """(outcome for A, A's answer, B's answer) of every item the authors' GPT-4 judged."""
    outcomes, answers_a, answers_b = [], [], []
    for name in BUILTIN_SETS:
        for item, (fwd, rev) in zip(review_items(name), recorded_scores(name), strict=True):
            outcomes.append(outcome(fwd, rev))
            answers_a.append(item["Answer1"])
            answers_b.append(item["Answer2"])
    return outcomes, answers_a, answers_b


def _longer_a_items(n: int = 600, seed: int = 7) -> tuple[list[str], list[str], list[str]]:
    """A seeded set like recycled answers: A longer in about 97% of items, the judge partly
    swayed by length (preference = sigmoid(0.3 + 1.5 tanh(diff / 400)))."""
    rng = np.random.default_rng(seed)
    diff = rng.normal(700, 350, n).round().astype(int)  # (N,) characters, A minus B
    p = 1 / (1 + np.exp(-(0.3 + 1.5 * np.tanh(diff / 400))))
    u = rng.random(n)
    outcomes = [
        WIN if x < q - 0.05 else TIE if x < q + 0.05 else LOSE for x, q in zip(u, p, strict=True)
    ]
    len_b = rng.integers(200, 900, n)
    answers_a = ["a" * int(b + d) for b, d in zip(len_b, diff, strict=True)]
    return outcomes, answers_a, ["b" * int(b) for b in len_b]


def alpaca_eval_fit(outcomes, answers_a, answers_b, monkeypatch, tmp_path) -> tuple[dict, dict]:
    """alpaca_eval's metrics and fitted weights, A as the model (output_2), B as the baseline."""
    gamed = tmp_path / "df_gamed.csv"
    gamed.write_text("model,index,instruction_difficulty\n" +
                     "".join(f"none,{i},0.0\n" for i in range(len(outcomes))))  # fmt: skip

    def local_file(**kwargs):
        assert kwargs["filename"] == "df_gamed.csv"
        return str(gamed)

    monkeypatch.setattr(glm, "hf_hub_download", local_file)
    annotations = [
        {"instruction": f"q{i}", "output_1": b, "output_2": a, "generator_1": "B",
         "generator_2": "A", "annotator": "gpt4", "preference": ALPACA_PREFERENCE[o]}
        for i, (o, a, b) in enumerate(zip(outcomes, answers_a, answers_b, strict=True))
    ]  # fmt: skip
    with sklearn.config_context():  # the fit turns metadata routing on globally; undone here
        metrics = glm.get_length_controlled_winrate(
            annotations, glm_name="length_controlled_minimal", save_weights_dir=tmp_path
        )
    csv = tmp_path / "length_controlled_minimal" / "baseline_B.csv"
    header, row = csv.read_text().splitlines()[:2]
    weights = dict(zip(header.split(",")[1:], map(float, row.split(",")[1:]), strict=True))
    return metrics, weights


def _compare(items, monkeypatch, tmp_path) -> dict[str, float]:
    outcomes, answers_a, answers_b = items
    len_a, len_b = [len(a) for a in answers_a], [len(b) for b in answers_b]
    ours = length_controlled(outcomes, len_a, len_b, samples=0)
    metrics, weights = alpaca_eval_fit(outcomes, answers_a, answers_b, monkeypatch, tmp_path)
    x = length_feature(len_a, len_b)
    y = np.array([PREFERENCE[o] for o in outcomes])
    return {
        "raw": 2 * y.mean(),
        "alpaca_raw": metrics["win_rate"] / PERCENT_PER_RATE,
        "lc": ours["win_rate_lc"],
        "lc_unrounded": lc_win_rate(x, y),
        "lc_no_ridge": lc_win_rate(x, y, penalty=0.0),
        "alpaca_lc": metrics["length_controlled_winrate"] / PERCENT_PER_RATE,
        "slope": ours["length_slope"],
        "alpaca_slope": weights["np.tanh(std_delta_len)"],  # B minus A: the opposite sign
        "share": ours["share_a_not_longer"],
        "warnings": ours["length_warnings"],
    }


def _assert_same_fit(got: dict[str, float]) -> None:
    ridge_effect = abs(got["lc_unrounded"] - got["lc_no_ridge"])
    assert got["alpaca_raw"] == pytest.approx(got["raw"], abs=1e-12)
    assert abs(got["lc_no_ridge"] - got["alpaca_lc"]) <= ALPACA_SLACK
    assert abs(got["lc_unrounded"] - got["alpaca_lc"]) <= ridge_effect + ALPACA_SLACK
    assert got["slope"] == pytest.approx(-got["alpaca_slope"], rel=0.05)


def test_authors_gpt4_reviews_give_alpaca_evals_length_controlled_rate(monkeypatch, tmp_path):
    got = _compare(_authors_items(), monkeypatch, tmp_path)
    print({k: v for k, v in got.items() if k != "warnings"})
    _assert_same_fit(got)
    assert got["raw"] == pytest.approx(1.1874, abs=1e-4)  # (W - L) / N + 1 over the 1,030 items
    assert got["warnings"] == []


def test_a_almost_always_longer_gives_alpaca_evals_rate_and_warns(monkeypatch, tmp_path):
    got = _compare(_longer_a_items(), monkeypatch, tmp_path)
    print({k: v for k, v in got.items() if k != "warnings"})
    _assert_same_fit(got)
    assert got["share"] < 0.05
    assert got["warnings"][0].startswith("extrapolation:")


def test_extreme_change_rule_is_alpaca_evals():
    grid = np.linspace(0, 2, 41)  # raw rates 0, 0.05, ..., 2 (0%, 2.5%, ... 100%)
    lcs = np.linspace(0, 2, 401)  # hits every threshold of the band exactly
    for raw, lc in itertools.product(grid, lcs):
        theirs = glm.get_is_extreme_changes(PERCENT_PER_RATE * raw, PERCENT_PER_RATE * lc)
        assert is_extreme_change(raw, lc) == theirs, (raw, lc)
