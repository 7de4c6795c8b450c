"""Config of evaluation: answer generation on the test sets and the pairwise LLM judge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from recycle.config.base import Section
from recycle.config.student import TemplateName
from recycle.config.teacher import TeacherConfig

BackendName = Literal["auto", "hf", "vllm"]
BaselineName = Literal["base", "original"]
ControlName = Literal["random", "length"]
JudgeQuestion = Literal["instruction", "instruction_and_input"]
DEFAULT_SETS = ("vicuna", "koala", "wizardlm", "sinstruct", "lima")


class JudgeConfig(TeacherConfig):
    """The pairwise judge: the teacher's keys (endpoint, key variable, limits, retries, cache,
    prices, budget), with the authors' defaults (GPT-4, temperature 0, 1024 answer tokens, no
    re-asking: an unparseable review counts as the authors count it)."""

    model: str = Field(default="gpt-4", description="Judge model name as the endpoint knows it.")
    max_tokens: int = Field(
        default=1024,
        ge=1,
        description="Most tokens of one review (authors: 1024); lowered to fit context_window, as theirs was.",
    )
    context_window: int | None = Field(
        default=8192, ge=256, description="Tokens the judge sees (prompt + review); gpt-4: 8192."
    )
    cache_dir: str | None = Field(
        default=None,
        description="Durable cache of reviews; None puts it under the output directory's judge_cache.",
    )
    max_parse_retries: int = Field(
        default=0,
        ge=0,
        description="New requests for a review whose first line is not two scores (authors: 0, it counts as -1 -1).",
    )


AlpacaEvalVersion = Literal["1.0", "2.0"]


class AlpacaEvalConfig(Section):
    """AlpacaEval as its users run it: the package's prompts, annotator and reference outputs."""

    version: AlpacaEvalVersion = Field(
        default="1.0",
        description="1.0: GPT-4 annotator against text-davinci-003 (the papers'); 2.0: GPT-4 Turbo annotator against GPT-4 Turbo, with the length-controlled win rate.",
    )
    prompts: str | None = Field(
        default=None,
        description="A local copy of the 805-prompt set (alpaca_eval.json); None: read with `datasets` (online).",
    )
    reference_outputs: str | None = Field(
        default=None,
        description="The reference model's outputs (JSON); None: the version's default (text-davinci-003 for 1.0, gpt4_turbo for 2.0), read with `datasets`.",
    )
    annotator: str | None = Field(
        default=None,
        description="The package's annotator config name; None: the version's default (alpaca_eval_gpt4 for 1.0, weighted_alpaca_eval_gpt4_turbo for 2.0).",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Only the first N prompts (quick checks)."
    )
    files: str | None = Field(
        default=None,
        description="A folder of local copies of what alpaca_eval downloads from the hub dataset tatsu-lab/alpaca_eval: alpaca_eval.json (1.0's reference), alpaca_eval_gpt4_baseline.json (2.0's reference and its rows) and df_gamed.csv (2.0's length-controlled figure); with it nothing is downloaded. None: downloaded (pre-flight refuses the run when the hub cannot be reached).",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        """`version=2.0` on the command line or in YAML is read as a number: take it as text."""
        return f"{value:.1f}" if isinstance(value, (int, float)) else value


class EvalConfig(Section):
    """Which questions, which two models (or their answer files), and how answers are generated."""

    sets: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SETS),
        description="Test sets: built-in names (vicuna, koala, wizardlm, sinstruct, lima) or paths the readers take (AlpacaEval model_outputs.json too).",
    )
    limit_per_set: int | None = Field(
        default=None, ge=1, description="Only the first N questions of each set (quick checks)."
    )
    model_a: str | None = Field(
        default=None, description="Model A (the one whose point of view the summary takes)."
    )
    model_b: str | None = Field(default=None, description="Model B, the baseline.")
    answers_a: str | None = Field(
        default=None, description="Existing answers of A (model_outputs.json); skips generation."
    )
    answers_b: str | None = Field(
        default=None, description="Existing answers of B (model_outputs.json); skips generation."
    )
    template_a: TemplateName | None = Field(
        default=None, description="Template A was trained with; None: student.template."
    )
    template_b: TemplateName | None = Field(
        default=None, description="Template B was trained with; None: student.template."
    )
    max_new_tokens: int = Field(
        default=1024, ge=1, description="Most tokens of one answer (authors: 1024)."
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        ge=8,
        description="Longer prompts are left unanswered with a reason; None: the model's max_position_embeddings - max_new_tokens.",
    )
    backend: BackendName = Field(
        default="auto",
        description="'auto': vllm where vllm is installed and the generation actors get GPUs, else hf (said on the console); 'hf': transformers generate in a Ray Data actor pool; 'vllm': vLLM through Ray Data LLM (needs the vllm extra), and lm-eval's vllm model for eval.benchmarks (which 'auto' and 'hf' run on lm-eval's hf model, the Leaderboard's).",
    )
    vllm_engine_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="backend vllm: extra vLLM engine arguments (e.g. enforce_eager, gpu_memory_utilization).",
    )
    vllm_env_vars: dict[str, str] = Field(
        default_factory=dict,
        description="backend vllm: environment of the engine actors (e.g. VLLM_CPU_KVCACHE_SPACE on CPU).",
    )
    batch_size: int = Field(
        default=8, ge=1, description="Prompts generated together (length-sorted, left-padded)."
    )
    rows_per_call: int = Field(
        default=64, ge=1, description="Questions handed to one generation actor call."
    )
    num_actors: int = Field(default=1, ge=1, description="Generation actors (one model each).")
    num_gpus_per_actor: float | None = Field(
        default=None, ge=0.0, description="GPUs per generation actor; None: 1 when Ray has GPUs."
    )
    num_cpus_per_actor: float = Field(default=1.0, gt=0.0, description="CPUs per actor.")
    judge_question: JudgeQuestion = Field(
        default="instruction",
        description="What the judge sees as the question: the instruction alone (authors) or with the input.",
    )
    baseline: BaselineName | None = Field(
        default=None,
        description="End-to-end job only: judge the fine-tuned student against 'base' (student.model) or 'original' (the same recipe fine-tuned on data.input, in the same job); None: no evaluation stage.",
    )
    controls: list[ControlName] = Field(
        default_factory=list,
        description="End-to-end job only (with eval.baseline): the same recipe also fine-tuned, in the same job, on a subset of data.input of the kept size: 'random' (seeded by eval.control_seed) and 'length' (the longest responses); each judged against the same baseline with the same judge and benchmarks, beside the verdict. Not applied where the kept set is the whole input.",
    )
    control_seed: int = Field(default=0, description="Seed of the random control's subset.")
    bootstrap_samples: int = Field(
        default=1000, ge=0, description="Resamples of the win rate's bootstrap interval."
    )
    seed: int = Field(default=0, description="Seed of the bootstrap.")
    benchmarks: list[str] = Field(
        default_factory=list,
        description="lm-evaluation-harness tasks run on both models: names (checked against the installed harness at pre-flight), or the presets 'open_llm_v1' (the papers' four: ARC-challenge 25-shot acc_norm, HellaSwag 10-shot acc_norm, MMLU 5-shot acc as the mean of its 57 subjects, TruthfulQA mc2 0-shot) and 'open_llm_v1_6' (adds Winogrande 5-shot acc, GSM8K 5-shot exact_match strict-match); empty: none.",
    )
    benchmark_include_path: str | None = Field(
        default=None,
        description="A folder of local lm-eval task YAMLs (offline tasks); its tasks are found first.",
    )
    benchmark_limit: int | None = Field(
        default=None,
        ge=1,
        description="Only the first N samples of each lm-eval task (quick checks).",
    )
    benchmark_batch_size: int = Field(
        default=8,
        ge=1,
        description="lm-eval batch size (HF backend; vLLM batches as it schedules).",
    )
    alpaca_eval: AlpacaEvalConfig | None = Field(
        default=None,
        description="AlpacaEval through the alpaca_eval package (its 805 prompts, its annotator at judge.base_url); None: not run.",
    )

    @model_validator(mode="after")
    def _controls_need_a_baseline(self) -> EvalConfig:
        """Controls are judged against eval.baseline, in the end-to-end job: fail at start-up."""
        if self.controls and self.baseline is None:
            raise ValueError(
                "eval.controls needs eval.baseline (base or original): each control is judged "
                "against it, in the end-to-end job"
            )
        if len(set(self.controls)) != len(self.controls):
            raise ValueError(f"eval.controls names a control twice: {self.controls}")
        return self
