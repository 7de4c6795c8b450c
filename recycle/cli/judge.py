"""`recycle judge`: the papers' pairwise LLM judge, both orders, on two models' answer files."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config, preflight_options
from recycle.commands import needs


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


def print_verdict(manifest: dict) -> None:
    """The verdict and what the judge cost, in a few lines; then the other benchmarks' verdicts
    when the manifest is `recycle eval`'s."""
    from recycle.commands.benchmarks import verdict_lines

    v = manifest["verdict"]
    if "win" in v:
        print_pairwise(v, manifest["judge"])
    others = {k: x for k, x in v.items() if k not in ("pairwise",) and isinstance(x, dict)}
    names = {"a": v.get("model_a", "A"), "b": v.get("model_b", "B")}
    for line in verdict_lines(others, names):
        print(line)


def print_pairwise(v: dict, j: dict) -> None:
    """The pairwise judge's verdict and what the judge cost."""
    print(
        f"{v['model_a']} vs {v['model_b']}: {v['win']} wins, {v['tie']} ties, {v['lose']} losses "
        f"of {v['n']}; win rate {_f(v['win_rate'])} (95% CI {v['win_rate_ci95']}), "
        f"length-controlled {_f(v['win_rate_lc'])} (95% CI {v['win_rate_lc_ci95']})"
        + (f"; {v['not_judged']} pairs not judged" if v["not_judged"] else "")
    )
    print(
        f"judge {j['model']}: {j['requests']} requests ({j['retries']} retries), {j['cache_hits']} "
        f"cache hits, {j['prompt_tokens']}+{j['completion_tokens']} tokens, ${j['cost_usd']:.4f}, "
        f"{j['unparseable_reviews']} unparseable reviews"
    )


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, needs.JUDGE)
    answers = {"--answers-a": args.answers_a, "--answers-b": args.answers_b}
    preflight_options(args, output=args.output, files=answers)
    from recycle.commands.judge import run_judge

    manifest = run_judge(cfg, args.answers_a, args.answers_b, args.output, preflight=False)
    print_verdict(manifest)
    print(f"summary: {args.output}/summary.json, report: {args.output}/report/summary.md")
    return 0
