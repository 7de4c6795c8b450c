"""Student forward tokens per sample: the pipeline's two phases against the authors' scripts.

The authors score 4 variants x (IFD + r-IFD) = 16 sequences per sample, each alone with every
position projected on the vocabulary. Reflected texts are simulated deterministically here (a
longer instruction, responses ~1.5x longer), since no teacher runs in a benchmark.
"""

from __future__ import annotations

from recycle import columns as C
from recycle.bench.data import columns
from recycle.config.student import StudentConfig
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


def choose_instruction(cols: dict[str, list], out: dict[str, list]) -> None:
    """Step 2: (x_ins, y_ins) replaces (x0, y0) when its IFD is higher (a NaN never wins)."""
    ins = [a > b for a, b in zip(out[C.INS + C.IFD], out[C.ORIG + C.IFD], strict=True)]
    for chosen, new, old in (
        (C.INSTRUCTION_1, C.NEW_INSTRUCTION, C.INSTRUCTION),
        (C.INPUT_1, C.NEW_INPUT, C.INPUT),
        (C.OUTPUT_1, C.NEW_OUTPUT, C.OUTPUT),
    ):
        cols[chosen] = [n if w else o for w, n, o in zip(ins, cols[new], cols[old], strict=True)]
    cols[C.BETTER_OUTPUT] = [longer(y) for y in cols[C.OUTPUT_1]]


PHASE1 = [
    Variant(prefix=C.ORIG),
    Variant(prefix=C.INS, instruction=C.NEW_INSTRUCTION, input=C.NEW_INPUT, output=C.NEW_OUTPUT),
]
X1 = {"instruction": C.INSTRUCTION_1, "input": C.INPUT_1}
PHASE2 = [
    Variant(prefix=C.PAIR1, output=C.OUTPUT_1, ifd=False, rifd=True, **X1),
    Variant(prefix=C.RES, output=C.BETTER_OUTPUT, rifd=True, ifd_only_if_rifd_below=C.PAIR1, **X1),
]
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


def pipeline_tokens(model, tokenizer, cols, cfg: StudentConfig) -> tuple[int, int]:
    """(forward tokens, projected positions) of phase 1 + phase 2, batch by batch as the actors see them."""
    tokens = projected = 0
    n = len(cols[C.OUTPUT])
    for start in range(0, n, cfg.batch_size):
        part = {k: v[start : start + cfg.batch_size] for k, v in cols.items()}
        out1, s1 = score_columns(model, tokenizer, part, PHASE1, cfg)
        choose_instruction(part, out1)
        _, s2 = score_columns(model, tokenizer, part, PHASE2, cfg)
        tokens += s1.tokens + s2.tokens
        projected += s1.projected + s2.projected
    return tokens, projected


def authors_tokens(tokenizer, cols, cfg: StudentConfig) -> int:
    """Tokens of the authors' 16 sequences per sample (every one forwarded, every position projected)."""
    cols = dict(
        cols,
        res_of_orig=[longer(y) for y in cols[C.OUTPUT]],
        res_of_ins=[longer(y) for y in cols[C.NEW_OUTPUT]],
    )
    jobs = plan_pairs(
        tokenizer, cfg.template, cfg.max_length, cols, AUTHORS, range(len(cols[C.OUTPUT]))
    )
    return sum(len(s.input_ids) for j in jobs for s in (j.cond, j.uncond) if not j.cond.error)


def token_ratio(model, tokenizer, cfg: StudentConfig, rows: list[dict[str, str]]) -> float:
    """Forward tokens of phase 1 + 2 over those of the authors' 16 sequences, printed per sample."""
    n = len(rows)
    cols = with_reflections(rows)
    ours, projected = pipeline_tokens(model, tokenizer, cols, cfg)
    theirs = authors_tokens(tokenizer, cols, cfg)
    print(f"tokens: {n} Alpaca rows with simulated reflections, per sample:")
    print(
        f"  authors (16 sequences)   {theirs / n:8.1f} forward tokens, {theirs / n:8.1f} projected on V"
    )
    print(
        f"  pipeline (phase 1 + 2)   {ours / n:8.1f} forward tokens, {projected / n:8.1f} projected on V"
    )
    return ours / theirs
