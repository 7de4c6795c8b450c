"""`recycle eval`: every benchmark the config asks for (recycle.commands.benchmarks) on models A
and B, then one manifest, written and checked by the runner's `close`.

OUTPUT/manifest.json: a section per benchmark (by its name) saying what ran (which models, which
judge or tasks) and its accounting (asked = answered + unanswered by reason; each checked, and
their sum is the manifest's counts), then the verdict last: the pairwise judge's figures at the top (the papers'
verdict, as `recycle judge` gives it), each other benchmark's under its name.
OUTPUT/report.md: every benchmark's verdict, A and B side by side.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from recycle.commands import needs
from recycle.commands.benchmarks import verdict_lines, wanted
from recycle.commands.eval_steps import Sides
from recycle.commands.runner import Command, Run, check_invariants, execute
from recycle.config import RecycleConfig
from recycle.errors import ConfigError
from recycle.eval.lm_harness import results_markdown
from recycle.eval.sides import SIDES, baseline_config, eval_config, generator_names
from recycle.preflight import Preflight
from recycle.storage import filesystem

REPORT = "report.md"


def check_eval(cfg: RecycleConfig) -> None:
    """The benchmarks to run, each checked before anything runs.

    Raises:
        ConfigError: none asked for, or what a benchmark's check raises.
    """
    benchmarks = wanted(cfg)
    if not benchmarks:
        raise ConfigError(
            "eval asks for no benchmark: set eval.sets (pairwise judge), eval.benchmarks "
            "(lm-eval tasks) or eval.alpaca_eval"
        )
    for b in benchmarks:
        b.check(cfg)


def eval_counts(sections: dict[str, dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """(questions asked over all benchmarks, the manifest's counts: answered, unanswered by
    "benchmark/reason")."""
    asked = sum(s["asked"] for s in sections.values())
    rejected = {f"{n}/{r}": k for n, s in sections.items() for r, k in s["unanswered"].items()}
    return asked, {"kept": sum(s["answered"] for s in sections.values()), "dropped": {},
                   "rejected": rejected}  # fmt: skip


@dataclass
class Evaluated:
    """What the benchmarks hand the manifest: the counts over all of them."""

    counts: dict[str, Any] = field(default_factory=dict)


def eval_command(cfg: RecycleConfig) -> Command:
    """The command running the benchmarks `cfg` asks for on A and B (counted in questions; each
    benchmark's own accounting checked too)."""

    def read(run: Run) -> Sides:
        models = {s: getattr(run.cfg.eval, f"model_{s}") for s in SIDES}
        return Sides(models, generator_names(run.cfg), preflight=run.preflight)

    def write(run: Run, sides: Sides) -> None:
        sections: dict[str, dict[str, Any]] = {}
        for b in wanted(run.cfg):
            t0 = time.perf_counter()
            folder = posixpath.join(run.cfg.output.dir.rstrip("/"), b.folder)
            sections[b.name] = b.run(run.cfg, sides, folder)
            run.timings[b.name] = time.perf_counter() - t0
        verdict = {name: s.pop("verdict") for name, s in sections.items()}
        run.n_input, run.state.counts = eval_counts(sections)
        run.extra = compat_sections(sections, sides) | sections
        run.extra["verdict"] = {**verdict.get("pairwise", {}), **verdict}
        run.outputs = {"report": REPORT}
        for name, s in sections.items():
            run.outputs |= {f"{name}_{k}": v for k, v in s["outputs"].items()}
        write_report(run.cfg.output.dir, run.extra["verdict"], sides.names, sections)

    return Command("eval", read=read, write=write, check=check_eval, unit="questions",
                   counts=lambda run: run.state.counts, state=Evaluated, part_files=False, timings=(None, None),
                   checked=tuple(b.name for b in wanted(cfg)), preflight=needs.EVAL)  # fmt: skip


def run_eval(cfg: RecycleConfig, preflight: bool | Preflight = True) -> dict[str, Any]:
    """Run the benchmarks asked for on A and B; returns the evaluation manifest (verdict last).

    Raises:
        PreflightError: the output folder or the judge's endpoint (pre-flight).
        ConfigError: nothing to run, or a benchmark's start-up check fails.
        InputError: a benchmark's accounting does not add up; or what its steps raise.
    """
    return execute(eval_command(cfg), cfg, preflight)


def compat_sections(sections: dict[str, dict[str, Any]], sides: Sides) -> dict[str, Any]:
    """The pairwise judge's answers, judge folder and cost at the top of the manifest, where the
    end-to-end job and the notebooks read them."""
    pairwise = sections.get("pairwise")
    if pairwise is None:
        return {}
    return {
        "answers": pairwise["ran"]["answers"],
        "generation": sides.generation.get("pairwise", {}),
        "judge_dir": posixpath.dirname(pairwise["outputs"]["summary"]),
        "judge": pairwise["judge"],
    }


def write_report(
    out_dir: str, verdict: dict[str, Any], names: dict[str, str], sections: dict[str, Any]
) -> None:
    """OUTPUT/report.md: each benchmark's verdict, A and B side by side, then lm-eval's table."""
    lines = [f"# {names['a']} (A) vs {names['b']} (B)", ""]
    lines += [f"- {line}" for line in verdict_lines(verdict, names)]
    if "lm_eval" in sections:
        fs, path = filesystem(sections["lm_eval"]["outputs"]["results"])
        with fs.open_input_stream(path) as f:
            results = json.loads(f.read().decode("utf-8"))
        lines += ["", *results_markdown(results, names)]
    fs, path = filesystem(out_dir)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(posixpath.join(path, REPORT)) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


def evaluate_finetuned(
    cfg: RecycleConfig, model_dir: str, preflight: bool | Preflight = True
) -> dict[str, Any]:
    """The end-to-end job's last stage: the fine-tuned student (A) against eval.baseline (B),
    under the end-to-end run's pre-flight policy; then eval.controls beside it
    (recycle.commands.eval_controls).

    Returns:
        The evaluation manifest (written to OUTPUT/eval/manifest.json), verdict last; with
        controls, its "controls" section and the verdict's "controls" (table rows and one line).
    """
    from recycle.commands.train import run_finetune

    if cfg.eval.baseline == "original":
        baseline = run_finetune(baseline_config(cfg), preflight=preflight).model_dir
    else:
        baseline = cfg.student.model
    evaluation = eval_config(cfg, model_dir, baseline)
    manifest = run_eval(evaluation, preflight)
    if not cfg.eval.controls:
        return manifest
    from recycle.commands.eval_controls import run_controls

    section = run_controls(
        cfg, baseline, manifest,
        finetune=lambda c: run_finetune(c, preflight=preflight).model_dir,
        evaluate=lambda c: run_eval(c, preflight),
    )  # fmt: skip
    return record_controls(evaluation.output.dir, section, generator_names(evaluation)["b"])


def record_controls(eval_dir: str, section: dict[str, Any], baseline: str) -> dict[str, Any]:
    """The controls in the evaluation's manifest (checked again), its report and the console."""
    from recycle.commands.eval_controls import console, report_lines
    from recycle.rundir import read_manifest, write_manifest

    manifest = read_manifest(eval_dir)
    manifest["controls"] = section
    verdict = manifest.pop("verdict")
    keys = ("applies", "size", "usable", "rows", "figure", "outcomes", "beat_all", "line")
    verdict["controls"] = {k: section[k] for k in keys if k in section}
    manifest["verdict"] = verdict
    lines = report_lines(section, baseline)
    fs, path = filesystem(posixpath.join(eval_dir, REPORT))
    with fs.open_input_stream(path) as f:
        report = f.read().decode("utf-8")
    with fs.open_output_stream(path) as f:
        f.write((report + "\n## Controls\n\n" + "\n".join(lines) + "\n").encode("utf-8"))
    for line in lines:
        console.info("%s", line)
    check_invariants(manifest, write_manifest(eval_dir, manifest))
    return manifest
