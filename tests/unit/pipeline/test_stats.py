"""Table 6 from the run's own columns: what phase 1 adds, which pairs the end stage embeds."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from recycle import columns as C
from recycle.pipeline.stats import FINAL_TEXT, coherence_pairs, final_prefix, scored_table6_row
from recycle.select.declarations import MODES, PAIR_TEXT, RIFD, mode_spec, with_table6
from recycle.select.modes import FINAL


@pytest.mark.parametrize("mode", [m for m, s in MODES.items() if s.needs_student])
def test_phase1_also_scores_the_original_pair_r_ifd(mode):
    spec, wide = mode_spec(mode), with_table6(mode_spec(mode))
    assert wide.phase1.computes(C.ORIG, RIFD) and wide.phase1.computes(C.ORIG, C.IFD)
    for prefix, stats in spec.phase1.scores.items():  # nothing the mode computed is lost
        assert set(stats) <= set(wide.phase1.scores[prefix])
    assert wide.phase2 == spec.phase2 and wide.step2 is spec.step2


def test_modes_without_a_student_are_unchanged():
    for name in ("recycle", "recycle_instruction", "recycle_response"):
        assert with_table6(mode_spec(name)) == mode_spec(name)


def test_coherence_stage_embeds_only_what_no_phase_computed():
    pairs, kept_only = coherence_pairs(with_table6(mode_spec("selective")))
    assert pairs == [(C.ORIG, *PAIR_TEXT[C.ORIG]), (FINAL, *FINAL_TEXT)] and kept_only == [FINAL]
    assert coherence_pairs(with_table6(mode_spec("coherence"))) == ([], [])  # carried by choices
    topk = with_table6(mode_spec("ifd_topk"))
    assert final_prefix(topk) == C.ORIG and coherence_pairs(topk) == (
        [(C.ORIG, *PAIR_TEXT[C.ORIG])],
        [],
    )


def test_table6_counts_a_nan_loss_as_unscored():
    df = pd.DataFrame(
        {
            C.X_TOKENS: [4, 6], C.Y_TOKENS: [10, 0], C.LOSS_X: [1.0, 2.0], C.LOSS_Y: [2.0, 3.0],
            C.LOSS_Y_GIVEN_X: [1.5, math.nan], C.LOSS_X_GIVEN_Y: [0.5, 1.0],
            C.IFD: [0.6, math.nan], C.RIFD: [0.8, 0.4], C.COHERENCE: [0.5, 0.7],
            C.SCORE_ERROR: [None, None],
        }
    )  # fmt: skip
    row = scored_table6_row(df)
    assert row["samples"] == 2 and row["unscored"] == 1
    assert row["instruction_tokens"] == 5 and row["response_tokens"] == 10  # 0 tokens: unscored
    assert row["ppl_y_given_x"] == pytest.approx(math.exp(1.5)) and row["rifd"] == pytest.approx(
        0.6
    )


def test_a_run_decides_table_6_in_the_stream_once_and_passes_the_answer(tmp_path, monkeypatch):
    import recycle.student.coherence as coherence
    from recycle.config import load_config
    from recycle.pipeline import stats

    loads = []
    monkeypatch.setattr(coherence, "load_embedder", lambda name: loads.append(name))
    cfg = load_config(None, [f"student.model='{tmp_path}'", "output.report_stats=true"])
    assert stats.table6_in_stream(cfg) and loads == [cfg.student.coherence_model]
    assert stats.run_spec(cfg, True) != stats.run_spec(cfg, False)  # the answer decides
    assert len(loads) == 1  # nothing is loaded (or cached) behind the caller's back

    def fails(name):
        raise stats.ConfigError(f"student.coherence_model {name!r} cannot be loaded")

    monkeypatch.setattr(coherence, "load_embedder", fails)
    assert not stats.table6_in_stream(cfg)  # asked again, the same settings: loaded again


def test_a_missing_sentence_bert_model_is_a_reason_naming_the_setting(tmp_path):
    from recycle.pipeline.stats import embedder_error

    reason = embedder_error(str(tmp_path / "nowhere"))
    assert "student.coherence_model" in reason and "nowhere" in reason


def test_a_mode_choosing_by_coherence_stops_before_work_without_its_model(tmp_path):
    from recycle.config import load_config
    from recycle.errors import ConfigError
    from recycle.pipeline.steps import check_config

    cfg = load_config(None, [
        "selection.mode=coherence", f"student.model='{tmp_path}'",
        f"student.coherence_model='{tmp_path / 'no-minilm'}'",
    ])  # fmt: skip
    with pytest.raises(ConfigError, match="student.coherence_model .*no-minilm"):
        check_config(cfg)
