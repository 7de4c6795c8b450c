"""`python -m recycle.eval.alpaca_runner SPEC.json`: one model through alpaca_eval's own
`alpaca_eval.main.evaluate` (what its `alpaca_eval evaluate` command calls), in the child process
recycle.eval.alpaca starts, with three things the command line cannot say:

- the metric's rows by instruction: on 2.0 the annotations reach alpaca_eval's
  `get_length_controlled_winrate` labelled with their row in AlpacaEval's 805 (SPEC "rows":
  instruction -> rows, the k-th annotation of an instruction taking its k-th row), which the
  package reads as df_gamed's "index" (its own code takes the annotations' position);
- its downloads answered from eval.alpaca_eval.files (SPEC "files"): df_gamed.csv, with its rows
  ordered so that the package's lookup by row label finds each index's difficulty; any other
  download stops the run naming the file;
- its weights written under the run (SPEC "weights_dir"), not into the installed package.

SPEC: {"version", "model_outputs", "reference_outputs", "annotators_config", "output_path",
"files" (or null), "rows" (2.0), "weights_dir"}. Writes output_path/leaderboard.csv and
annotations.json as the package does.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

GAMED = "df_gamed.csv"


def labelled(annotations: Any, rows: dict[str, list[int]]) -> Any:
    """The annotations as a DataFrame whose index is each one's row in AlpacaEval's 805, found
    by its instruction (the k-th annotation of an instruction takes its k-th row).

    Raises:
        KeyError: an instruction is not among the rows (recycle.eval.alpaca checks this first).
    """
    import pandas as pd

    frame = pd.DataFrame(
        list(annotations) if not isinstance(annotations, pd.DataFrame) else annotations
    )
    seen: dict[str, int] = defaultdict(int)
    index = []
    for instruction in frame["instruction"]:
        if instruction not in rows or seen[instruction] >= len(rows[instruction]):
            raise KeyError(f"no AlpacaEval row for the instruction {instruction[:60]!r}")
        index.append(rows[instruction][seen[instruction]])
        seen[instruction] += 1
    frame.index = index
    return frame


def gamed_by_index(source: Path, target: Path) -> Path:
    """df_gamed.csv reordered so that the first row of each "index" i sits at row label i: the
    package reads a difficulty as `drop_duplicates("index")[...][i]`, by row label. Only the order
    changes; its regularizing rows are all kept."""
    import pandas as pd

    gamed = pd.read_csv(source)
    occurrence = gamed.groupby("index").cumcount()
    ordered = gamed.assign(_occ=occurrence).sort_values(["_occ", "index"], kind="stable")
    target.parent.mkdir(parents=True, exist_ok=True)
    ordered.drop(columns="_occ").to_csv(target, index=False)
    return target


def serve_local_files(files: str, out: Path) -> None:
    """Answer alpaca_eval's hub downloads on the metric's path from the local folder."""
    from alpaca_eval.metrics import glm_winrate

    local = {GAMED: gamed_by_index(Path(files) / GAMED, out / GAMED)}

    def download(*, filename: str, **_: Any) -> str:
        if filename not in local:
            raise FileNotFoundError(
                f"alpaca_eval asked the hub for {filename}, which eval.alpaca_eval.files does not serve"
            )
        return str(local[filename])

    glm_winrate.hf_hub_download = download


def metric_of(spec: dict[str, Any]) -> Any:
    """The metric function: 2.0 the length-controlled win rate on rows matched by instruction
    (weights under the run), 1.0 the win rate."""
    from alpaca_eval import metrics

    if spec["version"] != "2.0":
        return metrics.get_winrate

    def length_controlled(annotations: Any) -> dict[str, float]:
        return metrics.get_length_controlled_winrate(
            labelled(annotations, spec["rows"]), save_weights_dir=spec["weights_dir"]
        )

    return length_controlled


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    from alpaca_eval.main import evaluate

    if spec.get("files"):
        serve_local_files(spec["files"], Path(spec["output_path"]))
    evaluate(
        model_outputs=spec["model_outputs"],
        reference_outputs=spec["reference_outputs"],
        annotators_config=spec["annotators_config"],
        output_path=spec["output_path"],
        precomputed_leaderboard=None,
        is_cache_leaderboard=False,
        fn_metric=metric_of(spec),
        is_return_instead_of_print=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
