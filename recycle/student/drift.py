"""Template drift: a run whose IFD values sit mostly above 1. Pure function.

IFD(y|x) = ppl(y|x) / ppl(y) is below 1 when the instruction helps the student predict the
response, which it does for nearly every real sample when the prompt template is the one the
student was trained with. When most values are above 1, the usual cause is a template the student
does not know (Cherry_LLM issue 22: every IFD above 1 with ChatML on a model tuned without it; the
authors: an unfamiliar template raises every score), and the IFD filter (keep IFD < 1) then
throws away most of the data for a reason that has nothing to do with the data.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

DRIFT_SHARE = 0.5  # warn when more than this share of the scored IFD values is above 1
DRIFT_MIN_VALUES = 20  # fewer scored values say nothing


def share_above_one(ifd: Iterable[float]) -> tuple[float, int]:
    """(share of the finite IFD values above 1, number of finite values); (nan, 0) when none."""
    values = np.asarray([v for v in ifd if v is not None], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), 0
    return float((values > 1.0).mean()), int(len(values))


def drift_warning(
    ifd: Iterable[float],
    template: str,
    share: float = DRIFT_SHARE,
    min_values: int = DRIFT_MIN_VALUES,
) -> str:
    """The warning to show when most IFD values are above 1, else "".

    Args:
        ifd: the run's IFD values (NaN and None are skipped).
        template: the student template in use (student.template), named in the warning.
        share: warn above this share of values above 1.
        min_values: no warning on fewer finite values.
    """
    above, n = share_above_one(ifd)
    if n < min_values or not above > share:
        return ""
    return (
        f"template drift: {above:.0%} of {n} IFD values are above 1 with student.template="
        f"{template!r}. IFD sits below 1 for nearly every sample when the template is the one "
        "the student was trained with; check that student.template matches the student "
        "(e.g. 'chat' for a chat-tuned model, 'vicuna' for the papers' Vicuna-format students), "
        "or the IFD < 1 filter drops most of the data (Cherry_LLM issue 22)."
    )
