"""Start-up checks of a mode's declaration: every score its rules and filter read is computed.

Run before any request (`recycle run`, `recycle select`): a declaration whose step-4 rule reads,
say, the perplexity of (x1, y_res) while phase 2 computes only r-IFD would otherwise fail inside
the first choose batch, after the teacher has been paid.
"""

from __future__ import annotations

from recycle import columns as C
from recycle.errors import ConfigError
from recycle.select.declarations import (
    IFD,
    IFD_WHERE_RIFD_WINS,
    PAIR_NAME,
    PHASE1_PAIRS,
    PHASE2_PAIRS,
    RIFD,
    STAT_OF,
    ModeSpec,
    Phase,
)
from recycle.select.rules import always, lower_rifd, never


def _missing(spec: ModeSpec, phase: Phase, prefix: str, stat: str, who: str, base: str) -> str:
    return (
        f"selection mode {spec.name!r}: {who} reads {base} of {prefix} {PAIR_NAME[prefix]}, "
        f"which {phase.name or 'its phase'} does not compute; add {stat!r} to that phase's scores "
        f"for {prefix}"
    )


def pair1_has(spec: ModeSpec, stat: str) -> bool:
    """Whether (x1, y1) carries `stat`: computed in phase 2, or in phase 1 for every pair step 2 may pick."""
    if spec.phase2.computes(C.PAIR1, stat):
        return True
    picks = [
        p
        for p, can in ((C.ORIG, spec.step2 is not always), (C.INS, spec.step2 is not never))
        if can
    ]
    return all(spec.phase1.computes(p, stat) for p in picks)


def _rule_problems(spec: ModeSpec) -> list[str]:
    out = []
    for base in spec.step2.reads:
        for prefix in PHASE1_PAIRS:
            if not spec.phase1.computes(prefix, STAT_OF[base]):
                who = f"the step-2 rule {spec.step2.name}"
                out.append(_missing(spec, spec.phase1, prefix, STAT_OF[base], who, base))
    for base in spec.step4.reads:
        who = f"the step-4 rule {spec.step4.name}"
        if not spec.phase2.computes(C.RES, STAT_OF[base]):
            out.append(_missing(spec, spec.phase2, C.RES, STAT_OF[base], who, base))
        if not pair1_has(spec, STAT_OF[base]):
            out.append(_missing(spec, spec.phase2, C.PAIR1, STAT_OF[base], who, base))
    return out


def _filter_problems(spec: ModeSpec) -> list[str]:
    if not spec.final_filter:
        return []
    out, who = [], "the final filter"
    for stat in (IFD, RIFD):
        if not pair1_has(spec, stat):
            out.append(_missing(spec, spec.phase2, C.PAIR1, stat, who, stat))
    if spec.step4 is never:
        return out
    gated = spec.phase2.computes(C.RES, IFD_WHERE_RIFD_WINS) and spec.step4 is lower_rifd
    if not (spec.phase2.computes(C.RES, IFD) or gated):
        out.append(_missing(spec, spec.phase2, C.RES, IFD, who, IFD))
    if not spec.phase2.computes(C.RES, RIFD):
        out.append(_missing(spec, spec.phase2, C.RES, RIFD, who, RIFD))
    return out


def _shape_problems(spec: ModeSpec) -> list[str]:
    name, out = spec.name, []
    if (spec.step2 is not never) != spec.reflect_instruction:
        out.append(
            f"selection mode {name!r}: step 2 must be `never` exactly when the instruction is not reflected"
        )
    if (spec.step4 is not never) != spec.reflect_response:
        out.append(
            f"selection mode {name!r}: step 4 must be `never` exactly when the response is not reflected"
        )
    for phase, allowed in ((spec.phase1, PHASE1_PAIRS), (spec.phase2, PHASE2_PAIRS)):
        for prefix in set(phase.scores) - set(allowed):
            out.append(
                f"selection mode {name!r}: {phase.name} scores {prefix}, not one of {', '.join(allowed)}"
            )
    if spec.phase1.computes(C.INS, IFD) and not spec.reflect_instruction:
        out.append(
            f"selection mode {name!r}: {spec.phase1.name} scores ins_ but nothing reflects the instruction"
        )
    if spec.phase2.scores and not spec.reflect_response:
        out.append(
            f"selection mode {name!r}: {spec.phase2.name} scores after a response reflection that does not happen"
        )
    if spec.global_topk and spec.needs_teacher:
        out.append(f"selection mode {name!r}: a global top-k runs without the teacher")
    if spec.phase2.computes(C.RES, IFD_WHERE_RIFD_WINS) and not (
        spec.phase2.computes(C.RES, RIFD) and spec.phase2.computes(C.PAIR1, RIFD)
    ):
        out.append(
            f"selection mode {name!r}: {IFD_WHERE_RIFD_WINS} needs {RIFD} of res_ and pair1_ in the same phase"
        )
    return out  # fmt: skip


def mode_problems(spec: ModeSpec) -> list[str]:
    """Every inconsistency of a declaration, as messages; [] when the mode can run."""
    return _shape_problems(spec) + _rule_problems(spec) + _filter_problems(spec)


def check_mode(spec: ModeSpec) -> None:
    """Refuse a declaration that cannot run, before any request.

    Raises:
        ConfigError: naming each score a rule or the filter reads and the phase that lacks it.
    """
    problems = mode_problems(spec)
    if problems:
        raise ConfigError("; ".join(problems))
