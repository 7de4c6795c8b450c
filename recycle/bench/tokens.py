"""Student forward tokens per sample: the pipeline's two phases against the authors' scripts.

The authors score 4 variants x (IFD + r-IFD) = 16 sequences per sample, each alone with every
position projected on the vocabulary. Reflected texts are simulated deterministically here (a
longer instruction, responses ~1.5x longer), since no teacher runs in a benchmark.

The pipeline's side is a selection plan's (default: the default mode, Selective
Reflection-Tuning): its phases' variants as the graph builds them, and its own step-2 rule.
"""

from __future__ import annotations

import pandas as pd

from recycle import columns as C
from recycle.bench.data import columns
from recycle.config.selection import SelectionConfig
from recycle.config.student import StudentConfig
from recycle.pipeline.graph import phase_variants
from recycle.select.modes import select_instruction
from recycle.select.plan import SelectionPlan, plan_selection
from recycle.student.planning import plan_pairs
from recycle.student.scoring import score_columns
from recycle.student.variants import Variant


def longer(text: str) -> str:
    """A simulated reflected response: the text plus half of it again (reflections run ~1.5x longer)."""
    return f"{text}\n\n{text[: len(text) // 2]}" if text else text


def with_reflections(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Real rows plus simulated instruction reflections (x_ins, y_ins)."""
    cols = columns(rows)
    cols[C.NEW_INSTRUCTION] = [
        f"{x} Explain your reasoning step by step and give one example."
        for x in cols[C.INSTRUCTION]
    ]
    cols[C.NEW_INPUT] = list(cols[C.INPUT])
    cols[C.NEW_OUTPUT] = [longer(y) for y in cols[C.OUTPUT]]
    return cols


def default_plan() -> SelectionPlan:
    """The plan the benchmarks measure unless given one: the default mode's (selective)."""
    return plan_selection(SelectionConfig())


def choose_instruction(
    cols: dict[str, list], out: dict[str, list], plan: SelectionPlan | None = None
) -> None:
    """Step 2 by the plan's own rule (selective: the higher IFD wins, a NaN never does) over
    phase 1's scores `out`: (x1, y1) into `cols`, with a simulated reflection of its response."""
    plan = plan or default_plan()
    ok = {C.REFLECT_INSTRUCTION_STATUS: "ok", C.OUTCOME: C.OUTCOME_KEPT}  # every sample reflected
    chosen = select_instruction(pd.DataFrame({**cols, **out}).assign(**ok), plan)
    for col in (C.INSTRUCTION_1, C.INPUT_1, C.OUTPUT_1):
        cols[col] = chosen[col].tolist()
    cols[C.BETTER_OUTPUT] = [longer(y) for y in cols[C.OUTPUT_1]]


AUTHORS = [  # 4 variants x (IFD + r-IFD) = 16 sequences, each alone, every position projected
    Variant(prefix="a0_", rifd=True),
    Variant(
        prefix="a1_",
        instruction=C.NEW_INSTRUCTION,
        input=C.NEW_INPUT,
        output=C.NEW_OUTPUT,
        rifd=True,
    ),
    Variant(prefix="a2_", output="res_of_orig", rifd=True),
    Variant(
        prefix="a3_",
        instruction=C.NEW_INSTRUCTION,
        input=C.NEW_INPUT,
        output="res_of_ins",
        rifd=True,
    ),
]


def pipeline_tokens(
    model, tokenizer, cols, cfg: StudentConfig, plan: SelectionPlan | None = None
) -> tuple[int, int]:
    """(forward tokens, projected positions) of the plan's phase 1 + phase 2, batch by batch as
    the actors see them."""
    plan = plan or default_plan()
    phase1, phase2 = phase_variants(plan.spec.phase1), phase_variants(plan.spec.phase2)
    tokens = projected = 0
    n = len(cols[C.OUTPUT])
    for start in range(0, n, cfg.batch_size):
        part = {k: v[start : start + cfg.batch_size] for k, v in cols.items()}
        out1, s1 = score_columns(model, tokenizer, part, phase1, cfg)
        choose_instruction(part, out1, plan)
        _, s2 = score_columns(model, tokenizer, part, phase2, cfg)
        tokens += s1.tokens + s2.tokens
        projected += s1.projected + s2.projected
    return tokens, projected


def authors_tokens(tokenizer, cols, cfg: StudentConfig) -> int:
    """Tokens of the authors' 16 sequences per sample (every one forwarded, every position projected)."""
    cols = {  # simulated response reflections, unless `cols` holds real ones
        "res_of_orig": [longer(y) for y in cols[C.OUTPUT]],
        "res_of_ins": [longer(y) for y in cols[C.NEW_OUTPUT]],
        **cols,
    }
    jobs = plan_pairs(
        tokenizer, cfg.template, cfg.max_length, cols, AUTHORS, range(len(cols[C.OUTPUT]))
    )
    return sum(len(s.input_ids) for j in jobs for s in (j.cond, j.uncond) if not j.cond.error)


def token_ratio(
    model,
    tokenizer,
    cfg: StudentConfig,
    rows: list[dict[str, str]],
    plan: SelectionPlan | None = None,
) -> float:
    """Forward tokens of phase 1 + 2 over those of the authors' 16 sequences, printed per sample."""
    n = len(rows)
    cols = with_reflections(rows)
    ours, projected = pipeline_tokens(model, tokenizer, cols, cfg, plan)
    theirs = authors_tokens(tokenizer, cols, cfg)
    print(f"tokens: {n} Alpaca rows with simulated reflections, per sample:")
    print(
        f"  authors (16 sequences)   {theirs / n:8.1f} forward tokens, {theirs / n:8.1f} projected on V"
    )
    print(
        f"  pipeline (phase 1 + 2)   {ours / n:8.1f} forward tokens, {projected / n:8.1f} projected on V"
    )
    return ours / theirs


RUN_TEXT = (
    C.INSTRUCTION, C.INPUT, C.OUTPUT, C.NEW_INSTRUCTION, C.NEW_INPUT, C.NEW_OUTPUT,
    C.INSTRUCTION_1, C.INPUT_1, C.OUTPUT_1, C.BETTER_OUTPUT, C.INSTRUCTION_REFLECTED,
)  # fmt: skip


def run_columns(run_dir: str) -> dict[str, list]:
    """The texts of the samples a selective run scored in both phases (kept and dropped rows)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from recycle.rundir import outcome_files

    paths = [
        p for o in (C.OUTCOME_KEPT, C.OUTCOME_DROPPED) for p in outcome_files(run_dir, o, "part")
    ]
    df = pd.concat([pq.read_table(p, columns=list(RUN_TEXT)).to_pandas() for p in paths])
    df = df[df[C.BETTER_OUTPUT].notna()].reset_index(drop=True)  # response reflection parsed
    cols = {k: [("" if v is None else v) for v in df[k].tolist()] for k in RUN_TEXT}
    ins = cols.pop(C.INSTRUCTION_REFLECTED)
    # the authors reflect the response of both pairs: the chosen pair's is real, the other simulated
    rows = list(zip(cols[C.BETTER_OUTPUT], ins, cols[C.OUTPUT], cols[C.NEW_OUTPUT], strict=True))
    cols["res_of_orig"] = [longer(y0) if i else r for r, i, y0, _ in rows]
    cols["res_of_ins"] = [r if i else longer(y) for r, i, _, y in rows]
    return cols


def phase_tokens(model, tokenizer, cols, cfg: StudentConfig, phases) -> dict[str, int]:
    """Student forward tokens of each (name, variants) phase, batch by batch as the actors see them."""
    tokens = dict.fromkeys((name for name, _ in phases), 0)
    n = len(cols[C.OUTPUT])
    for start in range(0, n, cfg.batch_size):
        part = {k: v[start : start + cfg.batch_size] for k, v in cols.items()}
        for name, variants in phases:
            _, stats = score_columns(model, tokenizer, part, variants, cfg)
            tokens[name] += stats.tokens
    return tokens


def run_token_lines(
    run_dir: str, cfg: StudentConfig, plan: SelectionPlan | None = None
) -> list[str]:
    """Forward tokens per sample of a selective run's phases (statistics on) against the authors'.

    The run's own rows (real reflections) are scored again by the scorer's core, batch by batch
    with the run's batch size, to count what its actors forwarded; the authors' count is their 16
    sequences per sample (three teacher calls, IFD and r-IFD of four pairs). Last line:
    `forward tokens/sample: N (authors: M, ratio R)`. `plan`: the selective run's (default: the
    default mode's).
    """
    from recycle.student.model import load_student

    plan = plan or default_plan()
    model, tokenizer = load_student(cfg)
    cols = run_columns(run_dir)
    n = len(cols[C.OUTPUT])
    phases = (
        ("phase 1", phase_variants(plan.spec.phase1)),
        ("phase 1 + Table 6", phase_variants(plan.with_table6().spec.phase1)),
        ("phase 2", phase_variants(plan.spec.phase2)),
    )
    got = phase_tokens(model, tokenizer, cols, cfg, phases)
    total = got["phase 1 + Table 6"] + got["phase 2"]
    share = (got["phase 1 + Table 6"] - got["phase 1"]) / total
    theirs = authors_tokens(tokenizer, cols, cfg)
    lines = [f"{n} samples of a selective run (statistics on), student forward tokens per sample:"]
    lines += [f"  {name:18s} {v / n:8.1f}" for name, v in got.items()]
    lines.append(f"  Table 6 share      {share:8.1%} of the total (r-IFD of (x0, y0))")
    lines.append(
        f"forward tokens/sample: {total / n:.0f} (authors: {theirs / n:.0f}, ratio {total / theirs:.2f})"
    )
    return lines
