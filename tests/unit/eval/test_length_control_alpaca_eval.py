"""recycle's length-controlled win rate against alpaca_eval 0.6.6's own `length_controlled_minimal`
fit (`alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate`), on the authors' real GPT-4
reviews (cherry_alpaca_5_per = A against alpaca = B, the five sets, 1,030 items) and on a seeded set
where A is almost always longer; and the extreme-change rule against `get_is_extreme_changes`.

Offline: the one download alpaca_eval makes on this path (`df_gamed.csv`, read only for its
instruction difficulties, which the minimal formula does not use) is answered by a local file of
zeros; no weights are saved (nothing is written into the installed package).

Tolerance. Both fit the same soft-label cross-entropy on the same feature,
tanh((len_A - len_B) / sd); they differ only in their penalties:

- recycle's documented ridge, SLOPE_PENALTY * N * b1² / 2 on the slope: its effect is measured on
  the same data, recycle's rate minus its rate fitted without the penalty;
- alpaca_eval's L1 on both coefficients, liblinear minimising ||w||_1 + C × cross-entropy with C
  picked by 5-fold CV: its effect at the C picked is, to first order, -H⁻¹ sign(w) / C on
  (b0, b1) (H the Fisher information), carried to the rate by 2 sigmoid'(b0).

recycle's unpenalized rate plus that L1 effect must equal alpaca_eval's within SECOND_ORDER
(5e-4 on the papers' scale, 0.025 AlpacaEval points: the L1 effect's second-order terms and
liblinear's stopping tolerance, 1e-4 of the first gradient; seen: 5e-6 on the authors' reviews,
2.4e-4 on the seeded set), so recycle's reported rate equals alpaca_eval's within
|ridge effect| + |L1 effect| + SECOND_ORDER.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recycle.eval.length_control import (
    PERCENT_PER_RATE,
    PREFERENCE,
    fit_logistic,
    is_extreme_change,
    lc_win_rate,
    length_controlled,
    length_feature,
)
from recycle.eval.pairwise_rule import LOSE, TIE, WIN, outcome
from recycle.eval.questions import BUILTIN_SETS
from tests.support.judge_reviews import authors_counts, recorded_scores, review_items

glm = pytest.importorskip("alpaca_eval.metrics.glm_winrate")
sklearn = pytest.importorskip("sklearn")

SECOND_ORDER = 5e-4  # papers' scale: the L1 effect's second-order terms and liblinear's tolerance
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


def alpaca_eval_fit(outcomes, answers_a, answers_b, monkeypatch, tmp_path) -> tuple[dict, object]:
    """alpaca_eval's metrics and its fitted model, A as the model (output_2), B as the baseline."""
    gamed = tmp_path / "df_gamed.csv"
    gamed.write_text("model,index,instruction_difficulty\n" +
                     "".join(f"none,{i},0.0\n" for i in range(len(outcomes))))  # fmt: skip

    def local_file(**kwargs):
        assert kwargs["filename"] == "df_gamed.csv"
        return str(gamed)

    fitted = []

    def keep_model(*args, **kwargs):
        fitted.append(fit(*args, **kwargs))
        return fitted[-1]

    fit = glm.fit_LogisticRegressionCV
    monkeypatch.setattr(glm, "hf_hub_download", local_file)
    monkeypatch.setattr(glm, "fit_LogisticRegressionCV", keep_model)
    annotations = [
        {"instruction": f"q{i}", "output_1": b, "output_2": a, "generator_1": "B",
         "generator_2": "A", "preference": ALPACA_PREFERENCE[o]}
        for i, (o, a, b) in enumerate(zip(outcomes, answers_a, answers_b, strict=True))
    ]  # fmt: skip
    with sklearn.config_context():  # the fit turns metadata routing on globally; undone here
        metrics = glm.get_length_controlled_winrate(
            annotations, glm_name="length_controlled_minimal", save_weights_dir=None
        )
    return metrics, fitted[0]


