"""A tiny multiple-choice task for lm-evaluation-harness, from local JSON files: how the tests run
`eval.benchmarks` offline (`eval.benchmark_include_path` names the folder it writes).

Its few-shot examples come from their own file (split "train"), never from the questions it
tests (split "test"), as lm-eval's own tasks keep them apart."""

from __future__ import annotations

import json
from pathlib import Path

TASK = "recycle_tiny_mc"
FEWSHOT = 2
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
_FEWSHOT = (
    ("What do cows drink?", ["oil", "water", "sand", "ink"], 1),
    ("How many days are in a week?", ["seven", "five", "ten", "three"], 0),
    ("Which animal barks?", ["fish", "bird", "dog", "snake"], 2),
)
_YAML = """task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
    train: {train}
output_type: multiple_choice
test_split: test
fewshot_split: train
num_fewshot: {shots}
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


def write_tiny_mc_task(folder: Path, task: str = TASK, shots: int = FEWSHOT) -> Path:
    """Write `task`'s test and few-shot JSON lines and its YAML (`shots` examples by default)
    into `folder` (made if missing); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"test": _write_rows(folder / f"{task}.jsonl", _QUESTIONS),
             "train": _write_rows(folder / f"{task}_fewshot.jsonl", _FEWSHOT)}  # fmt: skip
    quoted = {split: json.dumps(str(path)) for split, path in files.items()}
    (folder / f"{task}.yaml").write_text(_YAML.format(task=task, shots=shots, **quoted))
    return folder


def _write_rows(path: Path, questions: tuple[tuple[str, list[str], int], ...]) -> Path:
    rows = [{"question": q, "choices": c, "label": i} for q, c, i in questions]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
