"""Sentence-BERT embeddings of a plain Sentence-Transformers folder, run with transformers alone.

Importing sentence-transformers is slow (scikit-learn and more come with it; README, "Measured
defaults"), paid by the driver's start-up check and by every coherence actor. Most Sentence-BERT
models, the default all-MiniLM-L6-v2 among them, are a Transformer, a mean or CLS Pooling and an
optional Normalize: for that layout `PlainEmbedder` tokenizes, truncates, pools and normalizes as
SentenceTransformer does, with the same results (tests/unit/student/test_embedder.py compares them). Any other folder
(a Dense layer, a prompt, lower-casing, other pooling) or a hub id is loaded by SentenceTransformer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODULES = "sentence_transformers.models."
TRANSFORMER, POOLING, NORMALIZE = (MODULES + m for m in ("Transformer", "Pooling", "Normalize"))
POOLING_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
POOLING_NEUTRAL = {"word_embedding_dimension", "include_prompt"}  # keys that change nothing here


@dataclass(frozen=True)
class PlainLayout:
    """What a Transformer -> Pooling -> (Normalize) folder does to a text."""

    max_seq_length: int | None  # None: the tokenizer's and the model's limit
    pooling: str  # "mean" or "cls"
    normalize: bool


def _json(path: Path) -> Any:
    """The file's JSON value, {} when there is no file."""
    return json.loads(path.read_text()) if path.is_file() else {}


def plain_layout(folder: Path) -> PlainLayout | None:
    """The folder's layout when PlainEmbedder reproduces it exactly, else None."""
    modules = _json(folder / "modules.json")
    if not isinstance(modules, list) or not modules:
        return None
    types = [m.get("type") for m in modules]
    if types not in ([TRANSFORMER, POOLING], [TRANSFORMER, POOLING, NORMALIZE]):
        return None
    if modules[0].get("path") != "":
        return None
    pooling = _json(folder / modules[1].get("path", "") / "config.json")
    on = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    unknown = set(pooling) - POOLING_NEUTRAL - {k for k in pooling if k.startswith("pooling_mode_")}
    if (
        len(on) != 1
        or on[0] not in POOLING_MODES
        or unknown
        or not pooling.get("include_prompt", True)
    ):
        return None
    bert = _json(folder / "sentence_bert_config.json")
    st = _json(folder / "config_sentence_transformers.json")
    if bert.get("do_lower_case") or st.get("prompts") or st.get("default_prompt_name"):
        return None
    return PlainLayout(bert.get("max_seq_length"), POOLING_MODES[on[0]], len(types) == 3)


class PlainEmbedder:
    """`encode` of a plain Sentence-Transformers folder (see plain_layout), on one device."""

    def __init__(self, folder: Path, layout: PlainLayout, device: str | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(self.device).eval()
        limits = [self.tokenizer.model_max_length, self.model.config.max_position_embeddings]
        self.max_length = layout.max_seq_length or min(limits)
        self.layout = layout

    def _embed(self, texts: list[str]) -> Any:
        import torch

        enc = self.tokenizer(
            texts, padding=True, truncation="longest_first", max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)  # fmt: skip
        with torch.inference_mode():
            hidden = self.model(**enc).last_hidden_state  # (B, T, H)
        if self.layout.pooling == "cls":
            pooled = hidden[:, 0]  # (B, H)
        else:
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, H)
        if self.layout.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().cpu()

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        **_: Any,
    ) -> np.ndarray:
        """(N, D) float32 embeddings; texts are batched longest first, as SentenceTransformer does."""
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts = [
            self._embed([texts[i] for i in order[start : start + batch_size]])
            for start in range(0, len(texts), batch_size)
        ]
        emb = torch.cat(parts) if parts else torch.zeros((0, self.model.config.hidden_size))
        if normalize_embeddings:
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        out = np.empty_like(emb.numpy())
        out[order] = emb.numpy()
        return out


def load_sentence_model(path: str, device: str | None = None) -> Any:
    """PlainEmbedder for a plain local folder, else a SentenceTransformer of `path`."""
    folder = Path(path)
    layout = plain_layout(folder) if folder.is_dir() else None
    if layout is not None:
        return PlainEmbedder(folder, layout, device)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)