def l1_effect(x: np.ndarray, y: np.ndarray, c: float) -> float:
    """First-order change of the rate (papers' scale) that the penalty ||w||_1 / C adds to the
    unpenalized fit of x (N,), y (N,)."""
    beta = fit_logistic(x, y, penalty=0.0)  # (2,)
    design = np.stack([np.ones_like(x), x], axis=1)  # (N, 2)
    p = 1 / (1 + np.exp(-(design @ beta)))  # (N,)
    fisher = design.T @ (design * (p * (1 - p))[:, None])  # (2, 2)
    shift = -np.linalg.solve(fisher, np.sign(beta) / c)  # (2,)
    s = 1 / (1 + np.exp(-beta[0]))
    return float(2 * s * (1 - s) * shift[0])


def _compare(items, monkeypatch, tmp_path) -> dict:
    outcomes, answers_a, answers_b = items
    len_a, len_b = [len(a) for a in answers_a], [len(b) for b in answers_b]
    ours = length_controlled(outcomes, len_a, len_b, samples=0)
    metrics, model = alpaca_eval_fit(outcomes, answers_a, answers_b, monkeypatch, tmp_path)
    x = length_feature(len_a, len_b)
    y = np.array([PREFERENCE[o] for o in outcomes])
    weights = dict(zip(model.feature_names_in_, model.coef_[0], strict=True))
    lc, lc_no_ridge = lc_win_rate(x, y), lc_win_rate(x, y, penalty=0.0)
    return {
        "raw": 2 * y.mean(),
        "alpaca_raw": metrics["win_rate"] / PERCENT_PER_RATE,
        "lc": lc,
        "alpaca_lc": metrics["length_controlled_winrate"] / PERCENT_PER_RATE,
        "ridge_effect": lc - lc_no_ridge,
        "l1_effect": l1_effect(x, y, model.C_[0]),
        "lc_no_ridge": lc_no_ridge,
        "alpaca_c": model.C_[0],
        "reported": ours["win_rate_lc"],
        "slope": ours["length_slope"],
        "alpaca_slope": weights["np.tanh(std_delta_len)"],  # B minus A: the opposite sign
        "share": ours["share_a_not_longer"],
        "warnings": ours["length_warnings"],
    }


def _assert_same_fit(got: dict) -> None:
    print({k: v for k, v in got.items() if k != "warnings"})
    assert got["alpaca_raw"] == pytest.approx(got["raw"], abs=1e-12)
    assert abs(got["lc_no_ridge"] + got["l1_effect"] - got["alpaca_lc"]) <= SECOND_ORDER
    allowed = abs(got["ridge_effect"]) + abs(got["l1_effect"]) + SECOND_ORDER
    assert abs(got["lc"] - got["alpaca_lc"]) <= allowed
    assert got["reported"] == round(got["lc"], 4)
    assert got["alpaca_slope"] < 0 < got["slope"]  # longer A preferred, in both orientations


def test_authors_gpt4_reviews_give_alpaca_evals_length_controlled_rate(monkeypatch, tmp_path):
    got = _compare(_authors_items(), monkeypatch, tmp_path)
    _assert_same_fit(got)
    w, _, lose = authors_counts([s for name in BUILTIN_SETS for s in recorded_scores(name)])
    assert got["raw"] == pytest.approx((w - lose) / 1030 + 1)  # the authors' own tally
    assert got["reported"] == 1.1638 and got["alpaca_lc"] == pytest.approx(1.1625, abs=1e-4)
    assert got["share"] == 0.3155 and got["warnings"] == []  # A not longer in 325 of 1,030


def test_a_almost_always_longer_gives_alpaca_evals_rate_and_warns(monkeypatch, tmp_path):
    got = _compare(_longer_a_items(), monkeypatch, tmp_path)
    _assert_same_fit(got)
    assert got["share"] < 0.05
    assert got["warnings"][0].startswith("extrapolation:")


def test_extreme_change_rule_is_alpaca_evals():
    grid = np.linspace(0, 2, 41)  # raw rates 0, 0.05, ..., 2 (0%, 2.5%, ... 100%)
    lcs = np.linspace(0, 2, 401)  # hits every threshold of the band exactly
    for raw, lc in itertools.product(grid, lcs):
        theirs = glm.get_is_extreme_changes(PERCENT_PER_RATE * raw, PERCENT_PER_RATE * lc)
        assert is_extreme_change(raw, lc) == theirs, (raw, lc)
