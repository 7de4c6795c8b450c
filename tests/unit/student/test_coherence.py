"""Coherence: cosine of x and y embeddings, each distinct text embedded once, final pair on kept rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from recycle import columns as C
from recycle.student.coherence import CoherenceScorer, coherence


class FakeEmbedder:
    """Unit vectors from the text's letters; records what it was asked to embed."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, **_):
        self.seen += list(texts)
        vecs = np.array([[len(t), t.count("a") + 1.0, t.count("e") + 1.0] for t in texts])
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _cos(a: str, b: str) -> float:
    e = FakeEmbedder().encode([a, b])
    return float(e[0] @ e[1])


def test_each_distinct_text_is_embedded_once_and_values_follow_their_pair():
    emb = FakeEmbedder()
    xs, ys = ["banana", "apple", "", "banana"], ["pear", "banana", "x", "tree"]
    got = coherence(emb, xs, ys)
    assert sorted(emb.seen) == sorted({"banana", "apple", "pear", "tree"})
    assert math.isnan(got[2])
    for i in (0, 1, 3):
        assert got[i] == np.float64(_cos(xs[i], ys[i]))


def test_scorer_embeds_the_final_pair_on_kept_rows_only():
    scorer = CoherenceScorer.__new__(CoherenceScorer)
    scorer.embedder, scorer.kept_only = FakeEmbedder(), frozenset({"final_"})
    scorer.pairs = [
        ("orig_", C.INSTRUCTION, C.INPUT, C.OUTPUT),
        ("final_", C.FINAL_INSTRUCTION, C.FINAL_INPUT, C.FINAL_OUTPUT),
    ]
    batch = pd.DataFrame(
        {
            C.INSTRUCTION: ["add", "bake"], C.INPUT: ["", ""], C.OUTPUT: ["sum", "cake"],
            C.FINAL_INSTRUCTION: ["add", "bake it"], C.FINAL_INPUT: ["", ""],
            C.FINAL_OUTPUT: ["the sum", "a cake"], C.OUTCOME: [C.OUTCOME_KEPT, C.OUTCOME_DROPPED],
        }
    )  # fmt: skip
    out = scorer(batch)
    assert out["orig_coherence"].tolist() == [_cos("add", "sum"), _cos("bake", "cake")]
    assert out["final_coherence"][0] == _cos("add", "the sum") and math.isnan(
        out["final_coherence"][1]
    )
    assert scorer.embedder.seen.count("add") == 1 and "bake it" not in scorer.embedder.seen
