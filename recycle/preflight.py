"""Pre-flight: the checks a command runs before Ray, torch or any client is imported.

A wrong input path, a missing key, an empty student folder or a teacher that does not answer is
found here in a second or two, with one line that says what to do, instead of after Ray has
started and models have loaded. Everything here uses the standard library (plus pyarrow to list an
input); nothing heavy is imported, so a test can assert that torch and ray stay out of
`sys.modules`.

The checks, each a function of the config (a command declares the ones it needs in its
`recycle.commands.runner.Command.preflight`, and the runner runs them wherever the command is
started from: the CLI, a job, a notebook):

- `input_readable`: data.input exists and its format is known (local paths; remote ones are
  checked by the run)
- `output_writable`: output.dir can be created and written (local paths)
- `student_model`: student.model is a folder holding a model (config.json and weights) or a hub id
- `teacher_endpoint`, `judge_endpoint`: the key variable is set where the endpoint needs one, and
  the endpoint answers `GET /models` listing the configured model (an unset judge is not checked)
- `generation_backend`: eval.backend is installed (vllm)
- `eval_alpaca_files`: eval.alpaca_eval has local copies of what alpaca_eval downloads
  (eval.alpaca_eval.files), or the hub answers (AlpacaEval 2.0 offline without them: exit 2)
- `eval_sides`: each side of `recycle eval` has its answers file or a model folder
- `eval_benchmarks`: each task of eval.benchmarks is in the installed lm-eval's registry (or
  eval.benchmark_include_path), with the metric and filter asked for (imports lm-eval, no torch)
- `Given(check_model_path | check_output | check_file, value, option)`: a model, folder or
  file given as an argument (`recycle generate --model`, `--output`, `recycle judge
  --answers-a`), named by its option

A `Preflight` policy is what an entry hands down: whether checks run at all (--no-preflight) and
which already ran, so a nested run (the evaluation's generations, end-to-end's training) inherits
the user's choice and no check runs twice on one config.
- `mode_needs`: the student and the teacher as selection.mode uses them (`ifd_topk` needs no
  teacher, the `recycle*` modes no student); an unknown mode stops here, naming selection.mode.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from recycle.config import RecycleConfig
from recycle.config.teacher import is_openai
from recycle.errors import RecycleError
from recycle.storage import check_object_store
from recycle.teacher.serve_checks import generation_backend_problem, serve_problem

OPENAI_URL = "https://api.openai.com/v1"
PROBE_TIMEOUT_S = 2.5
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json", "*.pt")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
NO_PREFLIGHT_HINT = "(--no-preflight skips these checks)"


class PreflightError(RecycleError):
    """A check failed before any work started; the message says what to do."""


Check = Callable[[RecycleConfig], None]


def run_preflight(cfg: RecycleConfig, checks: tuple[Check, ...]) -> None:
    """Run the checks in order; the first failure raises.

    Raises:
        PreflightError: one line naming the problem and the fix.
        ConfigError: an unknown selection.mode.
    """
    for check in checks:
        check(cfg)


@dataclass(frozen=True)
class Preflight:
    """The pre-flight policy an entry hands to what it runs, and what that runs in turn.

    `enabled` is the user's choice (--no-preflight: False), inherited by every nested run (the
    evaluation's generations and judge, end-to-end's training); `done` holds each check already
    run with the config it ran on, so a check runs once per entry, wherever it is declared.
    """

    enabled: bool = True
    done: tuple[tuple[Check, RecycleConfig], ...] = ()

    @classmethod
    def of(cls, policy: bool | Preflight) -> Preflight:
        """A library call's `preflight=` argument (True, False or an inherited policy)."""
        return policy if isinstance(policy, Preflight) else cls(enabled=bool(policy))

    def run(self, cfg: RecycleConfig | None, checks: tuple[Check, ...]) -> Preflight:
        """Run the `checks` not yet run on `cfg` (none when disabled); the policy with them done.

        Raises:
            PreflightError, ConfigError: as `run_preflight`.
        """
        if not self.enabled or cfg is None:
            return self
        todo = tuple(c for c in dict.fromkeys(checks) if (c, cfg) not in self.done)
        run_preflight(cfg, todo)
        return replace(self, done=(*self.done, *((c, cfg) for c in todo)))


@dataclass(frozen=True)
class Given:
    """The check of a value given as an argument rather than a config key (`recycle generate
    --model`, `--output`, `recycle judge --answers-a`): `check(value, option)`, the message naming
    the option. Equal when the check, the value and the option are, so it runs once per entry."""

    check: Callable[[Any, str], None]
    value: Any
    option: str

    def __call__(self, cfg: RecycleConfig) -> None:
        self.check(self.value, self.option)


