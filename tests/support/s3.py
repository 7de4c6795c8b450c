"""A real S3-protocol server on the loopback (moto's standalone server) and the environment that
points pyarrow (and every Ray worker it starts) at it: AWS_ENDPOINT_URL plus credential variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SECRET = "s3-test-secret-0123456789"  # must never appear in a message, log or file
KEY_ID = "AKIATESTRECYCLE"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_s3(*buckets: str) -> Iterator[dict[str, str]]:
    """Start moto's S3 on 127.0.0.1, create `buckets`; yields the environment reaching it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 from a test
    }
    try:
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            endpoint_override=env["AWS_ENDPOINT_URL"], access_key=KEY_ID, secret_key=SECRET,
            region="us-east-1", allow_bucket_creation=True,
        )  # fmt: skip
        for bucket in buckets:
            fs.create_dir(bucket)
        yield env
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """moto's S3 with the bucket `runs`, and this process's environment pointed at it."""
    with moto_s3("runs") as env:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
