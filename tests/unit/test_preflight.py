"""Pre-flight: each wrong setting stops `recycle run` with exit 2 and one line, before Ray or torch.

Each case runs the real command line in a fresh interpreter (what a user's shell does) and prints
its wall time; run with `-s` to see them. Times are reported, not asserted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from recycle.commands import needs
from recycle.config import load_config
from recycle.demo.offline import SAMPLE
from recycle.preflight import mode_needs, run_preflight
from recycle.testing.local_server import LocalTeacherServer

pytestmark = pytest.mark.integration  # every test here talks to the local teacher server

REPO = Path(__file__).resolve().parents[2]
# The command line, then proof that nothing heavy was imported before the failure.
SCRIPT = (
    "import sys\n"
    "from recycle.cli.main import main\n"
    "rc = main(sys.argv[1:])\n"
    "heavy = sorted({'torch', 'ray', 'transformers', 'openai'} & set(sys.modules))\n"
    "assert not heavy, f'imported before pre-flight ended: {heavy}'\n"
    "sys.exit(rc)\n"
)
NO_KEY_VAR = "RECYCLE_TEST_UNSET_KEY"


@pytest.fixture(scope="module")
def teacher():
    with LocalTeacherServer(model="local-teacher") as server:
        yield server


@pytest.fixture
def setup(tmp_path: Path, teacher: LocalTeacherServer) -> dict[str, str]:
    """A config that passes every check: real input, a model-shaped folder, a live teacher."""
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    (student / "model.safetensors").write_bytes(b"")
    cfg = {
        "data": {"input": str(SAMPLE)},
        "output": {"dir": str(tmp_path / "run")},
        "teacher": {"base_url": teacher.base_url, "model": "local-teacher"},
        "student": {"model": str(student)},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    (tmp_path / "data.csv").write_text("instruction,output\na,b\n")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "no_weights" / "config.json").write_text("{}")
    (tmp_path / "answers.json").write_text("[]")
    return {"cfg": str(path), "tmp": str(tmp_path), "teacher": teacher.base_url}


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# (case id, overrides with {tmp} filled in, expected words of the one-line message)
CASES = [
    (
        "unknown_key",
        ["teacher.modle=x"],
        "unknown config key 'teacher.modle' (did you mean 'teacher.model'?)",
    ),
    ("bad_value", ["teacher.temperature=9"], "config key 'teacher.temperature'"),
    ("input_missing", ["data.input={tmp}/nope.json"], "does not exist; check the path"),
    ("input_format", ["data.input={tmp}/data.csv"], "cannot tell the format"),
    (
        "no_key",
        ["teacher.base_url=null", f"teacher.api_key_env={NO_KEY_VAR}"],
        f"{NO_KEY_VAR} is not set",
    ),
    ("student_missing", ["student.model={tmp}/nothing_here"], "does not exist; build or download"),
    ("student_no_weights", ["student.model={tmp}/no_weights"], "no weights"),
    ("student_unset", ["student.model=null"], "no model given: set student.model"),
    ("output_unwritable", ["output.dir={tmp}/blocker/run"], "blocker' is a file, not a folder"),
    ("teacher_unreachable", ["teacher.base_url={closed}"], "does not answer"),
    ("teacher_wrong_model", ["teacher.model=gpt-5"], "'gpt-5' is not served by"),
]


@pytest.mark.integration  # a fresh interpreter per case
@pytest.mark.parametrize(
    ("overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_preflight_failure_exits_2_with_one_line(setup, overrides, expected):
    fill = {"tmp": setup["tmp"], "closed": _closed_port_url()}
    _assert_exit_2(["run", setup["cfg"], *(o.format(**fill) for o in overrides)], expected)


def _assert_exit_2(argv: list[str], expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != NO_KEY_VAR}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    elapsed = time.perf_counter() - t0
    print(f"\npreflight {argv}: exit {proc.returncode} in {elapsed:.2f}s: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


JUDGE_OK = ["judge.base_url={teacher}", "judge.model=local-teacher"]
ANSWERS = ["--answers-a", "{tmp}/answers.json", "--answers-b", "{tmp}/answers.json"]
# The evaluation commands: options (--model, --answers-*, --output) are checked like config keys.
EVAL_CASES = [
    (
        "generate_model_missing",
        ["generate", "--model", "{tmp}/nothing_here", "--output", "{tmp}/gen"],
        "--model '{tmp}/nothing_here' does not exist",
    ),
    (
        "generate_output_unwritable",
        ["generate", "--model", "{tmp}/student", "--output", "{tmp}/blocker/gen"],
        "cannot write to --output",
    ),
    (
        "judge_answers_missing",
        ["judge", "--answers-a", "{tmp}/none.json", "--answers-b", "{tmp}/answers.json",
         "--output", "{tmp}/j", *JUDGE_OK],
        "--answers-a '{tmp}/none.json' does not exist",
    ),
    (
        "judge_unreachable",
        ["judge", *ANSWERS, "--output", "{tmp}/j", "judge.base_url={closed}"],
        "does not answer",
    ),
    (
        "eval_model_unset",
        ["eval", "--output", "{tmp}/e", *JUDGE_OK, "eval.model_b={tmp}/student"],
        "no model given: set eval.model_a",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "expected"), [c[1:] for c in EVAL_CASES], ids=[c[0] for c in EVAL_CASES]
)
@pytest.mark.integration  # a fresh interpreter per case
def test_evaluation_commands_fail_fast_too(setup, argv, expected):
    fill = {"tmp": setup["tmp"], "closed": _closed_port_url(), "teacher": setup["teacher"]}
    _assert_exit_2([a.format(**fill) for a in argv], expected.format(**fill))


def test_evaluation_preflight_passes_a_good_judge_setup(setup):
    from recycle.cli.main import build_parser
    from recycle.commands.entry import config_from_args

    fill = {"tmp": setup["tmp"], "teacher": setup["teacher"]}
    argv = ["judge", *ANSWERS, "--output", "{tmp}/j", *JUDGE_OK]
    args = build_parser().parse_args([a.format(**fill) for a in argv])
    cfg = config_from_args(args)
    run_preflight(cfg, needs.judge(args.answers_a, args.answers_b, args.output))  # raises if not
    assert cfg.judge.model == "local-teacher" and not (Path(setup["tmp"]) / "j").exists()


def test_a_good_setup_passes_every_check(setup):
    cfg = load_config(setup["cfg"])
    run_preflight(cfg, needs.RUN)  # raises on any failure
    assert not (Path(setup["tmp"]) / "run").exists()  # checked, not created


def test_modes_check_only_what_they_use(setup):
    cfg = load_config(
        setup["cfg"], ["student.model=null", "selection.mode=recycle", "teacher.model=x"]
    )
    with pytest.raises(Exception, match="'x' is not served"):
        run_preflight(cfg, (mode_needs,))  # recycle: no student needed, the teacher is checked
    cfg = load_config(
        setup["cfg"], ["selection.mode=ifd_topk", "selection.topk_n=3", "teacher.model=x"]
    )
    run_preflight(cfg, (mode_needs,))  # ifd_topk: no teacher, the student is fine


def test_no_preflight_skips_the_checks_and_reaches_the_library(setup, monkeypatch):
    from recycle.cli.main import main

    seen = {}

    def run_pipeline(cfg, preflight=True):
        seen.update(model=cfg.teacher.model, policy=preflight, quiet=cfg.ray.quiet)
        return {"counts": {"input": 0, "kept": 0, "dropped": {}, "rejected": {}}}

    monkeypatch.setattr("recycle.commands.pipeline.run_pipeline", run_pipeline)
    assert main(["run", setup["cfg"], "teacher.model=x", "--no-preflight"]) == 0  # not served
    assert seen["model"] == "x" and seen["policy"].enabled is False and seen["quiet"] is True
