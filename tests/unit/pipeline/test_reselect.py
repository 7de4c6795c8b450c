"""`recycle select` on hand-made run rows: what a mode can be derived from, and what is refused."""

import pandas as pd
import pytest

from recycle import columns as C
from recycle.config import load_config
from recycle.config.selection import SelectionConfig
from recycle.errors import ConfigError
from recycle.pipeline.reselect import reselect
from recycle.select import select_reflected
from tests.unit.select.test_modes import row


def source_run(mode: str, ins_wins: dict[str, bool]) -> pd.DataFrame:
    """Rows as a run of `mode` wrote them, before the filter (step 2 decided by `ins_wins`)."""
    rows = [
        row(sid, 0.5, 0.8 if win else 0.2, 0.9, 0.7, 0.6, orig_loss_y_given_x=1.0,
            ins_loss_y_given_x=2.0 if win else 0.5, res_loss_y_given_x=0.5)
        for sid, win in ins_wins.items()
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    df["pair1_rifd"] = 0.9
    cfg = SelectionConfig(mode=mode, require_response_reflected=False)
    return select_reflected(df, cfg).assign(**{C.OUTCOME: C.OUTCOME_KEPT, C.REASON: ""})


def target(mode: str):
    return load_config(
        None, [f"selection.mode={mode}", "selection.require_response_reflected=false"]
    )


def test_recycle_instruction_is_derived_from_a_selective_run():
    src = source_run("selective", {"a": False, "b": True})
    out = reselect(src, target("recycle_instruction"), "selective").set_index(C.SAMPLE_ID)
    assert out[C.FINAL_INSTRUCTION].to_dict() == {"a": "xi-a", "b": "xi-b"}
    assert out[C.FINAL_OUTPUT].to_dict() == {"a": "yi-a", "b": "yi-b"}
    assert not out[C.RESPONSE_REFLECTED].any() and (out[C.OUTCOME] == "kept").all()


def test_recycle_response_is_derived_where_the_source_reflected_the_original_response():
    src = source_run("selective", {"a": False, "c": False})
    out = reselect(src, target("recycle_response"), "selective").set_index(C.SAMPLE_ID)
    assert out[C.FINAL_INSTRUCTION].to_dict() == {"a": "x0-a", "c": "x0-c"}
    assert out[C.FINAL_OUTPUT].to_dict() == {"a": "yr-a", "c": "yr-c"}


def test_recycle_response_is_refused_when_the_source_reflected_another_pair():
    src = source_run("selective", {"a": False, "b": True})
    # as read back from Parquet: a nullable column, missing on a row rejected before step 2
    rejected = {**src.iloc[0].to_dict(), C.SAMPLE_ID: "r", C.OUTCOME: C.OUTCOME_REJECTED}
    src = pd.concat([src, pd.DataFrame([rejected])], ignore_index=True)
    src[C.INSTRUCTION_REFLECTED] = src[C.INSTRUCTION_REFLECTED].astype("boolean")
    src.loc[2, C.INSTRUCTION_REFLECTED] = pd.NA
    with pytest.raises(
        ConfigError, match=r"for 1 of 2 samples it takes a different \(x1, y1\)"
    ) as err:
        reselect(src, target("recycle_response"), "selective")
    assert "run `recycle run` with selection.mode=recycle_response" in str(err.value)


def test_a_mode_needing_reflections_or_scores_the_source_lacks_is_refused():
    src = source_run("recycle_response", {"a": False})
    with pytest.raises(ConfigError, match="needs the instruction reflections"):
        reselect(src, target("selective"), "recycle_response")
    # selective computes IFD of (x1, y_res) only where it wins on r-IFD: ifd_only reads it everywhere
    with pytest.raises(
        ConfigError, match=r"reads ifd of res_ \(x1, y_res\), which a run of mode 'selective'"
    ):
        reselect(source_run("selective", {"a": True}), target("ifd_only"), "selective")


def test_a_mode_with_the_same_scores_is_selected_again_exactly():
    src = source_run("ifd_only", {"a": False, "b": True, "c": True})
    out = reselect(src, target("perplexity"), "ifd_only").set_index(C.SAMPLE_ID)
    direct = select_reflected(src, target("perplexity").selection).set_index(C.SAMPLE_ID)
    assert out[C.INSTRUCTION_REFLECTED].to_dict() == {"a": False, "b": True, "c": True}
    # ppl(y_res | x1) (loss 0.5) is below ppl(y1 | x1) (1.0 or 2.0) everywhere: y_res wins
    assert out[C.FINAL_OUTPUT].to_dict() == {"a": "yr-a", "b": "yr-b", "c": "yr-c"}
    assert out[C.FINAL_OUTPUT].to_dict() == direct[C.FINAL_OUTPUT].to_dict()
