"""Selection modes as one table: what each mode reflects, scores, chooses and filters.

Each mode is one `ModeSpec` in `MODES`, looked up by name in one place: the constructor of a
run's selection plan (plan.py), which the pipeline graph, the choose adapters, `recycle select`,
the statistics, pre-flight and the benchmarks are handed; nothing else branches on a mode's name.
Adding a mode is one declaration here (plus its rule in rules.py if new) and a test.

A declaration is checked before any request (`check_mode`): a rule or the final filter that
reads a score no phase computes is refused with the score and the phase named.

    mode                 teacher calls   student phases      step 2 / step 4            filter
    selective            2               ifd | rifd, ifd*    higher_ifd / lower_rifd    yes
    recycle              2               -                   always / always            no
    recycle_instruction  1 (instruction) -                   always / -                 no
    recycle_response     1 (response)    -                   - / always                 no
    ifd_topk             0               ifd of (x0, y0)     global top k by IFD        IFD < 1
    perplexity           2               ifd | rifd, ifd     higher_ppl / lower_ppl     yes
    ifd_only             2               ifd | rifd, ifd     higher_ifd / higher_ifd    yes
    rifd_only            2               ifd,rifd | ifd,rifd lower_rifd / lower_rifd    yes
    coherence            2  (+ embedder) ifd | rifd, ifd     higher_coherence x2        yes
    random               2               ifd | rifd, ifd     coin / coin                yes

    (* selective computes IFD of (x1, y_res) only where y_res wins on r-IFD: the only rows whose
    IFD the final filter reads.)

Readings of the papers where the authors published no code are documented on each declaration
(`reading`) and in rules.py; the README's mode table repeats them. Two more apply to every mode
that scores: coherence uses `sentence-transformers/all-MiniLM-L6-v2` (`student.coherence_model`;
the paper names only Sentence-BERT), and the student scores in bfloat16 on GPU by default while
the authors' `data_analysis.py` loaded the model in float32: `student.dtype=float32` matches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from recycle import columns as C
from recycle.errors import ConfigError
from recycle.select.rules import (
    Rule,
    always,
    coin,
    higher_coherence,
    higher_ifd,
    higher_ppl,
    lower_ppl,
    lower_rifd,
    never,
)

# What a phase can compute for a pair: the student's two statistics, Sentence-BERT coherence, and
# the student's IFD restricted to the rows where the pair's r-IFD beats (x1, y1)'s.
IFD, RIFD, COHERENCE = C.IFD, C.RIFD, C.COHERENCE
IFD_WHERE_RIFD_WINS = "ifd_where_rifd_wins"
STUDENT_STATS = (IFD, RIFD, IFD_WHERE_RIFD_WINS)
# The statistic that writes each base score column a rule can read.
STAT_OF = {
    C.IFD: IFD, C.LOSS_Y_GIVEN_X: IFD, C.LOSS_Y: IFD,
    C.RIFD: RIFD, C.LOSS_X_GIVEN_Y: RIFD, C.LOSS_X: RIFD,
    C.COHERENCE: COHERENCE,
}  # fmt: skip
# The text columns (instruction, input, output) of each pair, and how messages name it.
PAIR_TEXT = {
    C.ORIG: (C.INSTRUCTION, C.INPUT, C.OUTPUT),
    C.INS: (C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT),
    C.PAIR1: (C.INSTRUCTION_1, C.INPUT_1, C.OUTPUT_1),
    C.RES: (C.INSTRUCTION_1, C.INPUT_1, C.BETTER_OUTPUT),
}
PAIR_NAME = {C.ORIG: "(x0, y0)", C.INS: "(x_ins, y_ins)", C.PAIR1: "(x1, y1)", C.RES: "(x1, y_res)"}
PHASE1_PAIRS, PHASE2_PAIRS = (C.ORIG, C.INS), (C.PAIR1, C.RES)


@dataclass(frozen=True)
class Phase:
    """One scoring pass of the pipeline: the statistics it computes for each pair (by prefix)."""

    name: str = ""
    scores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def computes(self, prefix: str, stat: str) -> bool:
        """Whether this phase writes `stat` for the pair `prefix`."""
        return stat in self.scores.get(prefix, ())

    def prefixes_with(self, stats: tuple[str, ...]) -> tuple[str, ...]:
        """The pairs for which this phase computes any of `stats`, in declaration order."""
        return tuple(p for p, s in self.scores.items() if set(s) & set(stats))


NO_PHASE = Phase()


@dataclass(frozen=True)
class ModeSpec:
    """Everything the pipeline needs to know about one selection mode.

    Attributes:
        name: the value of `selection.mode`.
        summary: one line for docs and messages.
        reflect_instruction / reflect_response: which teacher calls a sample costs.
        step2: rule choosing (x_ins, y_ins) over (x0, y0); `never` keeps (x0, y0).
        step4: rule choosing (x1, y_res) over (x1, y1); `never` keeps (x1, y1).
        phase1: scores computed after instruction reflection (pairs orig_, ins_).
        phase2: scores computed after response reflection (pairs pair1_, res_).
        final_filter: the authors' filter (response reflected, IFD < 1, r-IFD < 1) applies.
        global_topk: a global top-k by IFD of the originals on the driver (ifd_topk), no teacher.
        reading: how the mode reads the papers where the authors published no code ("" if they did).
    """

    name: str
    summary: str
    reflect_instruction: bool
    reflect_response: bool
    step2: Rule
    step4: Rule
    phase1: Phase = NO_PHASE
    phase2: Phase = NO_PHASE
    final_filter: bool = False
    global_topk: bool = False
    reading: str = ""

    @property
    def teacher_calls(self) -> int:
        """Teacher requests per sample (before retries of unparseable answers)."""
        return int(self.reflect_instruction) + int(self.reflect_response)

    @property
    def needs_teacher(self) -> bool:
        return self.teacher_calls > 0

    @property
    def student_phases(self) -> tuple[Phase, ...]:
        """The phases that run the student (each is one pool of student actors)."""
        return tuple(p for p in (self.phase1, self.phase2) if p.prefixes_with(STUDENT_STATS))

    @property
    def needs_student(self) -> bool:
        return bool(self.student_phases)

    @property
    def needs_embedder(self) -> bool:
        return any(p.prefixes_with((COHERENCE,)) for p in (self.phase1, self.phase2))


_PHASE1_IFD = Phase("score_phase1", {C.ORIG: (IFD,), C.INS: (IFD,)})
_PHASE2_FULL = Phase("score_phase2", {C.PAIR1: (RIFD,), C.RES: (IFD, RIFD)})
_ABLATION = "Selective Reflection-Tuning Table 4 ablation; the authors published no code for it: "

MODES: dict[str, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec(
            "selective", "the paper's method: step 2 by IFD, step 4 by r-IFD, then the filter",
            True, True, higher_ifd, lower_rifd, _PHASE1_IFD,
            Phase("score_phase2", {C.PAIR1: (RIFD,), C.RES: (IFD_WHERE_RIFD_WINS, RIFD)}),
            final_filter=True,
        ),
        ModeSpec(
            "recycle", "Reflection-Tuning: (x_ins, y_ins), then its reflected response; no student",
            True, True, always, always,
        ),
        ModeSpec(
            "recycle_instruction", "Table 4 'Reflect on Ins.': (x_ins, y_ins) always; no student",
            True, False, always, never,
            reading="the instruction-reflected pair wherever the teacher's answer parsed, else "
            "(x0, y0); no selection, no filter, as `recycle` does for both steps",
        ),
        ModeSpec(
            "recycle_response", "Table 4 'Reflect on Res.': (x0, y_res of (x0, y0)); no student",
            False, True, never, always,
            reading="the response reflection of the original pair wherever it parsed, else "
            "(x0, y0); no selection, no filter, as `recycle` does for both steps",
        ),
        ModeSpec(
            "ifd_topk", "Cherry LLM: no teacher; drop IFD >= 1, keep the top k% / N by IFD",
            False, False, never, never, Phase("score_ifd", {C.ORIG: (IFD,)}), global_topk=True,
        ),
        ModeSpec(
            "perplexity", "ablation: ppl(y|x) higher at step 2, lower at step 4, then the filter",
            True, True, higher_ppl, lower_ppl, _PHASE1_IFD, _PHASE2_FULL, final_filter=True,
            reading=_ABLATION + "step 2 keeps the pair with the higher ppl(y|x) (the harder one, "
            "IFD's numerator alone), step 4 the response with the lower ppl(y|x)",
        ),
        ModeSpec(
            "ifd_only", "ablation: IFD (higher wins) at both steps, then the filter",
            True, True, higher_ifd, higher_ifd, _PHASE1_IFD, _PHASE2_FULL, final_filter=True,
            reading=_ABLATION + "IFD decides both steps, the higher winning as at step 2",
        ),
        ModeSpec(
            "rifd_only", "ablation: r-IFD (lower wins) at both steps, then the filter",
            True, True, lower_rifd, lower_rifd,
            Phase("score_phase1", {C.ORIG: (IFD, RIFD), C.INS: (IFD, RIFD)}),
            Phase("score_phase2", {C.RES: (IFD, RIFD)}),  # r-IFD of (x1, y1) comes from phase 1
            final_filter=True,
            reading=_ABLATION + "r-IFD decides both steps, the lower winning as at step 4",
        ),
        ModeSpec(
            "coherence", "ablation: Sentence-BERT coherence of x and y (higher wins) at both steps",
            True, True, higher_coherence, higher_coherence,
            Phase("score_phase1", {C.ORIG: (IFD, COHERENCE), C.INS: (IFD, COHERENCE)}),
            Phase("score_phase2", {C.PAIR1: (RIFD,), C.RES: (IFD, RIFD, COHERENCE)}),
            final_filter=True,
            reading=_ABLATION + "cosine similarity of the embeddings of x and y by "
            "sentence-transformers/all-MiniLM-L6-v2 (the paper names Sentence-BERT, not the "
            "model); the more coherent pair wins at both steps",
        ),
        ModeSpec(
            "random", "ablation: a fair coin at both steps, then the filter",
            True, True, coin, coin, _PHASE1_IFD, _PHASE2_FULL, final_filter=True,
            reading=_ABLATION + "a fair coin per (selection.seed, sample, step)",
        ),
    )
}  # fmt: skip


def mode_names() -> tuple[str, ...]:
    """Every known `selection.mode`, in declaration order."""
    return tuple(MODES)


def mode_spec(name: str) -> ModeSpec:
    """The declaration of a mode.

    Raises:
        ConfigError: unknown mode (the message lists the known ones).
    """
    if name not in MODES:
        raise ConfigError(f"unknown selection.mode {name!r}; use one of {', '.join(MODES)}")
    return MODES[name]


def with_table6(spec: ModeSpec) -> ModeSpec:
    """The mode as run when the report's Table 6 statistics are on (`output.report_stats`).

    Phase 1 also computes IFD and r-IFD of (x0, y0), what the original data's row needs; the
    final pair's row is read from the scores the choices carry forward. A mode whose phases do
    not score the final pair (no student) is returned unchanged: its statistics are computed
    after the run (`recycle.pipeline.stats`).
    """
    if not spec.needs_student:
        return spec
    phase1 = dict(spec.phase1.scores)
    phase1[C.ORIG] = tuple(dict.fromkeys((*phase1.get(C.ORIG, ()), IFD, RIFD)))
    return replace(spec, phase1=Phase(spec.phase1.name, phase1))
