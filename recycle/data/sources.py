"""Find the files behind an input path (local, s3://, gs://) and decide their format."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import pyarrow.fs as pafs

from recycle.errors import InputError
from recycle.storage import filesystem, glob_files, read_json, uri_for

EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".parquet": "parquet", ".arrow": "arrow"}
FORMATS = ("json", "jsonl", "parquet", "hf_disk")


@dataclass(frozen=True)
class InputFile:
    """One file to read: its URI (what users see) and how to parse it."""

    uri: str
    format: str  # json | jsonl | parquet | arrow


def resolve_inputs(uri: str | None, fmt: str = "auto", split: str = "train") -> list[InputFile]:
    """List the files of an input and their format.

    Raises:
        InputError: the path is missing, empty, or of an unknown format, with what to do.
    """
    if not uri:
        raise InputError("no input given; pass --input PATH or set data.input in the config")
    fs, path = filesystem(uri)
    if any(ch in posixpath.basename(path) for ch in "*?["):
        files = glob_files(fs, path)
        if not files:
            raise InputError(f"no file matches {uri!r}; check the pattern")
        return [_with_format(uri_for(uri, f), fmt) for f in files]
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"input {uri!r} does not exist; check the path (local, s3:// or gs://)")
    if info.type == pafs.FileType.File:
        return [_with_format(uri if "://" in uri else path, fmt)]
    if fmt == "hf_disk" or _is_hf_dataset(fs, path):
        return _hf_files(fs, uri, path, split)
    children = sorted(
        f.path
        for f in fs.get_file_info(pafs.FileSelector(path, recursive=True))
        if f.type == pafs.FileType.File and not posixpath.basename(f.path).startswith((".", "_"))
    )
    if not children:
        raise InputError(
            f"input directory {uri!r} is empty; point data.input at a dataset file or a folder of them"
        )
    return [_with_format(uri_for(uri, c), fmt) for c in children]


def _with_format(uri: str, fmt: str) -> InputFile:
    if fmt not in ("auto", "hf_disk"):
        return InputFile(uri, fmt)
    ext = posixpath.splitext(uri)[1].lower()
    if ext not in EXTENSIONS:
        raise InputError(
            f"cannot tell the format of {uri!r} from its extension; use .json, .jsonl or .parquet, "
            f"or set data.format to one of {', '.join(FORMATS)}"
        )
    return InputFile(uri, EXTENSIONS[ext])


def _is_hf_dataset(fs: pafs.FileSystem, path: str) -> bool:
    names = ("state.json", "dataset_dict.json")
    return any(fs.get_file_info(posixpath.join(path, n)).type == pafs.FileType.File for n in names)


def _hf_files(fs: pafs.FileSystem, uri: str, path: str, split: str) -> list[InputFile]:
    """The Arrow files of a dataset saved with `datasets.save_to_disk` (a Dataset or a DatasetDict)."""
    dict_file = posixpath.join(path, "dataset_dict.json")
    if fs.get_file_info(dict_file).type == pafs.FileType.File:
        splits = read_json(fs, dict_file).get("splits", [])
        if split not in splits:
            raise InputError(
                f"{uri!r} has splits {splits}, not {split!r}; set data.split to one of them"
            )
        path = posixpath.join(path, split)
    state = read_json(fs, posixpath.join(path, "state.json"))
    files = [posixpath.join(path, f["filename"]) for f in state.get("_data_files", [])]
    if not files:
        raise InputError(f"saved dataset {uri!r} lists no data files in state.json")
    return [InputFile(uri_for(uri, f), "arrow") for f in files]
