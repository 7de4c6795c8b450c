"""`recycle judge`: the papers' pairwise LLM judge, both orders, on two models' answer files."""

from __future__ import annotations

import argparse
from typing import Any

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments, unanswered_for_rerun


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--answers-a", required=True, help="model A's answers (AlpacaEval model_outputs.json)"
    )
    parser.add_argument("--answers-b", required=True, help="model B's answers (the baseline)")
    parser.add_argument(
        "--output", required=True, help="folder for summary.json, pairs, report, manifest"
    )
    add_config_arguments(parser, io=False)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def verdict_lines(manifest: dict) -> list[str]:
    """The verdict and what the judge cost, in a few lines; then the other benchmarks' verdicts
    when the manifest is `recycle eval`'s or end-to-end's."""
    from recycle.commands.benchmarks import verdict_lines as benchmark_lines

    v = manifest["verdict"]
    lines = pairwise_lines(v, manifest["judge"]) if "win" in v else []
    others = {k: x for k, x in v.items() if k not in ("pairwise",) and isinstance(x, dict)}
    names = {"a": v.get("model_a", "A"), "b": v.get("model_b", "B")}
    return lines + benchmark_lines(others, names)


def pairwise_lines(v: dict, j: dict) -> list[str]:
    """The pairwise judge's verdict and what the judge cost."""
    return [
        f"{v['model_a']} vs {v['model_b']}: {v['win']} wins, {v['tie']} ties, {v['lose']} losses "
        f"of {v['n']}; win rate {_f(v['win_rate'])} (95% CI {v['win_rate_ci95']}), "
        f"length-controlled {_f(v['win_rate_lc'])} (95% CI {v['win_rate_lc_ci95']})"
        + (f"; {v['not_judged']} pairs not judged" if v["not_judged"] else ""),
        f"judge {j['model']}: {j['requests']} requests ({j['retries']} retries), {j['cache_hits']} "
        f"cache hits, {j['prompt_tokens']}+{j['completion_tokens']} tokens, ${j['cost_usd']:.4f}, "
        f"{j['unparseable_reviews']} unparseable reviews",
    ]


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.judge import run_judge

    a = request.args
    return run_judge(request.cfg, a.answers_a, a.answers_b, a.output, request.preflight)


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    out = request.args.output
    return [
        *verdict_lines(manifest),
        f"summary: {out}/summary.json, report: {out}/report/summary.md",
    ]


FACE = Face(
    name="judge",
    help="pairwise LLM judge of two answer files, both orders; win/tie/lose",
    arguments=add_arguments,
    checks=lambda r: needs.judge(r.args.answers_a, r.args.answers_b, r.args.output),
    run=_run,
    summary=_summary,
    exit=unanswered_for_rerun,  # 3: pairs the judge's budget or endpoint left, asked again
    log_dir=lambda request: request.args.output,
)
