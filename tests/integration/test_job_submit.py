# ruff: noqa: F811  (pytest fixtures imported from tests.support.fixtures are parameters here)
"""`ray job submit` of the small end-to-end job to a real local Ray head, as a user would.

The test starts a Ray head (`ray start --head --block`, its own ports, temp dir and token) in its
own process group, serves the scripted teacher from this process on 127.0.0.1, submits
`python jobs/end_to_end.py jobs/configs/small_local.yaml ...` with this repository as the working
directory and cluster/runtime_env.yaml's excludes and env_vars, waits for SUCCEEDED, then checks
the run directory, the manifest and the exported model.

The teacher key is a secret: it is given only to the head's environment (as a cluster's would be)
and must reach the teacher from there, while it appears in no part of the submission, the job's
logs or the run directory. The runtime env's pip list is left out here (this machine already has
every package, and building the virtualenv costs a minute); it was exercised by hand.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from recycle.testing.local_server import LocalTeacherServer
from tests.support.fixtures import tiny_artifacts, tiny_model_dir, tiny_tokenizer_dir  # noqa: F401

pytestmark = pytest.mark.integration  # every wait below is bounded

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
HEAD_START_S = 120
JOB_TIMEOUT_S = 600
ROWS = 16
KEY_ENV = "RECYCLE_TEST_TEACHER_KEY"
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
HEAD_PORTS = (
    "--port",
    "--dashboard-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
    "--ray-client-server-port",
)


def free_ports(n: int) -> list[int]:
    """n distinct ports free right now on 127.0.0.1 (held open together so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalHead:
    """A Ray head on this machine with a dashboard on 127.0.0.1, reached over HTTP with a token."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        ports = dict(zip(HEAD_PORTS, free_ports(len(HEAD_PORTS)), strict=True))
        self.address = f"http://127.0.0.1:{ports['--dashboard-port']}"
        self.token = (root / "token").read_text().strip()
        self.cmd = [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                    "--dashboard-host=127.0.0.1", "--num-cpus=2", f"--temp-dir={root / 'ray'}",
                    "--disable-usage-stats", *(f"{k}={v}" for k, v in ports.items())]  # fmt: skip
        self.log = open(root / "head.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def request(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(self.address + path, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())

    def wait_ready(self) -> None:
        deadline = time.monotonic() + HEAD_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.process.returncode}")
            try:
                self.request("/api/version")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        raise TimeoutError(f"the dashboard at {self.address} did not answer in {HEAD_START_S}s")

    def diagnostics(self) -> str:
        """The head's own output and the tail of its logs, for a failure message."""
        self.log.flush()
        parts = [f"--- head.log\n{(self.root / 'head.log').read_text()[-4000:]}"]
        logs = self.root / "ray" / "session_latest" / "logs"
        for name in ("dashboard.log", "dashboard_agent.log", "runtime_env_agent.log", "raylet.err"):
            if (logs / name).is_file():
                parts.append(f"--- {name}\n{(logs / name).read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop this head only (`ray stop` would stop every Ray on the machine): its process group."""
        for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


@pytest.fixture(scope="module")
def head_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the head and of the CLI: this venv, token auth, the teacher key.

    The temp dir is short (Ray's unix sockets live under it and their paths are limited).
    """
    root = Path(tempfile.mkdtemp(prefix="rjs", dir="/tmp"))
    (root / "token").write_text(secrets.token_hex(32))
    (root / "token").chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(root / "token"),
        RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        RECYCLE_TEST_ROOT=str(root),
    )
    yield env
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def teacher_key() -> str:
    return f"sk-test-{secrets.token_hex(16)}"


@pytest.fixture(scope="module")
def head(head_env, teacher_key):
    """The local head, whose environment (only) holds the teacher key, as a cluster's would."""
    head = LocalHead(Path(head_env["RECYCLE_TEST_ROOT"]), {**head_env, KEY_ENV: teacher_key})
    try:
        head.wait_ready()
    except (RuntimeError, TimeoutError) as err:
        head.stop()
        pytest.fail(f"{err}\n{head.diagnostics()}")
    yield head
    head.stop()


@pytest.fixture(scope="module")
def teacher():
    """The local teacher, also noting the API key each request carried."""
    keys_seen: set[str] = set()
    server = LocalTeacherServer(on_request=lambda h: keys_seen.add(h.get("Authorization", "")))
    server.keys_seen = keys_seen
    with server:
        yield server


def runtime_env_for_test() -> dict:
    """cluster/runtime_env.yaml without its pip list (see the module docstring), as JSON."""
    env = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
    env.pop("pip")
    return {**env, "working_dir": str(REPO)}


def submit(head: LocalHead, env: dict[str, str], entrypoint: list[str], runtime_env: dict) -> str:
    """`ray job submit --no-wait`, retried while the head's agent is still coming up."""
    submission_id = f"recycle-test-{secrets.token_hex(4)}"
    cmd = [RAY, "job", "submit", "--address", head.address, "--submission-id", submission_id,
           "--runtime-env-json", json.dumps(runtime_env), "--no-wait", "--", *entrypoint]  # fmt: skip
    deadline = time.monotonic() + 90
    while True:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=REPO)
        if done.returncode == 0 or submitted(head, submission_id):
            return submission_id  # (a reply lost on a busy head: the job was taken all the same)
        said = done.stdout + done.stderr
        if not any(m in said for m in TRANSIENT) or time.monotonic() > deadline:
            pytest.fail(
                f"ray job submit failed:\n{done.stdout}\n{done.stderr}\n{head.diagnostics()}"
            )
        time.sleep(3)


# What `ray job submit` says while a busy head's job agent is still coming up, or when the head
# dropped the connection before its reply (on a loaded 2-core machine): submitted again.
TRANSIENT = ("No available agent", "RemoteDisconnected", "Connection aborted", "Connection refused")


def submitted(head: LocalHead, submission_id: str) -> bool:
    """Whether the head holds a job of that submission id."""
    try:
        head.request(f"/api/jobs/{submission_id}")
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # HTTPError 404 among them
        return False


def wait_for_job(head: LocalHead, submission_id: str) -> dict:
    """The job's final info; on timeout the job is stopped and the test fails with its logs."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        info = head.request(f"/api/jobs/{submission_id}")
        if info["status"] in TERMINAL:
            return info
        time.sleep(2)
    head.request(f"/api/jobs/{submission_id}/stop", method="POST")
    logs = head.request(f"/api/jobs/{submission_id}/logs")["logs"]
    pytest.fail(f"job still {info['status']} after {JOB_TIMEOUT_S}s; logs:\n{logs[-8000:]}")


@pytest.fixture(scope="module")
def job(head, head_env, teacher, tiny_model_dir, tmp_path_factory):
    """The submitted small end-to-end job, run to the end: its info, logs and run directory."""
    out = tmp_path_factory.mktemp("job") / "run"
    entrypoint = [
        "python", "jobs/end_to_end.py", "jobs/configs/small_local.yaml",
        f"output.dir={out}", f"student.model={tiny_model_dir}",
        f"teacher.base_url={teacher.base_url}", f"teacher.api_key_env={KEY_ENV}", f"data.limit={ROWS}",
        # a random-init student: keep every scored sample so that training has rows for sure
        "selection.require_response_reflected=false", "selection.require_ifd_below_one=false",
        "selection.require_rifd_below_one=false",
    ]  # fmt: skip
    submission_id = submit(head, head_env, entrypoint, runtime_env_for_test())
    info = wait_for_job(head, submission_id)
    logs = head.request(f"/api/jobs/{submission_id}/logs")["logs"]
    if info["status"] != "SUCCEEDED":
        pytest.fail(f"job {info['status']}: {info.get('message')}\n--- job logs\n{logs[-12000:]}")
    return {
        "info": info,
        "logs": logs,
        "out": out,
        "manifest": json.loads((out / "manifest.json").read_text()),
    }


def test_job_succeeds_and_the_manifest_adds_up(job, teacher):
    manifest, counts = job["manifest"], job["manifest"]["counts"]
    assert manifest["invariant"]["ok"] and counts["input"] == ROWS
    dropped, rejected = sum(counts["dropped"].values()), sum(counts["rejected"].values())
    assert counts["kept"] + dropped + rejected == ROWS
    assert counts["kept"] >= 4, counts  # a global batch of the small recipe
    assert set(counts["dropped"]) <= {"unscored"} and not counts["rejected"]
    assert manifest["mode"] == "selective"
    # the teacher was asked twice per scored sample, by the job's actors, through this server
    assert manifest["teacher"]["requests"] == teacher.stats.requests >= 2 * counts["kept"]
    assert manifest["config"]["data"]["limit"] == ROWS


def test_run_directory_holds_the_data_the_report_and_the_model(job):
    out, manifest = job["out"], job["manifest"]
    exported = json.loads((out / "recycled_alpaca.json").read_text())
    assert len(exported) == manifest["counts"]["kept"]
    assert all(set(r) >= {"instruction", "input", "output"} for r in exported)
    assert list((out / "kept").glob("*.parquet")) and (out / "report" / "report.html").is_file()
    model = out / "model"
    assert manifest["outputs"]["model"] == str(model)
    assert (model / "config.json").is_file() and list(model.glob("*.safetensors"))
    assert (model / "tokenizer.json").is_file()
    train = manifest["train"]
    trained = json.loads((model / "recycle_train.json").read_text())
    assert (
        train["metrics"]["step"]
        == trained["state"]["step"]
        == sum(train["data"]["steps_per_epoch"])
    )
    assert (
        train["data"]["samples"] + sum(train["data"]["left_out"].values())
        == manifest["counts"]["kept"]
    )
    assert "model: " + str(model) in job["logs"]


def test_the_key_comes_from_the_cluster_not_from_the_job(job, teacher, teacher_key):
    assert teacher.keys_seen == {f"Bearer {teacher_key}"}  # every request, from the head's env
    info = job["info"]
    submitted = json.dumps({k: info.get(k) for k in ("entrypoint", "runtime_env", "metadata")})
    assert teacher_key not in submitted and KEY_ENV in info["entrypoint"]
    assert teacher_key not in job["logs"]
    for path in job["out"].rglob("*"):
        if path.is_file() and path.suffix in {".json", ".md", ".html", ".parquet", ".yaml"}:
            assert teacher_key.encode() not in path.read_bytes(), path
