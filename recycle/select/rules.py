"""The two choices of Selective Reflection-Tuning and its ablations, as rules over score columns.

A rule decides, per row, whether the reflected variant replaces the current one. Rules are
vectorized over pandas columns and pure: same scores in, same choice out.

    step 2 (instruction): compare (x_ins, y_ins) with (x0, y0)    -> columns ORIG_* vs INS_*
    step 4 (response):    compare (x1, y_res)   with (x1, y1)     -> columns PAIR1_* vs RES_*

A NaN score never wins a comparison, so a sample the student could not score keeps its current text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from recycle import columns as C

Rule = Callable[[pd.DataFrame, str, str, int], pd.Series]


def _col(df: pd.DataFrame, prefix: str, base: str) -> pd.Series:
    name = C.scored(prefix, base)
    C.require_columns("select", df.columns, (name,))
    return df[name].astype(float)


def higher_ifd(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    """The candidate wins when its IFD is higher: a harder instruction (paper step 2)."""
    return _col(df, candidate, C.IFD) > _col(df, current, C.IFD)


def lower_rifd(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    """The candidate wins when its r-IFD is lower: a more informative response (paper step 4)."""
    return _col(df, candidate, C.RIFD) < _col(df, current, C.RIFD)


def higher_ppl(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    """Perplexity ablation: the candidate wins when ppl(y|x) is higher (loss_y_given_x higher)."""
    return _col(df, candidate, C.LOSS_Y_GIVEN_X) > _col(df, current, C.LOSS_Y_GIVEN_X)


def lower_ppl(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    """Perplexity ablation on the response: the candidate wins when ppl(y|x) is lower."""
    return _col(df, candidate, C.LOSS_Y_GIVEN_X) < _col(df, current, C.LOSS_Y_GIVEN_X)


def higher_coherence(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    """Coherence ablation: the candidate wins when x and y are closer in Sentence-BERT space."""
    return _col(df, candidate, C.COHERENCE) > _col(df, current, C.COHERENCE)


def coin(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    """Random ablation: a fair coin per (seed, sample, step), reproducible across runs and order."""
    C.require_columns("select", df.columns, (C.SAMPLE_ID,))

    def flip(sid: str) -> bool:
        return hashlib.sha256(f"{seed}:{candidate}:{sid}".encode()).digest()[0] < 128

    return pd.Series([flip(s) for s in df[C.SAMPLE_ID]], index=df.index, dtype=bool)


# mode -> (rule of step 2, rule of step 4). `selective` is the paper's method.
MODE_RULES: dict[str, tuple[Rule, Rule]] = {
    "selective": (higher_ifd, lower_rifd),
    "ifd_only": (higher_ifd, higher_ifd),
    "rifd_only": (lower_rifd, lower_rifd),
    "perplexity": (higher_ppl, lower_ppl),
    "coherence": (higher_coherence, higher_coherence),
    "random": (coin, coin),
}


def as_bool(values: pd.Series) -> np.ndarray:
    """A boolean array from a possibly nullable column (missing -> False)."""
    return values.fillna(False).to_numpy(dtype=bool)
