"""A tiny multiple-choice task for lm-evaluation-harness, from a local JSON file: how the tests run
`eval.benchmarks` offline (`eval.benchmark_include_path` names the folder it writes)."""

from __future__ import annotations

import json
from pathlib import Path

TASK = "recycle_tiny_mc"
_QUESTIONS = (
    ("What color is the sky on a clear day?", ["blue", "green", "red", "black"], 0),
    ("How many legs does a spider have?", ["six", "eight", "four", "ten"], 1),
    ("Which animal says moo?", ["cat", "dog", "cow", "duck"], 2),
    ("What do bees make?", ["milk", "silk", "wool", "honey"], 3),
    ("Which is the largest planet?", ["Jupiter", "Mars", "Venus", "Mercury"], 0),
    ("What is frozen water called?", ["steam", "ice", "fog", "dew"], 1),
    ("Which season is the coldest?", ["summer", "spring", "winter", "autumn"], 2),
    ("What do plants need from the sun?", ["sound", "salt", "wind", "light"], 3),
)
_YAML = """task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
    train: {data}
output_type: multiple_choice
test_split: test
fewshot_split: train
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{label}}}}"
doc_to_choice: "{{{{choices}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def write_tiny_mc_task(folder: Path, task: str = TASK) -> Path:
    """Write `task`'s JSON lines and YAML into `folder` (made if missing); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{task}.jsonl"
    rows = [{"question": q, "choices": c, "label": i} for q, c, i in _QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / f"{task}.yaml").write_text(_YAML.format(task=task, data=json.dumps(str(data))))
    return folder
