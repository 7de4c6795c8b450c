"""The controls beside the end-to-end job's verdict (eval.controls; the rules in
recycle.eval.controls): each control's rows taken from data.input, the same recipe fine-tuned on
them in the same job, then judged against the same baseline with the same judge and benchmarks
(the baseline's pairwise answers reused); the comparison added to the evaluation's manifest (and
so to the run's verdict), its report and the console.

OUTPUT/control_<name>/data.jsonl    the control's rows: the original records as read, one a line
OUTPUT/control_<name>/train, model  its fine-tuning (train.name <train.name>-control-<name>)
OUTPUT/eval_control_<name>/         its evaluation against the baseline, laid out as OUTPUT/eval
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable
from typing import Any

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.errors import InputError
from recycle.eval import controls as K
from recycle.eval.sides import eval_config
from recycle.logs import PROGRESS_LOGGER
from recycle.rundir import read_manifest
from recycle.storage import filesystem

console = logging.getLogger(f"{PROGRESS_LOGGER}.controls")  # shown on a quiet console too
DATA = "data.jsonl"


def usable_rows(cfg: RecycleConfig) -> list[dict[str, Any]]:
    """data.input's usable samples as the pipeline reads them (rejects and duplicates left out),
    in sample_id order: {sample_id, raw, length}."""
    from recycle.data.read import read_samples

    samples, _ = read_samples(cfg.data)
    rows = [r for r in samples.take_all() if r[C.OUTCOME] == C.OUTCOME_KEPT]
    rows.sort(key=lambda r: r[C.SAMPLE_ID])
    return [{"sample_id": r[C.SAMPLE_ID], "raw": r[C.RAW],
             "length": K.response_length(r[C.OUTPUT], r.get(C.MESSAGES))} for r in rows]  # fmt: skip


def kept_size(run_dir: str) -> int:
    """How many rows the pipeline kept (the run's manifest).

    Raises:
        InputError: the run has no pipeline manifest to say.
    """
    counts = read_manifest(run_dir).get("counts") or {}
    if "kept" not in counts:
        raise InputError(
            f"eval.controls: {run_dir}/manifest.json does not say how many rows were kept"
        )
    return int(counts["kept"])


def write_rows(path: str, rows: list[dict[str, Any]]) -> str:
    """The control's records, one JSON object a line, as the trainer reads an input."""
    fs, p = filesystem(path)
    fs.create_dir(posixpath.dirname(p), recursive=True)
    with fs.open_output_stream(p) as f:
        lines = (json.dumps(json.loads(r["raw"]), ensure_ascii=False) + "\n" for r in rows)
        f.write("".join(lines).encode("utf-8"))
    return path


def control_config(cfg: RecycleConfig, name: str, data: str) -> RecycleConfig:
    """The recipe fine-tuned on a control's rows, in OUTPUT/control_<name>, under its own
    train.name (so it resumes on its own)."""
    out = cfg.model_copy(deep=True)
    out.output.dir = posixpath.join(cfg.output.dir.rstrip("/"), f"control_{name}")
    out.train.dataset = data
    out.train.name = f"{cfg.train.name}-control-{name}"
    return out


def run_controls(
    cfg: RecycleConfig,
    baseline: str,
    recycled: dict[str, Any],
    finetune: Callable[[RecycleConfig], str],
    evaluate: Callable[[RecycleConfig], dict[str, Any]],
) -> dict[str, Any]:
    """Fine-tune (`finetune`: config -> model folder) and judge (`evaluate`: config -> evaluation
    manifest) each control of eval.controls; the section comparing them with the recycled model's
    verdict (`recycled`, its evaluation manifest)."""
    rows = usable_rows(cfg)
    size = kept_size(cfg.output.dir)
    section: dict[str, Any] = {"controls": list(cfg.eval.controls), "size": size,
                               "usable": len(rows), "seed": cfg.eval.control_seed}  # fmt: skip
    if not K.controls_apply(size, len(rows)):
        line = (f"Controls do not apply: the kept set ({size} rows) is the whole usable input "
                f"({len(rows)} rows), so a subset of its size is the same data.")  # fmt: skip
        return {**section, "applies": False, "line": line}
    lengths = [r["length"] for r in rows]
    figures = {"recycled": K.figures(recycled["verdict"])}
    runs = {}
    for name in cfg.eval.controls:
        chosen = [rows[i] for i in K.control_positions(name, lengths, size, cfg.eval.control_seed)]
        folder = posixpath.join(cfg.output.dir.rstrip("/"), f"control_{name}")
        data = write_rows(posixpath.join(folder, DATA), chosen)
        model = finetune(control_config(cfg, name, data))
        judged = evaluate(control_eval_config(cfg, name, model, baseline, recycled))
        figures[name] = K.figures(judged["verdict"])
        runs[name] = {"data": data, "rows": len(chosen), "model": model,
                      "eval": judged_dir(cfg, name),
                      "mean_response_chars": round(sum(r["length"] for r in chosen) / size, 1)}  # fmt: skip
    verdict = K.conclusion(figures)
    return {**section, "applies": True, "runs": runs, "rows": figures, **verdict}


def judged_dir(cfg: RecycleConfig, name: str) -> str:
    return posixpath.join(cfg.output.dir.rstrip("/"), f"eval_control_{name}")


def control_eval_config(
    cfg: RecycleConfig, name: str, model: str, baseline: str, recycled: dict[str, Any]
) -> RecycleConfig:
    """The control (A) against the baseline (B) with the recycled model's benchmarks, in
    OUTPUT/eval_control_<name>; the baseline's pairwise answers reused (the same answers judged)."""
    ev = eval_config(cfg, model, baseline)
    ev.output.dir = judged_dir(cfg, name)
    answers = (recycled.get("pairwise") or {}).get("ran", {}).get("answers", {})
    ev.eval.answers_b = answers.get("b")
    return ev


def report_lines(section: dict[str, Any], baseline: str) -> list[str]:
    """The controls' block of the report and the console: the table and the one line."""
    if not section["applies"]:
        return [section["line"]]
    return [*K.table_lines(section["rows"], baseline), "", section["line"]]
