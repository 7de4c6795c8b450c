"""Real Alpaca rows for the benchmarks, and the offline tokenizer trained on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recycle import columns as C
from recycle.testing import tiny_student

BUNDLED = Path(__file__).resolve().parents[1] / "demo" / "alpaca_sample.json"
SHARED = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "alpaca_cherry_5_percent.json"
)


def alpaca_path() -> Path:
    """The shared 5% subset when present, else the 120 rows bundled with the demo (the only
    ones on a bare benchmark machine)."""
    return SHARED if SHARED.is_file() else BUNDLED


def alpaca_rows(limit: int | None = None, path: str | Path | None = None) -> list[dict[str, str]]:
    """Alpaca rows (instruction, input, output) from `path`, else from `alpaca_path()`."""
    rows = json.loads(Path(path or alpaca_path()).read_text())
    return rows[:limit] if limit else rows


def columns(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Rows as the column dict the student scorer reads."""
    return {k: [r.get(k, "") for r in rows] for k in (C.INSTRUCTION, C.INPUT, C.OUTPUT)}


def offline_tokenizer(root: Path, rows: list[dict[str, str]], vocab_size: int) -> Any:
    """A byte-level BPE trained on the rows' text, loaded through `AutoTokenizer`."""
    from transformers import AutoTokenizer

    texts = (r.get(k, "") for r in rows for k in (C.INSTRUCTION, C.INPUT, C.OUTPUT))
    path = tiny_student.build_tokenizer(root, texts, vocab_size=vocab_size)
    return AutoTokenizer.from_pretrained(str(path))


def synthetic_rows(n: int, duplicate_every: int = 50) -> list[dict[str, str]]:
    """`n` Alpaca-shaped rows for scale runs: real rows made unique by a numbered instruction,
    with every `duplicate_every`-th row a copy of an earlier one (0: no duplicates)."""
    base = alpaca_rows()
    out: list[dict[str, str]] = []
    for i in range(n):
        if duplicate_every and i and i % duplicate_every == 0:
            out.append(dict(out[(i * 7919) % i]))  # an earlier row, spread over the input
            continue
        row = dict(base[i % len(base)])
        row[C.INSTRUCTION] = f"{row[C.INSTRUCTION]} (#{i})"
        out.append(row)
    return out


def write_synthetic(folder: Path, n: int, files: int = 1, duplicate_every: int = 50) -> Path:
    """`synthetic_rows(n)` written as `files` JSON Lines files in `folder` (rows dealt round-robin,
    so duplicates fall in other files than their first copy); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = synthetic_rows(n, duplicate_every)
    for k in range(files):
        lines = (json.dumps(r, ensure_ascii=False) for r in rows[k::files])
        (folder / f"part-{k:03d}.jsonl").write_text("\n".join(lines) + "\n")
    return folder
