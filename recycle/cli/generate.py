"""`recycle generate`: a model's greedy answers to the test sets, in AlpacaEval format."""

from __future__ import annotations

import argparse

from recycle.cli.common import add_config_arguments, checked_config, preflight_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="local folder (or hub id) of the model")
    parser.add_argument("--output", required=True, help="folder for model_outputs.json")
    parser.add_argument(
        "--template", help="the template the model was trained with (default: student.template)"
    )
    parser.add_argument("--name", help="generator name in the outputs (default: the folder name)")
    add_config_arguments(parser, io=False)


def run(args: argparse.Namespace) -> int:
    cfg = checked_config(args, ("generation",))
    preflight_options(args, output=args.output, models={"--model": args.model})
    from recycle.commands.generate import run_generate
    from recycle.eval.run_generate import MODEL_OUTPUTS

    manifest = run_generate(cfg, args.model, args.output, args.template, args.name)
    g, counts = manifest["generation"], manifest["counts"]
    rejected = sum(counts["rejected"].values())
    print(
        f"generate {g['generator']}: {counts['kept']} of {counts['input']} questions answered "
        f"({', '.join(f'{k} {v}' for k, v in g['sets'].items())}); {g['generated_tokens']} tokens, "
        f"{g['hit_max_new_tokens']} answers stopped at eval.max_new_tokens={g['max_new_tokens']}"
        + (f"; {rejected} not answered (see rejects.json)" if rejected else "")
    )
    print(f"answers: {args.output}/{MODEL_OUTPUTS}")
    return 0
