"""The choices of Selective Reflection-Tuning and its ablations, as rules over score columns.

A rule decides, per row, whether the reflected variant replaces the current one. Rules are
vectorized over pandas columns and pure: same scores in, same choice out. Each rule says which
base score columns it reads (`reads`), so a mode's declaration can be checked at start-up against
the scores its phases compute (recycle.select.declarations).

    step 2 (instruction): compare (x_ins, y_ins) with (x0, y0)    -> columns ORIG_* vs INS_*
    step 4 (response):    compare (x1, y_res)   with (x1, y1)     -> columns PAIR1_* vs RES_*

A NaN score never wins a comparison, so a sample the student could not score keeps its current text.

Readings of the paper where the authors published no code (Selective Reflection-Tuning, Table 4;
their `get_select_data.py` covers only the selective rule):

- perplexity: step 2 keeps the candidate whose ppl(y|x) is higher (the harder pair, as IFD's
  numerator alone), step 4 the one whose ppl(y|x) is lower (the response the student finds more
  natural). Compared as loss_y_given_x, the log of ppl(y|x).
- ifd_only: IFD (higher wins) at both steps. rifd_only: r-IFD (lower wins) at both steps.
- coherence: the candidate whose x and y are closer in Sentence-BERT space wins, at both steps.
- random: a fair coin per (seed, sample, step).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recycle import columns as C

RuleFn = Callable[[pd.DataFrame, str, str, int], pd.Series]


@dataclass(frozen=True)
class Rule:
    """A named choice between the current pair and a candidate.

    Attributes:
        name: how the rule is called in messages and docs.
        reads: base score columns (recycle.columns) the rule reads for both prefixes.
        fn: (df, current prefix, candidate prefix, seed) -> boolean Series, True where the
            candidate wins.
    """

    name: str
    reads: tuple[str, ...]
    fn: RuleFn

    def __call__(self, df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
        return self.fn(df, current, candidate, seed)

    def __reduce_ex__(self, protocol: int) -> str | tuple:
        """Pickled by name when it is one of this module's rules, so that a copy (the plan a Ray
        worker is handed) is the very same rule: `rule is never` holds there as here."""
        if RULES.get(self.name) is self:
            return rule_named, (self.name,)
        return super().__reduce_ex__(protocol)


def _col(df: pd.DataFrame, prefix: str, base: str) -> pd.Series:
    name = C.scored(prefix, base)
    C.require_columns("select", df.columns, (name,))
    return df[name].astype(float)


def _compare(base: str, higher: bool) -> RuleFn:
    def fn(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
        new, old = _col(df, candidate, base), _col(df, current, base)
        return new > old if higher else new < old

    return fn


def _coin(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
    C.require_columns("select", df.columns, (C.SAMPLE_ID,))

    def flip(sid: str) -> bool:
        return hashlib.sha256(f"{seed}:{candidate}:{sid}".encode()).digest()[0] < 128

    return pd.Series([flip(s) for s in df[C.SAMPLE_ID]], index=df.index, dtype=bool)


def _const(value: bool) -> RuleFn:
    def fn(df: pd.DataFrame, current: str, candidate: str, seed: int = 0) -> pd.Series:
        return pd.Series(value, index=df.index, dtype=bool)

    return fn


# The candidate wins when its IFD is higher: a harder instruction (paper step 2).
higher_ifd = Rule("higher_ifd", (C.IFD,), _compare(C.IFD, higher=True))
# The candidate wins when its r-IFD is lower: a more informative response (paper step 4).
lower_rifd = Rule("lower_rifd", (C.RIFD,), _compare(C.RIFD, higher=False))
# Perplexity ablation: ppl(y|x) higher (step 2) / lower (step 4), compared as loss_y_given_x.
higher_ppl = Rule("higher_ppl", (C.LOSS_Y_GIVEN_X,), _compare(C.LOSS_Y_GIVEN_X, higher=True))
lower_ppl = Rule("lower_ppl", (C.LOSS_Y_GIVEN_X,), _compare(C.LOSS_Y_GIVEN_X, higher=False))
# Coherence ablation: x and y closer in Sentence-BERT space.
higher_coherence = Rule("higher_coherence", (C.COHERENCE,), _compare(C.COHERENCE, higher=True))
# Random ablation: a fair coin per (seed, sample, step), reproducible across runs and order.
coin = Rule("coin", (), _coin)
# The reflected variant always wins where it exists (recycle modes), or never (no reflection).
always = Rule("always", (), _const(True))
never = Rule("never", (), _const(False))
RULES = {r.name: r for r in (higher_ifd, lower_rifd, higher_ppl, lower_ppl, higher_coherence, coin,
                             always, never)}  # fmt: skip


def rule_named(name: str) -> Rule:
    """The rule of this module called `name` (how a pickled rule comes back)."""
    return RULES[name]


def as_bool(values: pd.Series) -> np.ndarray:
    """A boolean array from a possibly nullable column (missing -> False)."""
    return values.fillna(False).to_numpy(dtype=bool)
