"""moto's S3 for the tests: the server and its environment live in recycle.testing.s3 (the
benchmarks use them too); here, the fixture that points this process at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recycle.testing.s3 import KEY_ID, SECRET, environ_set, free_port, moto_s3, slow_put_server

__all__ = ["KEY_ID", "SECRET", "free_port", "moto_s3", "s3_env", "slow_put_server"]


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """moto's S3 with the bucket `runs`, and this process's environment pointed at it."""
    with moto_s3("runs") as env, environ_set(env):
        yield env
