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
import json
import os
import posixpath
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from recycle.errors import InputError


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
