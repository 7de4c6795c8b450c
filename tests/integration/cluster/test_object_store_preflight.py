# ruff: noqa: F811  (the s3_env fixture, imported from tests.support.s3, is a parameter here)
"""Pre-flight of an s3:// output against a real S3-protocol server (moto on 127.0.0.1): a missing
bucket, no credentials, an unreachable endpoint, each one line naming the setting, in seconds,
with no secret in it; a good bucket passes and keeps no probe file."""

from __future__ import annotations

import time

import pyarrow.fs as pafs
import pytest

from recycle.cli.main import main
from recycle.errors import ConfigError
from recycle.storage import check_object_store
from recycle.testing.local_server import LocalTeacherServer
from tests.support.s3 import SECRET, free_port, s3_env  # noqa: F401

pytestmark = pytest.mark.integration


def refused(uri: str, key: str = "output.dir") -> str:
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as err:
        check_object_store(uri, key)
    assert time.monotonic() - t0 < 10
    message = str(err.value)
    assert "\n" not in message and SECRET not in message and message.startswith(f"{key} {uri!r}")
    return message


def test_a_writable_bucket_passes_and_keeps_no_probe(s3_env):
    check_object_store("s3://runs/a/run1", "output.dir")
    fs = pafs.S3FileSystem(endpoint_override=s3_env["AWS_ENDPOINT_URL"], region="us-east-1")
    # under the probed prefix only: moto keeps one store per process, which other tests' buckets share
    left = fs.get_file_info(pafs.FileSelector("runs/a", recursive=True, allow_not_found=True))
    assert [i.path for i in left if i.type == pafs.FileType.File] == []


def test_a_missing_bucket_is_named(s3_env):
    assert "bucket 'nobucket' does not exist at http://127.0.0.1:" in refused("s3://nobucket/run")


def test_no_credentials_is_named_before_any_request(s3_env, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    message = refused("s3://runs/run", key="teacher.cache_dir")
    assert "no AWS credentials found; set AWS_ACCESS_KEY_ID" in message


def test_an_endpoint_that_does_not_answer_is_named(s3_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    assert "does not answer; check the endpoint" in refused("s3://runs/run")


def test_the_command_line_stops_with_exit_2_and_one_line(s3_env, tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    t0 = time.monotonic()
    code = main(["validate", "--input", str(data), "--output", "s3://nobucket/run"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - t0 < 15
    assert err.strip().splitlines() == [
        f"error: output.dir 's3://nobucket/run': bucket 'nobucket' does not exist at "
        f"{s3_env['AWS_ENDPOINT_URL']} (AWS_ENDPOINT_URL); "
        "create it or point output.dir at an existing bucket"
    ]
    assert SECRET not in err


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["run", "teacher.cache_dir=s3://nobucket/cache"], "teacher.cache_dir"),
        (["train", "train.storage_path=s3://nobucket/ckpt"], "train.storage_path"),
    ],
)
def test_the_teacher_cache_and_checkpoints_on_s3_are_checked_too(
    s3_env, tmp_path, capsys, tiny_model_dir, argv, key
):
    data = tmp_path / "in.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    settings = [
        f"data.input={data}",
        f"output.dir={tmp_path / 'out'}",
        f"student.model={tiny_model_dir}",
    ]
    with LocalTeacherServer() as teacher:  # a teacher that answers: the location is what fails
        code = main(
            [
                argv[0],
                *settings,
                f"teacher.base_url={teacher.base_url}",
                "teacher.model=local-teacher",
                *argv[1:],
            ]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {key} 's3://nobucket/") and "does not exist" in err[0], err
