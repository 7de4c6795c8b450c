"""`recycle generate`: a model's greedy answers to the test sets, in AlpacaEval format."""

from __future__ import annotations

import argparse
from typing import Any

from recycle.commands import needs
from recycle.commands.entry import Face, Request, add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="local folder (or hub id) of the model")
    parser.add_argument("--output", required=True, help="folder for model_outputs.json")
    parser.add_argument(
        "--template", help="the template the model was trained with (default: student.template)"
    )
    parser.add_argument("--name", help="generator name in the outputs (default: the folder name)")
    add_config_arguments(parser, io=False)


def _run(request: Request) -> dict[str, Any]:
    from recycle.commands.generate import run_generate

    a = request.args
    return run_generate(request.cfg, a.model, a.output, a.template, a.name, request.preflight)


def _summary(request: Request, manifest: dict, log_file: str | None) -> list[str]:
    from recycle.eval.run_generate import MODEL_OUTPUTS

    g, counts = manifest["generation"], manifest["counts"]
    rejected = sum(counts["rejected"].values())
    return [
        f"generate {g['generator']}: {counts['kept']} of {counts['input']} questions answered "
        f"({', '.join(f'{k} {v}' for k, v in g['sets'].items())}); {g['generated_tokens']} tokens, "
        f"{g['hit_max_new_tokens']} answers stopped at eval.max_new_tokens={g['max_new_tokens']}"
        + (f"; {rejected} not answered (see rejects.json)" if rejected else ""),
        f"answers: {request.args.output}/{MODEL_OUTPUTS}",
    ]


FACE = Face(
    name="generate",
    help="greedy answers of a model to the test sets (AlpacaEval format)",
    arguments=add_arguments,
    checks=lambda request: needs.generate(request.args.model, request.args.output),
    run=_run,
    summary=_summary,
    log_dir=lambda request: request.args.output,
)
