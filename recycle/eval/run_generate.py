"""The steps of `recycle generate` (recycle.commands.generate): test questions -> greedy answers.

The questions go through a Ray Data actor pool: `GenerateAnswers` (eval.backend=hf: the model
loaded once per actor, one GPU each when the cluster has GPUs, CPU otherwise), or Ray Data LLM's
vLLM engine processor (eval.backend=vllm, recycle.eval.generate_vllm), with the same prompts, the
same greedy rule and the same too-long rejects. eval.backend=auto (the default) is vLLM where it
is installed and the actors get GPUs, HF otherwise (`choose_backend`, said on the console). Writes:

DIR/model_outputs.json   AlpacaEval format (instruction, input, output, generator, dataset), set order
DIR/rejects.json         questions left unanswered, with the reason (prompt longer than allowed)
DIR/manifest.json        questions = answered + rejected, tokens generated, timings
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections import Counter
from typing import Any

import pandas as pd

from recycle import columns as C
from recycle.config import RecycleConfig
from recycle.config.student import StudentConfig
from recycle.errors import ConfigError
from recycle.eval import columns as E
from recycle.eval.generate import generate_answers
from recycle.eval.questions import write_model_outputs
from recycle.logs import PROGRESS_LOGGER
from recycle.storage import filesystem, local_folder
from recycle.teacher.serve_checks import generation_backend_problem

log = logging.getLogger(__name__)
console = logging.getLogger(f"{PROGRESS_LOGGER}.generate")  # shown on a quiet console too

MODEL_OUTPUTS = "model_outputs.json"
REJECTS = "rejects.json"
STAGE = "generate"
DEFAULT_POSITIONS = 4096  # a model config that does not say


class GenerateAnswers:
    """Ray Data adapter: loads the model once, answers each pandas batch of questions.

    Args:
        student: the StudentConfig (dict) of the model: path, template, device, dtype.
        max_new_tokens, batch_size, max_prompt_tokens: see EvalConfig.
    """

    def __init__(
        self,
        student: dict[str, Any],
        max_new_tokens: int,
        batch_size: int,
        max_prompt_tokens: int | None,
    ):
        from recycle.student.model import load_student

        self.cfg = StudentConfig.model_validate(student)
        self.model, self.tokenizer = load_student(self.cfg)
        limit = max_prompt_tokens or prompt_room(self.model.config, max_new_tokens)
        self.settings = (max_new_tokens, batch_size, limit)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        C.require_columns(STAGE, batch.columns, E.QUESTION_COLUMNS)
        questions = list(zip(batch[E.INSTRUCTION], batch[E.INPUT], strict=True))
        answers = generate_answers(
            self.model, self.tokenizer, questions, self.cfg.template, *self.settings
        )
        out = batch.copy()
        out[E.OUTPUT] = [a.text for a in answers]
        out[E.GENERATED_TOKENS] = [a.tokens for a in answers]
        out[E.GENERATION_ERROR] = [a.error for a in answers]
        return out


def prompt_room(model_config: Any, max_new_tokens: int) -> int:
    """Longest prompt that leaves room for max_new_tokens within the model's positions.

    Raises:
        ConfigError: max_new_tokens alone fills the model's context.
    """
    positions = getattr(model_config, "max_position_embeddings", None) or DEFAULT_POSITIONS
    if positions - max_new_tokens < 1:
        raise ConfigError(
            f"eval.max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
            f"{positions} positions; lower it or set eval.max_prompt_tokens"
        )
    return positions - max_new_tokens


def student_for(cfg: RecycleConfig, model: str, template: str | None) -> StudentConfig:
    """The student config of the model to generate with (its template: given, else student.template)."""
    update: dict[str, Any] = {"model": model, "num_gpus_per_actor": cfg.eval.num_gpus_per_actor}
    update["num_cpus_per_actor"] = cfg.eval.num_cpus_per_actor
    if template is not None:
        update["template"] = template
    return StudentConfig.model_validate({**cfg.student.model_dump(), **update})


def choose_backend(requested: str, gpus_per_actor: float, vllm_ready: bool) -> str:
    """The generation backend to run: `requested`, or for 'auto' vLLM where it can run, else HF.

    'auto' is vLLM (Ray Data LLM) when vllm and Ray Data LLM are installed and the generation
    actors get GPUs (the cluster has some, or eval.num_gpus_per_actor says so), HF otherwise;
    the choice and its reason are said on the console.
    """
    if requested != "auto":
        return requested
    if vllm_ready and gpus_per_actor > 0:
        console.info(
            "eval.backend=auto: vllm (vLLM is installed and each actor gets %g GPU)", gpus_per_actor
        )
        return "vllm"
    why = "no GPU for the generation actors" if vllm_ready else "vllm is not installed"
    console.info("eval.backend=auto: hf (%s)", why)
    return "hf"


def vllm_installed() -> bool:
    """Whether eval.backend=vllm can run here (vllm installed: pre-flight's check of it)."""
    return generation_backend_problem("vllm") is None


def generate_rows(
    cfg: RecycleConfig, student: StudentConfig, questions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every question with its answer columns, in question order."""
    import ray

    from recycle.student.model import check_student
    from recycle.student.scoring_actor import resolve_num_gpus

    gpus = resolve_num_gpus(student)
    if choose_backend(cfg.eval.backend, gpus, vllm_installed()) == "vllm":
        return vllm_rows(cfg, student, questions)
    check_student(student)
    ds = ray.data.from_items(questions).map_batches(
        GenerateAnswers,
        fn_constructor_kwargs={
            "student": student.model_dump(),
            "max_new_tokens": cfg.eval.max_new_tokens,
            "batch_size": cfg.eval.batch_size,
            "max_prompt_tokens": cfg.eval.max_prompt_tokens,
        },
        batch_size=cfg.eval.rows_per_call,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=cfg.eval.num_actors),
        num_gpus=gpus,
        num_cpus=student.num_cpus_per_actor,
        udf_modifying_row_count=False,
    )
    order = {q[E.QUESTION_ID]: i for i, q in enumerate(questions)}
    return sorted(ds.take_all(), key=lambda r: order[r[E.QUESTION_ID]])


def vllm_rows(
    cfg: RecycleConfig, student: StudentConfig, questions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every question with its answer columns, in question order, through Ray Data LLM (vLLM)."""
    from transformers import AutoConfig

    from recycle.eval.generate_vllm import vllm_answers
    from recycle.student.model import check_student
    from recycle.student.scoring_actor import resolve_num_gpus

    tokenizer = check_student(student)
    model_config = AutoConfig.from_pretrained(
        local_folder(student.model), trust_remote_code=student.trust_remote_code
    )
    new = cfg.eval.max_new_tokens
    limit = cfg.eval.max_prompt_tokens or prompt_room(model_config, new)
    positions = getattr(model_config, "max_position_embeddings", None) or DEFAULT_POSITIONS
    limits = (limit, min(positions, limit + new))
    answers = vllm_answers(cfg, student, tokenizer, questions, limits, resolve_num_gpus(student))
    return [
        {**q, E.OUTPUT: a.text, E.GENERATED_TOKENS: a.tokens, E.GENERATION_ERROR: a.error}
        for q, a in zip(questions, answers, strict=True)
    ]


def write_answers(
    out_dir: str, generator: str, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Name the generator on every row; write the answers (model_outputs.json) and the questions
    left unanswered (rejects.json); returns (answered, rejected)."""
    for r in rows:
        r[E.GENERATOR] = generator
    answered = [r for r in rows if not r[E.GENERATION_ERROR]]
    rejected = [r for r in rows if r[E.GENERATION_ERROR]]
    write_model_outputs(posixpath.join(out_dir.rstrip("/"), MODEL_OUTPUTS), answered)
    _write_rejects(out_dir, rejected)
    return answered, rejected


def _write_rejects(out_dir: str, rejected: list[dict[str, Any]]) -> None:
    fs, path = filesystem(out_dir)
    keys = (E.QUESTION_ID, E.DATASET, E.INSTRUCTION, E.INPUT, E.GENERATION_ERROR)
    payload = [{k: r[k] for k in keys} for r in rejected]
    with fs.open_output_stream(posixpath.join(path, REJECTS)) as f:
        f.write(json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"))


def answer_counts(answered: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's counts: questions answered (kept), and not answered by reason (rejected)."""
    reasons = Counter(r[E.GENERATION_ERROR].split(":")[0] for r in rejected)
    return {"kept": len(answered), "dropped": {}, "rejected": dict(reasons)}


def generation_section(
    cfg: RecycleConfig,
    student: StudentConfig,
    name: str,
    questions: list[dict[str, Any]],
    answered: list[dict[str, Any]],
) -> dict[str, Any]:
    """The manifest's "generation": model, template, sets, tokens, answers cut at max_new_tokens."""
    return {
        "model": student.model,
        "generator": name,
        "template": student.template,
        "max_new_tokens": cfg.eval.max_new_tokens,
        "sets": dict(Counter(q[E.DATASET] for q in questions)),
        "generated_tokens": sum(int(r[E.GENERATED_TOKENS]) for r in answered),
        "hit_max_new_tokens": sum(
            int(r[E.GENERATED_TOKENS]) >= cfg.eval.max_new_tokens for r in answered
        ),
    }
