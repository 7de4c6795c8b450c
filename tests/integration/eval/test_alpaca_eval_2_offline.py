"""AlpacaEval 2.0 offline and aligned (issue 35, part 3).

`recycle eval` with eval.alpaca_eval.version=2.0 and eval.alpaca_eval.files (local copies of the
2.0 reference and df_gamed.csv, nothing downloaded: HF_HUB_OFFLINE=1): the tiny model answers a
shuffled, non-prefix subset of the reference's prompts, one of them too long (no answer: an
explicit empty answer, said on the console); the package's weighted annotator reads the local
server's log-probabilities (`alpaca_logprob_completion`). Checked: each annotation's preference is
the scripted probability, the win rate their mean, the length-controlled figure the package's own
`get_length_controlled_winrate` on rows labelled by instruction (and not what it gives on rows by
position), the accounting, and that nothing was written into the installed package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recycle.cli.main import main
from recycle.config import load_config
from recycle.eval import alpaca
from recycle.rundir import read_manifest
from recycle.testing import local_server
from recycle.testing.local_server import LocalTeacherServer
from recycle.testing.scripted_judges import alpaca_logprob_completion, model_preference
from tests.support.alpaca_files import (
    LONG,
    ROWS,
    gamed,
    instruction,
    length_controlled,
    write_files,
)

pytestmark = pytest.mark.integration
glm = pytest.importorskip("alpaca_eval.metrics.glm_winrate")
pytest.importorskip("sklearn")

PROMPTS = [6, LONG, 1, 4, 3]  # asked in this order: not a prefix, not the reference's order


def _package_tree() -> dict[str, tuple[int, int]]:
    root = Path(glm.__file__).parents[1]
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip


def _argv(out: Path, model: Path, judge: LocalTeacherServer, *extra: str) -> list[str]:
    return ["eval", "--output", str(out), f"eval.model_a={model}", f"eval.model_b={model}",
            "eval.sets=[]", "eval.alpaca_eval.version=2.0", "eval.max_new_tokens=8",
            "eval.max_prompt_tokens=128", f"judge.base_url={judge.base_url}", "judge.model=local-judge",
            "judge.api_key_env=RECYCLE_TEST_JUDGE_KEY", *extra]  # fmt: skip


def _cfg(tmp_path: Path, *extra: str):
    return load_config(None, [f"output.dir={tmp_path}", "judge.model=local-judge",
                              "judge.api_key_env=MY_JUDGE_KEY", "eval.alpaca_eval.version=2.0",
                              *extra])  # fmt: skip


def test_one_model_through_the_2_0_package_offline(tmp_path, monkeypatch):
    """The package's weighted annotator reads the scripted log-probabilities; its LC figure is
    its own fit on the rows found by instruction (the answers cover rows 6, 1, 4, 3; row 2 is an
    explicit empty answer)."""
    monkeypatch.setenv("MY_JUDGE_KEY", "local-secret")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(local_server, "completion", alpaca_logprob_completion)
    files = write_files(tmp_path / "files")
    asked = [6, LONG, 1, 4, 3]
    answers = tmp_path / "package_outputs.json"
    answers.write_text(json.dumps([{"instruction": instruction(i), "generator": "tiny",
                                    "output": "" if i == LONG else "An answer. " * i} for i in asked]))  # fmt: skip
    with LocalTeacherServer(model="local-judge") as judge:
        cfg = _cfg(tmp_path, f"eval.alpaca_eval.files={files}", f"judge.base_url={judge.base_url}")
        reference = alpaca.reference_file(cfg.eval.alpaca_eval, str(tmp_path))
        rows = alpaca.rows_by_instruction(
            alpaca.version_reference(cfg.eval.alpaca_eval, str(tmp_path))
        )
        figures = alpaca.run_package(cfg, str(answers), reference, tmp_path / "a", rows)
        assert judge.stats.requests == len(asked)
    annotations = pd.DataFrame(json.loads((tmp_path / "a" / "annotations.json").read_text()))
    p = [
        model_preference(r, m)
        for r, m in zip(annotations["output_1"], annotations["output_2"], strict=True)
    ]
    assert annotations["preference"].tolist() == pytest.approx([1 + x for x in p], abs=1e-9)
    assert figures["win_rate"] == pytest.approx(100 * sum(p) / len(p))
    assert figures["n_total"] == len(asked) and figures["annotated"] == len(asked)
    ordered = tmp_path / "gamed_by_index.csv"
    gamed().to_csv(ordered, index=False)
    row_of = {instruction(i): i for i in range(ROWS)}
    by_row = annotations.set_axis(annotations["instruction"].map(row_of).tolist())
    lc = length_controlled(by_row, ordered, monkeypatch)
    assert figures["length_controlled_winrate"] == pytest.approx(lc, abs=1e-6)
    assert abs(length_controlled(annotations, ordered, monkeypatch) - lc) > 1e-3  # by position
    assert list(
        (tmp_path / "a" / "weights" / "length_controlled_v1").glob("baseline_gpt4_turbo.csv")
    )


def test_alpaca_eval_2_runs_offline_with_rows_matched_by_instruction(
    ray_local, tiny_model_dir, tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("RECYCLE_TEST_JUDGE_KEY", "local-secret")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(local_server, "completion", alpaca_logprob_completion)
    files = write_files(tmp_path / "alpaca_files")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"instruction": instruction(i)} for i in PROMPTS]))
    out = tmp_path / "eval"
    before = _package_tree()
    with LocalTeacherServer(model="local-judge") as judge:
        argv = _argv(out, tiny_model_dir, judge, f"eval.alpaca_eval.files={files}",
                     f"eval.alpaca_eval.prompts={prompts}")  # fmt: skip
        assert main(argv) == 0
        requests = judge.stats.requests
    assert _package_tree() == before  # no weights, leaderboard or cache in the installed package
    assert "left 1 of 5 prompts unanswered (prompt_too_long: 1)" in capfd.readouterr().err
    # A and B are the same model: B's identical pairs come from the annotator's cache (under OUTPUT)
    assert requests == len(PROMPTS)

    row_of = {instruction(i): i for i in range(ROWS)}
    results = json.loads((out / "alpaca_eval" / "results.json").read_text())
    ordered = tmp_path / "gamed_by_index.csv"
    gamed().to_csv(ordered, index=False)
    for side in ("a", "b"):
        folder = out / "alpaca_eval" / side
        given = json.loads(
            (out / "alpaca_eval" / f"answers_{side}" / "package_outputs.json").read_text()
        )
        generated = json.loads(
            (out / "alpaca_eval" / f"answers_{side}" / "model_outputs.json").read_text()
        )
        assert [r["instruction"] for r in given] == [instruction(i) for i in PROMPTS]
        assert given[1]["output"] == "" and len(generated) == len(PROMPTS) - 1
        by_instruction = {r["instruction"]: r["output"] for r in generated}
        assert all(r["output"] == by_instruction[r["instruction"]] for r in given if r["output"])

        annotations = pd.DataFrame(json.loads((folder / "annotations.json").read_text()))
        pairs = zip(annotations["output_1"], annotations["output_2"], strict=True)
        expected = [1 + model_preference(ref, model) for ref, model in pairs]
        assert annotations["preference"].tolist() == pytest.approx(expected, abs=1e-9)
        assert sorted(annotations["instruction"].map(row_of)) == sorted(PROMPTS)
        figures = results[side]
        assert figures["n_total"] == len(PROMPTS) and figures["empty_answers"] == 1
        assert figures["win_rate"] == pytest.approx(100 * np.mean(np.array(expected) - 1))

        by_row = annotations.set_axis(annotations["instruction"].map(row_of).tolist())
        lc = length_controlled(by_row, ordered, monkeypatch)
        assert figures["length_controlled_winrate"] == pytest.approx(lc, abs=1e-6)
        by_position = length_controlled(annotations.reset_index(drop=True), ordered, monkeypatch)
        assert abs(by_position - lc) > 1e-3  # the positions are not the rows: alignment matters
        assert list((folder / "weights" / "length_controlled_v1").glob("baseline_*.csv"))

    m = read_manifest(str(out))
    section = m["alpaca_eval"]
    assert m["invariant"]["ok"] and section["invariant"]["ok"]
    assert section["asked"] == 2 * len(PROMPTS) and section["answered"] == 2 * (len(PROMPTS) - 1)
    assert section["unanswered"] == {"generation/prompt_too_long": 2}
    assert section["ran"]["empty_answers"] == {"a": 1, "b": 1}
    assert section["ran"]["files"] == str(files)


def test_alpaca_eval_2_is_refused_offline_without_local_files(
    tiny_model_dir, tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("RECYCLE_TEST_JUDGE_KEY", "local-secret")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "partial"
    folder.mkdir()
    with LocalTeacherServer(model="local-judge") as judge:
        assert main(_argv(tmp_path / "no_files", tiny_model_dir, judge)) == 2
        err = capfd.readouterr().err
        assert "downloads df_gamed.csv, alpaca_eval_gpt4_baseline.json from the hub" in err
        assert "HF_HUB_OFFLINE is set" in err and "set eval.alpaca_eval.files" in err
        argv = _argv(tmp_path / "partial_out", tiny_model_dir, judge,
                     f"eval.alpaca_eval.files={folder}")  # fmt: skip
        assert main(argv) == 2
        assert "lacks df_gamed.csv, alpaca_eval_gpt4_baseline.json" in capfd.readouterr().err
        assert judge.stats.requests == 0
    assert not (tmp_path / "no_files" / "manifest.json").exists()