def input_readable(cfg: RecycleConfig) -> None:
    """data.input is set, exists, and each file's format is known."""
    check_input(cfg)


def output_writable(cfg: RecycleConfig) -> None:
    """output.dir can be created and written."""
    check_output(cfg.output.dir)


def teacher_cache_writable(cfg: RecycleConfig) -> None:
    """teacher.cache_dir, when set, can be written (a bucket that exists, for s3:// or gs://)."""
    if cfg.teacher.cache_dir:
        check_output(cfg.teacher.cache_dir, "teacher.cache_dir")


def train_storage_writable(cfg: RecycleConfig) -> None:
    """train.storage_path, when set, can be written (the checkpoints go there)."""
    if cfg.train.storage_path:
        check_output(cfg.train.storage_path, "train.storage_path")


def student_model(cfg: RecycleConfig) -> None:
    """student.model holds a model (or is a hub id)."""
    check_model_path(cfg.student.model)


def teacher_endpoint(cfg: RecycleConfig) -> None:
    """The teacher's key and endpoint."""
    check_endpoint("teacher", cfg.teacher)


def judge_endpoint(cfg: RecycleConfig) -> None:
    """The judge's key and endpoint, when a judge is configured."""
    if cfg.judge is not None:
        check_endpoint("judge", cfg.judge)


def eval_judge_endpoint(cfg: RecycleConfig) -> None:
    """The judge's key and endpoint, when `recycle eval` runs a benchmark that asks a judge."""
    if cfg.eval.sets or cfg.eval.alpaca_eval is not None:
        judge_endpoint(cfg)


def eval_sides(cfg: RecycleConfig) -> None:
    """Each side of `recycle eval` has its answers file, or a model folder to generate them."""
    for side in ("a", "b"):
        answers = getattr(cfg.eval, f"answers_{side}")
        if answers:
            check_file(answers, f"eval.answers_{side}")
        else:
            check_model_path(getattr(cfg.eval, f"model_{side}"), f"eval.model_{side}")


def eval_benchmarks(cfg: RecycleConfig) -> None:
    """eval.benchmarks names tasks the installed lm-eval has, with their metrics and filters."""
    if cfg.eval.benchmarks:
        from recycle.eval.lm_tasks import task_problem

        raise_if(task_problem(cfg.eval.benchmarks, cfg.eval.benchmark_include_path))


def eval_alpaca_files(cfg: RecycleConfig) -> None:
    """eval.alpaca_eval gets what the package downloads: from eval.alpaca_eval.files, or from
    the hub when it can be reached (recycle.eval.alpaca_files)."""
    if cfg.eval.alpaca_eval is not None:
        from recycle.eval.alpaca_files import files_problem

        raise_if(files_problem(cfg.eval.alpaca_eval))


def generation_backend(cfg: RecycleConfig) -> None:
    """eval.backend is installed (vllm: the vLLM stack and Ray Data LLM)."""
    raise_if(generation_backend_problem(cfg.eval.backend))


def raise_if(problem: str | None) -> None:
    """Raise a check's problem (one line) as a PreflightError; nothing when it found none."""
    if problem is not None:
        raise PreflightError(f"{problem} {NO_PREFLIGHT_HINT}")


def mode_needs(cfg: RecycleConfig) -> None:
    """The student and the teacher, each when the mode's declaration says it needs them."""
    from recycle.select.plan import plan_selection

    spec = plan_selection(cfg.selection).spec
    if spec.needs_student:
        student_model(cfg)
    if spec.needs_teacher:
        teacher_endpoint(cfg)
        teacher_cache_writable(cfg)


def check_input(cfg: RecycleConfig) -> None:
    """data.input is set, exists, and each file's format is known (local inputs only)."""
    uri = cfg.data.input
    if not uri:
        raise PreflightError("no input given: pass --input PATH or set data.input=PATH")
    if "://" in uri:
        return  # s3:// / gs://: listing needs credentials and time; the run checks it
    from recycle.data.sources import resolve_inputs  # pyarrow only, no Ray
    from recycle.errors import InputError

    try:
        resolve_inputs(uri, cfg.data.format, cfg.data.split)
    except InputError as err:
        raise PreflightError(str(err)) from None


def check_output(out: str, key: str = "output.dir") -> None:
    """`out` is a writable folder, or can be created (local paths); nothing is created here."""
    if "://" in out:
        return check_object_store(out, key)  # recycle/storage.py: bucket, credentials, endpoint
    path = Path(out).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    problem = None
    if not existing.is_dir():
        problem = f"{str(existing)!r} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"no permission to write in {str(existing)!r}"
    elif existing == path:
        problem = _write_probe(path)
    if problem:
        flag = "--output DIR or output.dir=DIR" if key == "output.dir" else f"{key}=DIR"
        raise PreflightError(
            f"cannot write to {key} {out!r} ({problem}); choose a writable folder with {flag}"
        )


