"""The streaming Ray Data graph of each selection mode, composed from the run's selection plan.

    reflect instruction -> score phase 1 -> choose -> reflect response -> score phase 2 -> choose + filter

The two choices are the selection's own halves, composed by recycle.select.modes.select_reflected
(the one composition, also `recycle select`'s), each run as a Ray Data step handed the plan
(pipeline.choose). Each step runs only where the plan's declaration asks for it: the
teacher stages where the mode reflects, a student pool per phase with student scores, the
Sentence-BERT stage where a phase computes coherence. ifd_topk scores the originals only (then a
global top-k on the driver, see run.py).

With the report's Table 6 statistics on (`output.report_stats`), phase 1 also scores r-IFD of
(x0, y0) and Sentence-BERT actors after the last choice embed (x0, y0) and the final pair
(recycle.pipeline.stats): the statistics cost no extra student pass.

Teacher and student stages are actor pools in one streaming job, so they work on different
blocks at the same time: the input is cut into at least STREAM_BLOCKS blocks first (a small
input read as one block would otherwise go through the stages one after the other). Only the chosen (x1, y1) goes to response reflection: 2 prompts a sample.
"""

from __future__ import annotations

import math

import ray

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.config.selection import SelectionConfig
from recycle.pipeline.choose import choose_step
from recycle.pipeline.stats import coherence_pairs, planned
from recycle.rundir import LIGHT_CPUS
from recycle.select.declarations import (
    COHERENCE,
    IFD,
    IFD_WHERE_RIFD_WINS,
    PAIR_TEXT,
    RIFD,
    STUDENT_STATS,
    Phase,
)
from recycle.select.modes import Half, select_instruction, select_reflected
from recycle.select.plan import SelectionPlan, plan_selection
from recycle.student import Variant, score_dataset
from recycle.student.coherence import CoherenceScorer
from recycle.teacher.session import TeacherSession
from recycle.teacher.stages import reflect_instruction, reflect_response

STREAM_BLOCKS = 8  # at least this many blocks in the stream, so its stages overlap


def rows_per_block(n_rows: int, batch_size: int, block_rows: int) -> int:
    """Rows of a stream block: ~1/STREAM_BLOCKS of the input, at most `block_rows`, and whole
    student batches (`batch_size`) where a block holds more than one."""
    rows = max(1, min(block_rows, math.ceil(n_rows / STREAM_BLOCKS)))
    return rows // batch_size * batch_size if rows > batch_size else rows


def stream_blocks(ds: ray.data.Dataset, cfg: RecycleConfig) -> ray.data.Dataset:
    """`ds` (materialized) cut into blocks of `rows_per_block` rows; same rows, same order.

    Materialized here, before the stream: a split task inside it would hold a whole CPU that the
    actor pools (fitted to the cluster, see resources.py) need to start.
    """
    rows = rows_per_block(ds.count(), cfg.student.batch_size, cfg.ray.block_rows)
    return ds.repartition(target_num_rows_per_block=rows).materialize()


def phase_variants(phase: Phase) -> list[Variant]:
    """The student variants of a phase: one per pair with student scores, reading its text columns.

    A gated IFD (`ifd_where_rifd_wins`) is computed only where the pair's r-IFD beats (x1, y1)'s:
    in `selective` mode the only rows whose IFD the final filter reads. The r-IFD of (x1, y1) is
    scored only where the choice at step 2 did not carry it from phase 1 (`rifd_where_missing`:
    the original pair kept, with Table 6 on).
    """
    out = []
    for prefix in phase.prefixes_with(STUDENT_STATS):
        stats = phase.scores[prefix]
        instruction, input_, output = PAIR_TEXT[prefix]
        gated = IFD_WHERE_RIFD_WINS in stats
        out.append(
            Variant(
                prefix=prefix,
                instruction=instruction,
                input=input_,
                output=output,
                ifd=IFD in stats or gated,
                rifd=RIFD in stats,
                ifd_only_if_rifd_below=C.PAIR1 if gated else None,
                rifd_where_missing=prefix == C.PAIR1 and RIFD in stats,
            )  # fmt: skip
        )
    return out


def phase1_variants(mode: str) -> list[Variant]:
    """Step 2 compares the original and the instruction-reflected pair."""
    return phase_variants(plan_selection(SelectionConfig(mode=mode)).spec.phase1)


