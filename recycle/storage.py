"""Storage for every layer: filesystems, globbing and atomic writes for local paths, s3:// and gs://.

A leaf: it imports only pyarrow and recycle.errors, so the run directory, the teacher's cache and
journal, training, evaluation and the report all reach their files through it without importing a
reader or a stage.

Atomic writes: a local file is written under a temporary name in the same folder and renamed (a
rename is atomic); object stores make a single PUT visible atomically, so there the file is written
in place. A reader never sees half a file either way.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import posixpath
import shutil
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from recycle.errors import ConfigError, InputError


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it, for local paths and s3:// / gs:// URIs."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"cannot open {uri!r}: {err}") from None


def uri_for(uri: str, child: str) -> str:
    """The URI of `child` (a path inside the filesystem of `uri`): local paths stay paths."""
    if "://" not in uri:
        return child
    scheme = uri.split("://", 1)[0]
    return f"{scheme}://{child}" if not child.startswith(f"{scheme}://") else child


def file_exists(uri: str) -> bool:
    """Whether a file is at `uri` (local path or object-store URI)."""
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type == pafs.FileType.File


def glob_files(fs: pafs.FileSystem, pattern: str) -> list[str]:
    """The files of one folder whose path matches a shell pattern (`*`, `?`, `[...]`), sorted."""
    base = posixpath.dirname(pattern)
    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return sorted(
        i.path for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatch(i.path, pattern)
    )


def read_json(fs: pafs.FileSystem, path: str) -> Any:
    """The JSON content of one file."""
    with fs.open_input_stream(path) as f:
        return json.loads(f.read().decode("utf-8"))


def write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write a whole file so that readers see the old content or the new, never a part."""
    local = isinstance(fs, pafs.LocalFileSystem)
    target = f"{path}.tmp-{uuid.uuid4().hex}" if local else path
    with fs.open_output_stream(target) as f:
        f.write(data)
    if local:
        fs.move(target, path)


def write_parquet_atomic(fs: pafs.FileSystem, table: pa.Table, folder: str, stem: str) -> None:
    """Write `folder/stem.parquet` through a hidden temporary file, then move it into place."""
    fs.create_dir(folder, recursive=True)
    tmp = posixpath.join(folder, f".{stem}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp, filesystem=fs)
    fs.move(tmp, posixpath.join(folder, f"{stem}.parquet"))


# --- a folder on object storage (a model), copied once to the node that reads it ---

MODEL_CACHE_ENV = "RECYCLE_MODEL_CACHE"


def local_folder(uri: str) -> str:
    """A local path holding the folder `uri`: `uri` itself when local (or a hub id), else a copy
    under $RECYCLE_MODEL_CACHE (default ~/.cache/recycle/models) made on the first call on this
    node and reused while the folder's files (names, sizes, times) are unchanged.

    Every actor or worker calls this on its own node, where it loads the model: an exported
    model on s3:// or gs:// (a run's OUTPUT/model) loads like a local one.

    Raises:
        InputError: the folder is empty or cannot be listed.
    """
    if "://" not in uri:
        return uri
    fs, path = filesystem(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except OSError as err:
        raise InputError(f"cannot list the model folder {uri!r}: {err}") from None
    files = sorted((i.path, i.size, i.mtime_ns) for i in infos if i.type == pafs.FileType.File)
    if not files:
        raise InputError(f"the model folder {uri!r} is empty or missing")
    key = hashlib.sha256(json.dumps([uri, files]).encode()).hexdigest()[:20]
    root = os.environ.get(MODEL_CACHE_ENV) or os.path.expanduser("~/.cache/recycle/models")
    target = os.path.join(root, key)
    if not os.path.isdir(target):
        os.makedirs(root, exist_ok=True)
        partial = f"{target}.part-{uuid.uuid4().hex[:8]}"
        os.makedirs(partial)
        pafs.copy_files(
            path, partial, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem()
        )
        try:
            os.rename(partial, target)  # atomic; another process may have won the race
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    return target


# --- pre-flight of an object-store location (s3://, gs://): seconds, before Ray starts ---

PROBE_CONNECT_S = 3.0
PROBE_REQUEST_S = 5.0
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
UNREACHABLE = ("curlCode: 7", "curlCode: 28", "curlCode: 6", "NETWORK_CONNECTION", "connect", "timed out", "resolve host")  # fmt: skip
REFUSED = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401")  # fmt: skip


def check_object_store(uri: str, key: str) -> None:
    """`uri` (the setting `key`) is a bucket that exists and takes a write, found within seconds.

    Raises:
        ConfigError: one line naming `key` and the fix: a missing bucket, no credentials, an
            endpoint that does not answer, or credentials it refuses. No secret is in it.
    """
    scheme, _, rest = uri.partition("://")
    bucket = rest.split("/", 1)[0]
    if scheme == "s3" and aws_credentials_source() is None:
        raise ConfigError(
            f"{key} {uri!r}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, a web identity, or an instance role)"
        )
    fs, path = _probe_filesystem(uri, scheme)
    try:
        if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise ConfigError(
                f"{key} {uri!r}: bucket {bucket!r} does not exist at {_endpoint(scheme)}; "
                f"create it or point {key} at an existing bucket"
            )
        probe = posixpath.join(path, f".recycle-preflight-{uuid.uuid4().hex[:8]}")
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
    except OSError as err:
        raise ConfigError(f"{key} {uri!r}: {_why(err, scheme)}") from None


def aws_credentials_source() -> str | None:
    """Where the AWS SDK would find credentials, checked without a request; None: nowhere.

    The instance role counts unless AWS_EC2_METADATA_DISABLED is true: it cannot be checked
    without asking the metadata service, and the write probe then tells."""
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "environment"
    files = [env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), env.get("AWS_CONFIG_FILE", "~/.aws/config")]  # fmt: skip
    if env.get("AWS_PROFILE") or any(os.path.isfile(os.path.expanduser(f)) for f in files):
        return "config files"
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):  # fmt: skip
        return "web identity or container role"
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() != "true":
        return "instance role"
    return None


def _probe_filesystem(uri: str, scheme: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of `uri` with short timeouts and no retries (S3), so a check takes seconds."""
    if scheme != "s3":
        return filesystem(uri)
    _, path = filesystem(uri)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if region is None and endpoint is None:
        region = pafs.resolve_s3_region(path.split("/", 1)[0])
    fs = pafs.S3FileSystem(
        region=region,
        endpoint_override=endpoint,
        connect_timeout=PROBE_CONNECT_S,
        request_timeout=PROBE_REQUEST_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )
    return fs, path


def _endpoint(scheme: str) -> str:
    if scheme == "s3":
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            if os.environ.get(name):
                return f"{os.environ[name].split('@')[-1]} ({name})"
        return "AWS S3"
    return scheme


def _why(err: OSError, scheme: str) -> str:
    """What went wrong, in one line without a secret."""
    text = str(err)
    if any(s in text for s in UNREACHABLE):
        return f"the object store at {_endpoint(scheme)} does not answer; check the endpoint and the network"  # fmt: skip
    if any(s in text for s in REFUSED):
        return "the object store refused the credentials; check the key and its permissions on the bucket"  # fmt: skip
    for name in SECRET_ENV:
        if os.environ.get(name):
            text = text.replace(os.environ[name], "***")
    return f"cannot write there: {text.splitlines()[0] if text else type(err).__name__}"
