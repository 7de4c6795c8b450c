"""A real S3-protocol server on the loopback (moto's standalone server) and the environment that
points pyarrow (and every Ray worker it starts) at it: AWS_ENDPOINT_URL plus credential variables.

For tests and benchmarks (moto is a development dependency, imported only when a server starts).
A Ray cluster's nodes see the variables only if they are in `os.environ` before the nodes start:

    with moto_s3("runs") as env, environ_set(env), LocalCluster() as cluster:
        ...  # output.dir=s3://runs/...
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SECRET = "s3-test-secret-0123456789"  # must never appear in a message, log or file
KEY_ID = "AKIATESTRECYCLE"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slow_put_server(port: int, delay_s: float, prefix: str) -> Any:
    """moto's server whose PUTs of keys under `prefix` ("/bucket/folder") take `delay_s` more.

    An object store under load, where a write takes far longer than the teacher's answer: what
    made a killed run pay again for answers that had arrived but were not cached yet. (Wraps
    moto's WSGI app the way `ThreadedMotoServer._server_entry` builds it, moto 5.)
    """
    from moto.moto_server.threaded_moto_server import MotoRequestHandler, make_server
    from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app

    class SlowPuts(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)

            def slow(environ, start_response):
                if environ["REQUEST_METHOD"] == "PUT" and environ["PATH_INFO"].startswith(prefix):
                    time.sleep(delay_s)
                return app(environ, start_response)

            self._server = make_server(
                self._ip_address, self._port, slow, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return SlowPuts(ip_address="127.0.0.1", port=port, verbose=False)


@contextmanager
def moto_s3(
    *buckets: str, put_delay_s: float = 0.0, delayed_prefix: str = "/"
) -> Iterator[dict[str, str]]:
    """Start moto's S3 on 127.0.0.1, create `buckets`; yields the environment reaching it.

    `put_delay_s` slows the PUTs of keys under `delayed_prefix` (see `slow_put_server`).
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    if put_delay_s:
        server = slow_put_server(port, put_delay_s, delayed_prefix)
    else:
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


@contextmanager
def environ_set(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """This process's environment with `env` in it (for the Ray nodes and drivers started
    meanwhile, which inherit it); restored after."""
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