def _write_probe(folder: Path) -> str | None:
    """None when a file can be created in the folder, else why not (read-only mounts and the like)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".preflight-"):
            return None
    except OSError as err:
        return err.strerror or str(err)


def check_model_path(model: str | None, key: str = "student.model") -> None:
    """`model` names a folder holding a Hugging Face model, or looks like a hub id."""
    if not model:
        raise PreflightError(
            f"no model given: set {key}=PATH (a Hugging Face model folder or hub id)"
        )
    if "://" in model:
        return
    path = Path(model).expanduser()
    if path.is_dir():
        _check_model_folder(path, model, key)
    elif path.exists():
        raise PreflightError(
            f"{key} {model!r} is a file; point it at the model's folder (config.json and weights)"
        )
    elif model.startswith((".", "/", "~")) or not HUB_ID.match(model):
        hint = " (python cluster/local_sandbox.py --build-only)" if "sandbox" in model else ""
        raise PreflightError(
            f"{key} {model!r} does not exist; build or download the model there first{hint}, "
            "or give a hub id such as Qwen/Qwen2.5-0.5B"
        )


def _check_model_folder(path: Path, model: str, key: str) -> None:
    if not (path / "config.json").is_file():
        raise PreflightError(
            f"{key} {model!r} holds no config.json: not a Hugging Face model folder "
            "(save one with model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR))"
        )
    if not any(any(path.glob(p)) for p in WEIGHT_FILES):
        raise PreflightError(
            f"{key} {model!r} has a config.json but no weights (*.safetensors or *.bin); "
            "the download or save did not finish"
        )


def check_file(path: str, key: str) -> None:
    """`path` is an existing file (local paths; remote ones are checked when read)."""
    if "://" not in path and not Path(path).expanduser().is_file():
        raise PreflightError(
            f"{key} {path!r} does not exist or is not a file; give the path of the file"
        )


def check_endpoint(name: str, section: Any) -> None:
    """The key variable is set where needed, and `GET base_url/models` lists the model."""
    if getattr(section, "serve", None) is not None:  # the run serves this model on the cluster
        return raise_if(serve_problem(name, section.serve))
    if getattr(section, "backend", "online") == "batch":
        return  # the Batch API answers later; its upload checks the key
    key = check_key(name, section)
    url = (section.base_url or OPENAI_URL).rstrip("/")
    served = list_models(name, url, key)
    if section.model not in served:
        shown = ", ".join(served[:8]) + (", ..." if len(served) > 8 else "")
        raise PreflightError(
            f"{name}.model {section.model!r} is not served by {url} (it lists: {shown or 'nothing'}); "
            f"set {name}.model to one of them {NO_PREFLIGHT_HINT}"
        )


def check_key(name: str, section: Any) -> str | None:
    """The one API-key check (teacher and judge, at pre-flight and at a command's start-up): the
    key `section.api_key_env` names, None for a keyless server.

    Raises:
        PreflightError: the endpoint is OpenAI and the variable is not set.
    """
    key = os.environ.get(section.api_key_env)
    if not key and is_openai(section.base_url):
        raise PreflightError(
            f"the {name} is OpenAI but the environment variable {section.api_key_env} is not set: "
            f"export {section.api_key_env}=... (or name another variable with {name}.api_key_env)"
        )
    return key


def list_models(name: str, url: str, key: str | None) -> list[str]:
    """The model ids an OpenAI-compatible endpoint lists under /models."""
    request = urllib.request.Request(f"{url}/models")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        raise PreflightError(_http_hint(name, url, err.code)) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise PreflightError(
            f"the {name} at {url} does not answer ({reason}); start the server or fix "
            f"{name}.base_url {NO_PREFLIGHT_HINT}"
        ) from None
    except json.JSONDecodeError:
        raise PreflightError(
            f"{url}/models did not answer JSON: is {name}.base_url the API root (usually ending in /v1)?"
        ) from None
    return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]


def _http_hint(name: str, url: str, status: int) -> str:
    if status in (401, 403):
        return f"the {name} at {url} refused the key (HTTP {status}): check the variable {name}.api_key_env names"
    if status == 404:
        return f"{url}/models was not found (HTTP 404): is {name}.base_url the API root (usually ending in /v1)?"
    return f"the {name} at {url} answered HTTP {status} to GET /models {NO_PREFLIGHT_HINT}"
