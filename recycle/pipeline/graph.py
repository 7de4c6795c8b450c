"""The streaming Ray Data graph of each selection mode, composed from the library's stages.

    selective (and ablations):
      reflect instruction -> score phase 1 -> choose -> reflect response -> score phase 2 -> choose + filter
    recycle:   reflect instruction -> choose (always) -> reflect response -> choose (always)
    ifd_topk:  score the originals (then a global top-k on the driver, see run.py)

Teacher and student stages are actor pools in one streaming job, so they work on different
blocks at the same time. Only the chosen (x1, y1) goes to response reflection: 2 prompts a sample.
"""

from __future__ import annotations

import ray

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.pipeline.choose import choose_instruction_batch, choose_response_batch
from recycle.student import Variant, score_dataset
from recycle.student.coherence import CoherenceScorer
from recycle.teacher.session import TeacherSession
from recycle.teacher.stages import reflect_instruction, reflect_response

LIGHT_CPUS = 0.1  # pure pandas steps: they must never wait behind the student for a CPU


def phase1_variants(mode: str) -> list[Variant]:
    """Step 2 compares the original and the instruction-reflected pair."""
    rifd = mode in ("rifd_only",)
    return [
        Variant(prefix=C.ORIG, rifd=rifd),
        Variant(
            prefix=C.INS,
            instruction=C.NEW_INSTRUCTION,
            input=C.NEW_INPUT,
            output=C.NEW_OUTPUT,
            rifd=rifd,
        ),
    ]


def phase2_variants(mode: str) -> list[Variant]:
    """Step 4 compares r-IFD of (x1, y1) and (x1, y_res); the filter needs IFD of the final pair.

    IFD of (x1, y1) is not recomputed: it is the phase-1 IFD of whichever pair step 2 chose. In
    `selective` mode IFD of (x1, y_res) is needed only where y_res wins on r-IFD, so the scorer
    computes it only there; the ablations whose rule reads it get it for every row.
    """
    x1 = {"instruction": C.INSTRUCTION_1, "input": C.INPUT_1}
    gate = {"ifd_only_if_rifd_below": C.PAIR1} if mode == "selective" else {}
    return [
        Variant(prefix=C.PAIR1, output=C.OUTPUT_1, ifd=False, rifd=True, **x1),
        Variant(prefix=C.RES, output=C.BETTER_OUTPUT, ifd=True, rifd=True, **x1, **gate),
    ]


def _pandas_step(ds: ray.data.Dataset, fn, cfg: RecycleConfig) -> ray.data.Dataset:
    return ds.map_batches(
        fn,
        fn_kwargs={"selection": cfg.selection.model_dump()},
        batch_format="pandas",
        num_cpus=LIGHT_CPUS,
        udf_modifying_row_count=False,
    )


def coherence_graph(
    ds: ray.data.Dataset, cfg: RecycleConfig, prefixes: tuple[str, ...]
) -> ray.data.Dataset:
    """Sentence-BERT coherence of x and y for the named variants (the coherence ablation only)."""
    columns = {
        C.ORIG: (C.INSTRUCTION, C.INPUT, C.OUTPUT),
        C.INS: (C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT),
        C.RES: (C.INSTRUCTION_1, C.INPUT_1, C.BETTER_OUTPUT),
    }
    return ds.map_batches(
        CoherenceScorer,
        fn_constructor_kwargs={
            "model": cfg.student.coherence_model,
            "pairs": [(p, *columns[p]) for p in prefixes],
        },
        batch_format="pandas",
        batch_size=cfg.student.batch_size,
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=LIGHT_CPUS,
        udf_modifying_row_count=False,
    )


def reflection_graph(
    ds: ray.data.Dataset, cfg: RecycleConfig, teacher: TeacherSession
) -> ray.data.Dataset:
    """Selective Reflection-Tuning (or recycle / an ablation) over validated samples."""
    scored = cfg.selection.mode != "recycle"
    ds = reflect_instruction(ds, teacher.config, teacher.gate_name, teacher.cache_dir)
    coherent = cfg.selection.mode == "coherence"
    if scored:
        ds = score_dataset(
            ds, cfg.student, phase1_variants(cfg.selection.mode), stage="score_phase1"
        )
    if coherent:
        ds = coherence_graph(ds, cfg, (C.ORIG, C.INS))
    ds = _pandas_step(ds, choose_instruction_batch, cfg)
    ds = reflect_response(
        ds, teacher.config, teacher.gate_name, teacher.cache_dir,
        instruction_column=C.INSTRUCTION_1, input_column=C.INPUT_1, output_column=C.OUTPUT_1,
    )  # fmt: skip
    if scored:
        ds = score_dataset(
            ds, cfg.student, phase2_variants(cfg.selection.mode), stage="score_phase2"
        )
    if coherent:  # coherence of (x1, y1) was carried over from phase 1 by the choice
        ds = coherence_graph(ds, cfg, (C.RES,))
    return _pandas_step(ds, choose_response_batch, cfg)


def ifd_graph(ds: ray.data.Dataset, cfg: RecycleConfig) -> ray.data.Dataset:
    """IFD of the original samples only (the ifd_topk mode: no teacher)."""
    return score_dataset(ds, cfg.student, [Variant(prefix=C.ORIG)], stage="score_ifd")
