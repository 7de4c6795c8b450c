"""Prepare gpu_check_bundle/: what jobs/gpu_check.py needs beyond PyTorch and transformers, for a
GPU machine with Python 3.12 on x86_64 Linux and no package index.

    python jobs/prepare_gpu_check.py        # here, where pip reaches the package index

then on the GPU machine, from the repo root (the bundle travels with it, it is gitignored):

    pip install --no-index --no-deps gpu_check_bundle/wheels/*.whl && python jobs/gpu_check.py

Writes `wheels/` (pydantic and its core, pyarrow, pyyaml, jinja2, ...: the versions installed
here, which the tests ran; manylinux x86_64, CPython 3.12) and `src/` (recycle, prompts and the
two GPU jobs, so `cd gpu_check_bundle/src && python jobs/gpu_check.py` works without the repo).
Prints the bundle's size and refuses (removes it, exit 2) when it is over 64 MiB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# recycle's imports on the check path that torch and transformers do not bring (typing-extensions:
# pydantic-core needs a newer one than some torch images hold; pyyaml, jinja2: in case they lack it)
PACKAGES = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection",
            "typing-extensions", "pyarrow", "pyyaml", "jinja2", "markupsafe")  # fmt: skip
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
SOURCES = ("recycle", "prompts", "jobs/gpu_check.py", "jobs/bench_gpu.py")
LIMIT_MIB = 64


def pinned(names: tuple[str, ...]) -> list[str]:
    """Each package at the version installed here (what the tests ran), else the newest."""
    specs = []
    for name in names:
        try:
            specs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            specs.append(name)
    return specs


def download(specs: list[str], dest: Path) -> None:
    """Binary wheels for CPython 3.12 on manylinux x86_64, without their dependencies."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
         "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(dest), *specs],
        check=True,
    )  # fmt: skip


def copy_sources(dest: Path) -> None:
    """The recycle package, the prompts and the GPU jobs, without caches."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        src, out = REPO / name, dest / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out, ignore=skip)
        else:
            shutil.copy2(src, out)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default=str(REPO / "gpu_check_bundle"), help="bundle folder")
    p.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="refuse a bigger bundle")
    args = p.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    download(pinned(PACKAGES), out / "wheels")
    copy_sources(out / "src")
    size = folder_bytes(out) / 2**20
    for wheel in sorted((out / "wheels").glob("*.whl")):
        print(f"  {wheel.stat().st_size / 2**20:6.2f} MiB  {wheel.name}")
    print(f"{out}: {size:.1f} MiB (wheels {folder_bytes(out / 'wheels') / 2**20:.1f} MiB)")
    if size > args.limit_mib:
        shutil.rmtree(out)
        print(
            f"refused: {size:.1f} MiB is over {args.limit_mib:g} MiB; bundle removed",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
