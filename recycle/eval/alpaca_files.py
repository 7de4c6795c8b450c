"""What alpaca_eval downloads at run time, the local copies that replace it, and whether a run can
go without the hub. Standard library only: pre-flight (recycle.preflight.eval_alpaca_files) reads
it before anything heavy is imported.

alpaca_eval 0.6.6 fetches from the hub dataset tatsu-lab/alpaca_eval:

    file                              what for                                        version
    alpaca_eval.json                  reference outputs (text-davinci-003, 805 rows)  1.0
    alpaca_eval_gpt4_baseline.json    reference outputs (GPT-4 Turbo, 805 rows)       2.0
    df_gamed.csv                      the length-controlled figure: instruction        2.0
                                      difficulty by row ("index") and the annotations
                                      of two "gamed" models it regularizes towards

`eval.alpaca_eval.files` names a folder holding these files under these names; with it nothing is
downloaded. On 2.0 the version's reference file is needed even when eval.alpaca_eval.
reference_outputs names another: its row i is df_gamed's "index" i, so it is what tells each
prompt's row (recycle.eval.alpaca matches prompts to rows by instruction, never by position).
"""

from __future__ import annotations

import csv
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HUB_REPO = "tatsu-lab/alpaca_eval"
REFERENCE_FILES = {"1.0": "alpaca_eval.json", "2.0": "alpaca_eval_gpt4_baseline.json"}
GAMED = "df_gamed.csv"
GAMED_COLUMNS = ("index", "instruction_difficulty")
PROBE_TIMEOUT_S = 2.5
OFFLINE_VALUES = ("1", "true", "yes", "on")


def needed_files(acfg: Any) -> list[str]:
    """The files a run of `acfg` (an AlpacaEvalConfig) reads from the hub or from
    eval.alpaca_eval.files: 2.0 always needs df_gamed.csv and its reference (the rows), 1.0 its
    reference unless eval.alpaca_eval.reference_outputs is given."""
    if acfg.version == "2.0":
        return [GAMED, REFERENCE_FILES["2.0"]]
    return [] if acfg.reference_outputs else [REFERENCE_FILES["1.0"]]


def download_hint(names: list[str], folder: str = "DIR") -> str:
    """The command that fetches `names` into `folder` on a machine with the hub in reach."""
    return (
        f"huggingface-cli download {HUB_REPO} {' '.join(names)} --repo-type dataset "
        f"--local-dir {folder}"
    )


def hub_unreachable() -> str | None:
    """Why the hub cannot be reached (HF_HUB_OFFLINE set, or no answer in PROBE_TIMEOUT_S), or
    None when it answers."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/datasets/{HUB_REPO}"
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S
        ):
            return None
    except urllib.error.HTTPError as err:
        return None if err.code < 500 else f"{url} answered HTTP {err.code}"
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        return f"{url} does not answer ({getattr(err, 'reason', err)})"


def gamed_problem(path: Path) -> str | None:
    """df_gamed.csv has the columns the length-controlled figure reads; None when it does."""
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    missing = [c for c in GAMED_COLUMNS if c not in header]
    return f"{path} lacks the column(s) {missing} alpaca_eval reads" if missing else None


def files_problem(acfg: Any) -> str | None:
    """One line saying why an AlpacaEval run of `acfg` cannot get what it needs, or None.

    With eval.alpaca_eval.files: the folder holds every needed file (df_gamed.csv with its
    columns). Without: the run needs the hub for those files, and the hub must answer.
    """
    names = needed_files(acfg)
    if acfg.files:
        folder = Path(acfg.files)
        if not folder.is_dir():
            return f"eval.alpaca_eval.files={acfg.files} is not a folder"
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            return (
                f"eval.alpaca_eval.files={acfg.files} lacks {', '.join(missing)} (AlpacaEval "
                f"{acfg.version} reads them); fetch them where the hub is in reach: "
                f"{download_hint(missing, acfg.files)}"
            )
        return gamed_problem(folder / GAMED) if GAMED in names else None
    if not names:
        return None
    reason = hub_unreachable()
    if reason is None:
        return None
    return (
        f"eval.alpaca_eval (version {acfg.version}) downloads {', '.join(names)} from the hub "
        f"({HUB_REPO}), which cannot be reached ({reason}): set eval.alpaca_eval.files to a "
        f"folder holding local copies ({download_hint(names)}, where the hub is in reach)"
    )
