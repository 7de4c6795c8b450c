"""Which (x, y) pairs of a row to score, and which statistics: the parameter of every scoring call.

A `Variant` names the columns a pair is read from and the prefix of the columns its scores are
written to. `ifd=True` computes loss_y_given_x, loss_y, ifd and y_tokens; `rifd=True` computes
loss_x_given_y, loss_x, rifd and x_tokens; every variant also writes score_error and
score_truncated. Nothing a variant does not ask for is computed.

    orig = Variant(prefix="orig_")                               # instruction/input/output
    ins = Variant(prefix="ins_", instruction=C.NEW_INSTRUCTION,
                  input=C.NEW_INPUT, output=C.NEW_OUTPUT)        # ifd only (the default)
    ins.column(C.IFD) == "ins_ifd"

Phase 2 of the selective pipeline gates the IFD of the response-reflected pair on its r-IFD
winning step 4 (`ifd_only_if_rifd_below`), so an IFD that no rule reads is never computed:

    pair1 = Variant(prefix="pair1_", instruction=..., input=..., output=..., ifd=False, rifd=True)
    res = Variant(prefix="res_", instruction=..., input=..., output=C.BETTER_OUTPUT,
                  rifd=True, ifd_only_if_rifd_below="pair1_")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recycle import columns as C
from recycle.errors import ConfigError

IFD_COLUMNS = (C.LOSS_Y_GIVEN_X, C.LOSS_Y, C.IFD, C.Y_TOKENS)
RIFD_COLUMNS = (C.LOSS_X_GIVEN_Y, C.LOSS_X, C.RIFD, C.X_TOKENS)
COMMON_COLUMNS = (C.SCORE_ERROR, C.SCORE_TRUNCATED)
FLOAT_COLUMNS = (C.LOSS_Y_GIVEN_X, C.LOSS_Y, C.IFD, C.LOSS_X_GIVEN_Y, C.LOSS_X, C.RIFD)
INT_COLUMNS = (C.Y_TOKENS, C.X_TOKENS)


@dataclass(frozen=True)
class Variant:
    """One (x, y) pair of each row and the statistics wanted for it.

    Attributes:
        prefix: prepended to every output column name ("" writes the bare names, e.g. `ifd`).
        instruction: column holding the instruction.
        input: column holding the optional input (x = instruction + "\\n" + input when it is
            non-empty), or None when the pair has no input column.
        output: column holding the response y.
        ifd: compute IFD(y|x) = exp(loss_y_given_x - loss_y).
        rifd: compute r-IFD(x|y) = exp(loss_x_given_y - loss_x).
        ifd_only_if_rifd_below: prefix of another variant of the same call (with rifd=True):
            compute this variant's IFD only on rows where its r-IFD is below that variant's,
            i.e. where step 4 of Selective Reflection-Tuning picks it, the only rows whose IFD
            the final filter reads. Other rows get NaN and a `not_needed` reason. Needs rifd=True.
        rifd_where_missing: score the r-IFD only on rows whose losses the given columns do not
            already hold (finite `{prefix}loss_x_given_y` and `{prefix}loss_x`, e.g. carried
            forward by a choice from an earlier phase); the other rows keep those losses, and
            their r-IFD, tokens and errors are derived from them as if scored here. Needs rifd=True.
    """

    prefix: str = ""
    instruction: str = C.INSTRUCTION
    input: str | None = C.INPUT
    output: str = C.OUTPUT
    ifd: bool = True
    rifd: bool = False
    ifd_only_if_rifd_below: str | None = None
    rifd_where_missing: bool = False

    def __post_init__(self) -> None:
        if not (self.ifd or self.rifd):
            raise ConfigError(
                f"variant {self.prefix!r} asks for neither ifd nor rifd; drop it or set one"
            )
        if self.ifd_only_if_rifd_below is not None and not (self.ifd and self.rifd):
            raise ConfigError(
                f"variant {self.prefix!r}: ifd_only_if_rifd_below needs ifd=True and rifd=True"
            )
        if self.rifd_where_missing and not self.rifd:
            raise ConfigError(f"variant {self.prefix!r}: rifd_where_missing needs rifd=True")

    def column(self, base: str) -> str:
        """Output column of a base name, e.g. column("ifd") -> "orig_ifd"."""
        return f"{self.prefix}{base}"

    @property
    def reads(self) -> tuple[str, ...]:
        """Columns this variant reads."""
        return tuple(c for c in (self.instruction, self.input, self.output) if c is not None)

    @property
    def carried(self) -> tuple[str, ...]:
        """Columns holding losses scored earlier that this variant reuses where present."""
        if not self.rifd_where_missing:
            return ()
        return (self.column(C.LOSS_X_GIVEN_Y), self.column(C.LOSS_X))

    @property
    def writes(self) -> tuple[str, ...]:
        """Columns this variant writes."""
        bases = (
            (IFD_COLUMNS if self.ifd else ()) + (RIFD_COLUMNS if self.rifd else ()) + COMMON_COLUMNS
        )
        return tuple(self.column(b) for b in bases)


def check_variants(variants: Sequence[Variant]) -> tuple[Variant, ...]:
    """Validate a list of variants: at least one, and no two writing the same column.

    Raises:
        ConfigError: empty list or clashing output columns (give each variant its own prefix).
    """
    if not variants:
        raise ConfigError("no variant to score; pass at least one Variant")
    seen: dict[str, str] = {}
    for v in variants:
        for col in v.writes:
            if col in seen:
                raise ConfigError(
                    f"variants {seen[col]!r} and {v.prefix!r} both write {col!r}; give each a distinct prefix"
                )
            seen[col] = v.prefix
    gates = {v.prefix: v for v in variants if v.rifd}
    for v in variants:
        gate = v.ifd_only_if_rifd_below
        if gate is not None and (gate not in gates or gate == v.prefix):
            raise ConfigError(
                f"variant {v.prefix!r} gates its IFD on {gate!r}, which is not another variant with rifd=True here"
            )
    return tuple(variants)


def columns_carried(variants: Iterable[Variant]) -> tuple[str, ...]:
    """Every column of losses the variants reuse where present (optional inputs), once."""
    return tuple(dict.fromkeys(c for v in variants for c in v.carried))


def columns_read(variants: Iterable[Variant]) -> tuple[str, ...]:
    """Every column the variants read, once, in first-seen order."""
    return tuple(dict.fromkeys(c for v in variants for c in v.reads))
