"""`recycle score` and `recycle stats` end to end on local Ray, and IFD on real data.

The student is a tiny Llama built offline (tests/support/tiny_model.py) and loaded through the
real from_pretrained path, by the Ray actors as by the driver.
"""

from __future__ import annotations

import json
import math
import random
import shutil

import numpy as np
import pytest

from recycle import columns as C
from recycle.cli.main import main
from recycle.config.student import StudentConfig
from recycle.rundir import read_manifest, read_outcome
from recycle.student.drift import drift_warning
from recycle.student.model import load_student
from recycle.student.scoring import NOT_SCORED, score_columns
from recycle.student.variants import Variant
from tests.support.fixtures import *  # noqa: F403  (tiny student fixtures)
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration
SETTINGS = ["student.max_length=1024", "student.batch_tokens=4096", "student.batch_size=16"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """24 real Alpaca rows, one over-long response, one row rejected by validation."""
    rows = alpaca_rows(24)
    rows.append({"instruction": "Repeat the word.", "input": "", "output": "word " * 1200})
    lines = [json.dumps(r) for r in rows] + ['{"instruction": "no output"}']
    path = tmp_path_factory.mktemp("score_data") / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_score_cli_writes_the_run_directory(ray_local, dataset, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    argv = [
        "score",
        "--input",
        str(dataset),
        "--output",
        str(out),
        f"student.model={tiny_model_dir}",
        *SETTINGS,
    ]
    assert main(argv) == 0
    m = read_manifest(str(out))
    assert m["command"] == "score" and m["invariant"]["ok"]
    assert m["counts"] == {"input": 26, "kept": 25, "dropped": {}, "rejected": {"missing_field": 1}}
    assert m["scores"]["rows"] == 25 and m["scores"]["truncated_rows"] >= 1
    kept = read_outcome(str(out), C.OUTCOME_KEPT).to_pandas()
    for col in (
        C.LOSS_Y_GIVEN_X,
        C.LOSS_Y,
        C.LOSS_X_GIVEN_Y,
        C.LOSS_X,
        C.IFD,
        C.RIFD,
        C.Y_TOKENS,
        C.X_TOKENS,
        C.SCORE_ERROR,
    ):
        assert col in kept.columns
    long_row = kept[kept[C.INSTRUCTION] == "Repeat the word."].iloc[0]
    assert long_row[C.SCORE_TRUNCATED] and long_row[C.IFD] > 0  # y cut to fit, still scored
    assert math.isnan(long_row[C.RIFD])  # the reverse query of y alone exceeds max_length
    assert long_row[C.SCORE_ERROR].startswith("rifd: no_room_for_target")
    assert m["scores"]["unscored_reasons"] == {"no_room_for_target": 1}
    rejected = read_outcome(str(out), C.OUTCOME_REJECTED).to_pandas()
    assert rejected[C.SCORE_ERROR].iloc[0].startswith(NOT_SCORED) and math.isnan(
        rejected[C.IFD].iloc[0]
    )

    cfg = StudentConfig(model=str(tiny_model_dir), max_length=1024, batch_tokens=4096)
    model, tokenizer = load_student(cfg)
    direct, _ = score_columns(model, tokenizer, kept.to_dict("list"), [Variant(rifd=True)], cfg)
    for col in (C.LOSS_Y_GIVEN_X, C.LOSS_Y, C.LOSS_X_GIVEN_Y, C.LOSS_X):
        np.testing.assert_allclose(kept[col].to_numpy(), direct[col], atol=1e-5, equal_nan=True)
    assert m["scores"]["mean_ifd"] == pytest.approx(np.nanmean(kept[C.IFD]))


def test_score_cli_missing_model_fails_before_ray(dataset, tmp_path, capsys):
    argv = [
        "score",
        "--input",
        str(dataset),
        "--output",
        str(tmp_path / "run"),
        f"student.model={tmp_path}/nope",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "student.model" in err and "does not exist" in err
    assert not (tmp_path / "run").exists()


def test_stats_cli_prints_the_table6_row(ray_local, dataset, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "stats.json"
    assert (
        main(
            [
                "stats",
                str(dataset),
                f"student.model={tiny_model_dir}",
                *SETTINGS,
                "--output",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "| Dataset | Ins. len | Res. len | ppl(x) | ppl(y) | ppl(y|x) | Coherence | IFD | r-IFD |"
        in printed
    )
    row = json.loads(out.read_text())
    assert row["samples"] == 25 and row["unscored"] == 1  # the over-long response: no r-IFD
    assert (
        0.0 < row["coherence"] < 1.0
        and row["instruction_tokens"] > 5
        and row["response_tokens"] > row["instruction_tokens"]
    )
    assert 100 < row["ppl_y"] < 10_000  # random init, 2000-token vocabulary: near uniform
    assert 0.5 < row["ifd"] < 1.5 and 0.5 < row["rifd"] < 1.5
    manifest = json.loads((tmp_path / "stats.manifest.json").read_text())
    counts = manifest["counts"]
    assert manifest["command"] == "stats" and manifest["invariant"]["ok"]
    assert counts["kept"] == 25 == row["samples"]
    rest = sum(counts["dropped"].values()) + sum(counts["rejected"].values())
    assert counts["input"] == counts["kept"] + rest


def test_trained_student_finds_true_pairs_easier_than_shuffled(trained_student_dir):
    """Real data: IFD(y|x) is lower for true (x, y) than for x with another sample's response."""
    cfg = StudentConfig(model=str(trained_student_dir), max_length=256, batch_tokens=8192)
    model, tokenizer = load_student(cfg)
    rows = alpaca_rows(250)  # unseen: training used rows 400 onwards
    true = {k: [r[k] for r in rows] for k in (C.INSTRUCTION, C.INPUT, C.OUTPUT)}
    shuffled = dict(true, output=random.Random(0).sample(true[C.OUTPUT], len(rows)))
    ifd_true = np.array(score_columns(model, tokenizer, true, [Variant()], cfg)[0][C.IFD])
    ifd_shuffled = np.array(score_columns(model, tokenizer, shuffled, [Variant()], cfg)[0][C.IFD])
    assert np.isfinite(ifd_true).sum() >= 200 and np.isfinite(ifd_shuffled).sum() >= 200
    assert np.nanmean(ifd_true) < np.nanmean(ifd_shuffled), (
        np.nanmean(ifd_true),
        np.nanmean(ifd_shuffled),
    )


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_template_drift_is_caught_on_a_student_scored_in_a_template_it_never_saw(
    trained_student_dir, tmp_path
):
    """Cherry_LLM issue 22, reproduced: the student trained on vicuna-templated rows, scored in
    its own template, gives IFD mostly below 1 (no warning); scored through a ChatML chat
    template it never saw, most IFD values rise above 1 and the drift warning names the share and
    the template (measured on these 100 unseen rows: 1% above 1 with vicuna, 75% with ChatML)."""
    from transformers import AutoTokenizer

    rows = alpaca_rows(100)  # unseen: training used rows 400 onwards
    columns = {k: [r[k] for r in rows] for k in (C.INSTRUCTION, C.INPUT, C.OUTPUT)}
    chatml = tmp_path / "chatml_student"
    shutil.copytree(trained_student_dir, chatml)
    tokenizer = AutoTokenizer.from_pretrained(chatml)
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(chatml)

    def ifd(model_dir, template: str) -> list[float]:
        cfg = StudentConfig(
            model=str(model_dir), max_length=256, batch_tokens=8192, template=template
        )
        model, tok = load_student(cfg)
        return score_columns(model, tok, columns, [Variant()], cfg)[0][C.IFD]

    matched, chat = ifd(trained_student_dir, "vicuna"), ifd(chatml, "chat")
    assert drift_warning(matched, "vicuna") == ""
    warning = drift_warning(chat, "chat")
    assert "IFD values are above 1" in warning and "student.template='chat'" in warning, warning
    above = sum(v > 1 for v in chat if math.isfinite(v)) / sum(math.isfinite(v) for v in chat)
    assert f"{round(100 * above)}% of" in warning