def phase2_variants(mode: str) -> list[Variant]:
    """Step 4 compares (x1, y1) and (x1, y_res); the filter needs IFD and r-IFD of the final pair.

    Scores of (x1, y1) that phase 1 computed for both candidates are carried over by the choice.
    """
    return phase_variants(plan_selection(SelectionConfig(mode=mode)).spec.phase2)


def coherence_graph(
    ds: ray.data.Dataset,
    cfg: RecycleConfig,
    prefixes: tuple[str, ...] = (),
    pairs: tuple[list, list] = ([], []),
) -> ray.data.Dataset:
    """Sentence-BERT coherence of x and y for the named variants, or for explicit (pairs, kept_only)."""
    named, kept_only = pairs
    return ds.map_batches(
        CoherenceScorer,
        fn_constructor_kwargs={
            "model": cfg.student.coherence_model,
            "pairs": [(p, *PAIR_TEXT[p]) for p in prefixes] + list(named),
            "kept_only": list(kept_only),
        },
        batch_format="pandas",
        batch_size=None,  # each stream block as it comes: a bigger batch would wait for more blocks
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=coherence_actors(cfg)),
        num_cpus=LIGHT_CPUS,
        udf_modifying_row_count=False,
    )


def coherence_actors(cfg: RecycleConfig) -> int:
    """Most Sentence-BERT actors: student.coherence_actors, else one per scoring actor of a phase.

    A coherence actor runs one CPU thread (its reservation is light, so a GPU cluster's student
    actors keep their CPUs); on a cluster whose GPU scorers outpace one core, the pool grows.
    """
    return cfg.student.coherence_actors or cfg.student.num_actors


def score_phase(ds: ray.data.Dataset, cfg: RecycleConfig, phase: Phase) -> ray.data.Dataset:
    """The student and Sentence-BERT scores a phase declares (nothing when it declares none)."""
    if phase.prefixes_with(STUDENT_STATS):
        ds = score_dataset(ds, cfg.student, phase_variants(phase), stage=phase.name)
    coherent = phase.prefixes_with((COHERENCE,))
    return coherence_graph(ds, cfg, coherent) if coherent else ds


def reflection_graph(
    ds: ray.data.Dataset,
    cfg: RecycleConfig,
    teacher: TeacherSession,
    plan: SelectionPlan | bool,
) -> ray.data.Dataset:
    """The reflections, scores and choices `plan` says over validated samples, with the Table 6
    statistics' columns when `plan.table6` (a bool: cfg.selection planned here, stats.planned)."""
    plan = planned(cfg, plan)
    ds = stream_blocks(ds, cfg)
    if plan.spec.reflect_instruction:
        ds = reflect_instruction(ds, teacher.config, teacher.gate_name, teacher.cache_dir)
    ds = score_phase(ds, cfg, plan.spec.phase1)

    def reflect_and_score_response(ds: ray.data.Dataset) -> ray.data.Dataset:
        if plan.spec.reflect_response:
            ds = reflect_response(
                ds, teacher.config, teacher.gate_name, teacher.cache_dir,
                instruction_column=C.INSTRUCTION_1, input_column=C.INPUT_1, output_column=C.OUTPUT_1,
            )  # fmt: skip
        # the coherence of (x1, y1) was carried over by the choice
        return score_phase(ds, cfg, plan.spec.phase2)

    # step 2 runs inside the response-reflection actors when there are some (same CPU reservation)
    step2_cpus = teacher.config.actor_num_cpus if plan.spec.reflect_response else LIGHT_CPUS

    def run_half(ds: ray.data.Dataset, half: Half) -> ray.data.Dataset:
        return choose_step(ds, half, plan, step2_cpus if half is select_instruction else LIGHT_CPUS)

    chosen = select_reflected(ds, plan, reflect_and_score_response, run_half)
    return table6_coherence(chosen, cfg, plan)


def ifd_graph(ds: ray.data.Dataset, cfg: RecycleConfig, plan: SelectionPlan) -> ray.data.Dataset:
    """IFD of the original samples only (the global top-k modes: no teacher)."""
    return table6_coherence(score_phase(stream_blocks(ds, cfg), cfg, plan.spec.phase1), cfg, plan)


def table6_coherence(
    ds: ray.data.Dataset, cfg: RecycleConfig, plan: SelectionPlan
) -> ray.data.Dataset:
    """The coherence of (x0, y0) and of the final pair for Table 6, when the run computes it."""
    pairs = coherence_pairs(plan.spec) if plan.table6 else ([], [])
    return coherence_graph(ds, cfg, pairs=pairs) if pairs[0] else ds
