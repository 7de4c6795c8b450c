"""storage.local_folder: a folder on an object store (here a file:// URI, which goes through the
same pyarrow filesystem calls as s3:// and gs://) copied once per node, again when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recycle.errors import InputError
from recycle.storage import MODEL_CACHE_ENV, local_folder


def test_a_remote_folder_is_copied_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "cache"))
    remote = tmp_path / "bucket" / "model"
    (remote / "sub").mkdir(parents=True)
    (remote / "config.json").write_text('{"a": 1}')
    (remote / "sub" / "weights.bin").write_bytes(b"\x00" * 10)
    assert local_folder(str(remote)) == str(remote)  # a local path is used where it is
    assert local_folder("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"  # so is a hub id

    first = local_folder(f"file://{remote}")
    assert first.startswith(str(tmp_path / "cache"))
    assert Path(first, "config.json").read_text() == '{"a": 1}'
    assert Path(first, "sub", "weights.bin").stat().st_size == 10
    assert local_folder(f"file://{remote}") == first  # reused
    (remote / "config.json").write_text('{"a": 22}')  # re-exported: another size and time
    second = local_folder(f"file://{remote}")
    assert second != first and Path(second, "config.json").read_text() == '{"a": 22}'
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        os.path.basename(p) for p in (first, second)
    )  # no partial copy left behind


def test_a_missing_remote_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(InputError, match="is empty or missing"):
        local_folder(f"file://{tmp_path}/nothing-here")
