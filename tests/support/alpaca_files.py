"""Small stand-ins for what alpaca_eval downloads (recycle.eval.alpaca_files): a reference of
ROWS rows (AlpacaEval's 805, in small) and a df_gamed.csv with distinct difficulties by index,
for the tests of AlpacaEval 2.0 offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROWS = 8
LONG = 2  # the row whose instruction is too long for a small eval.max_prompt_tokens


def instruction(i: int) -> str:
    return "Explain this: " + "word " * 300 if i == LONG else f"Describe item {i} briefly."


def reference_rows() -> list[dict[str, Any]]:
    """The 2.0 reference: a one-word or a 360-character answer by row."""
    return [{"instruction": instruction(i), "output": "Ok." if i % 2 else "Long. " * 60,
             "generator": "gpt4_turbo", "dataset": "helpful_base"} for i in range(ROWS)]  # fmt: skip


def gamed() -> pd.DataFrame:
    """df_gamed.csv's columns: two gamed models x ROWS rows, in index order, distinct
    difficulties (-1.5 .. 1.5) by index."""
    rows = []
    for model, sign in (("verbose", 1.0), ("concise", -1.0)):
        for i in range(ROWS):
            d = -1.5 + 3.0 * i / (ROWS - 1)
            rows.append({"model": model, "index": i, "instruction_difficulty": d,
                         "std_delta_len": sign, "not_gamed_baseline": False,
                         "preference": 1 / (1 + np.exp(-(sign - d)))})  # fmt: skip
    return pd.DataFrame(rows)


def write_files(folder: Path) -> Path:
    """eval.alpaca_eval.files for 2.0: the reference and df_gamed.csv, its rows shuffled (the
    package reads difficulties by row label, so the run must put them back in index order)."""
    folder.mkdir(parents=True)
    (folder / "alpaca_eval_gpt4_baseline.json").write_text(json.dumps(reference_rows()))
    gamed().sample(frac=1.0, random_state=3).to_csv(folder / "df_gamed.csv", index=False)
    return folder


def length_controlled(annotations: pd.DataFrame, gamed_csv: Path, monkeypatch: Any) -> float:
    """alpaca_eval's own length-controlled win rate of `annotations`, their index taken as the
    rows (df_gamed's "index"), df_gamed served from `gamed_csv`."""
    import sklearn
    from alpaca_eval.metrics import glm_winrate as glm

    monkeypatch.setattr(glm, "hf_hub_download", lambda **kw: str(gamed_csv))
    with sklearn.config_context():  # the fit turns metadata routing on globally; undone here
        out = glm.get_length_controlled_winrate(annotations, save_weights_dir=None)
    return float(out["length_controlled_winrate"])
