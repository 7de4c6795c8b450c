import pyarrow as pa

from recycle import columns as C
from recycle.rundir import (
    build_manifest,
    count_outcomes,
    read_outcome,
    write_outcome_batch,
    written_ids,
)


def batch(ids, outcome, scores, reason=""):
    return pa.table({
        C.SAMPLE_ID: ids, C.OUTCOME: [outcome] * len(ids), C.REASON: [reason] * len(ids),
        "res_ifd": pa.array(scores), "new_instruction": pa.array([None] * len(ids)),
    })  # fmt: skip


def test_parts_with_all_null_columns_share_one_schema(tmp_path):
    run = str(tmp_path)
    write_outcome_batch(batch(["a", "b"], C.OUTCOME_KEPT, [None, None]), run)
    write_outcome_batch(batch(["c"], C.OUTCOME_KEPT, [0.5]), run)
    kept = read_outcome(run, C.OUTCOME_KEPT)
    assert kept.schema.field("res_ifd").type == pa.float64()
    assert kept.schema.field("new_instruction").type == pa.string()
    assert sorted(kept[C.SAMPLE_ID].to_pylist()) == ["a", "b", "c"]


def test_counts_ids_and_retried_batches_are_not_written_twice(tmp_path):
    run = str(tmp_path)
    b = pa.concat_tables(
        [
            batch(["a"], C.OUTCOME_KEPT, [0.1]),
            batch(["x", "y"], C.OUTCOME_DROPPED, [2.0, 3.0], "ifd_not_below_one"),
        ]
    )
    counts = write_outcome_batch(b, run)
    write_outcome_batch(b, run)  # a retried task: same content, same part file names
    assert sorted(counts.to_pylist(), key=lambda r: r["outcome"]) == [
        {"outcome": "dropped", "reason": "ifd_not_below_one", "n": 2},
        {"outcome": "kept", "reason": "", "n": 1},
    ]
    assert count_outcomes(run) == {"kept": 1, "dropped": {"ifd_not_below_one": 2}, "rejected": {}}
    assert written_ids(run) == {"a", "x", "y"}
    assert not list(tmp_path.rglob(".*.tmp"))


def test_manifest_invariant():
    counts = {"kept": 2, "dropped": {"r": 1}, "rejected": {"q": 1}}
    assert build_manifest("t", 4, counts, {}, {})["invariant"] == {
        "ok": True,
        "input": 4,
        "accounted": 4,
    }
    assert build_manifest("t", 5, counts, {}, {})["invariant"]["ok"] is False


def test_resume_keys_refuse_a_changed_run(tmp_path):
    import pytest

    from recycle.errors import ConfigError
    from recycle.rundir import check_resume_keys, clear_outcomes

    run = str(tmp_path / "run")
    check_resume_keys(run, {"selection": {"mode": "selective"}, "student.model": "/m"})
    check_resume_keys(
        run, {"selection": {"mode": "selective"}, "student.model": "/m"}
    )  # same: fine
    with pytest.raises(
        ConfigError, match=r"student.model: '/m' -> '/other'.*output.overwrite=true"
    ):
        check_resume_keys(run, {"selection": {"mode": "selective"}, "student.model": "/other"})
    clear_outcomes(run)  # overwrite forgets the old settings
    check_resume_keys(run, {"selection": {"mode": "recycle"}, "student.model": "/other"})


def test_transient_rejects_are_kept_apart_and_left_out_of_what_a_rerun_skips(tmp_path):
    from recycle.rundir import delete_transient, outcome_files
    from recycle.teacher import errors

    run = str(tmp_path)
    b = pa.concat_tables(
        [
            batch(["k"], C.OUTCOME_KEPT, [0.1]),
            batch(["u1", "u2"], C.OUTCOME_REJECTED, [0.2, 0.3], errors.UNAVAILABLE),
            batch(["b"], C.OUTCOME_REJECTED, [0.4], errors.BUDGET),
            batch(["f"], C.OUTCOME_REJECTED, [0.5], errors.BAD_REQUEST),
        ]
    )
    write_outcome_batch(b, run)
    assert (tmp_path / "retry").is_dir() and (tmp_path / "rejects").is_dir()
    assert len(outcome_files(run, C.OUTCOME_REJECTED, transient=True)) == 1
    assert count_outcomes(run) == {
        "kept": 1, "dropped": {}, "rejected": {errors.BAD_REQUEST: 1},
        "retry": {errors.BUDGET: 1, errors.UNAVAILABLE: 2},
    }  # fmt: skip
    assert count_outcomes(run, retry=False)["rejected"] == {
        errors.BAD_REQUEST: 1, errors.BUDGET: 1, errors.UNAVAILABLE: 2,
    }  # fmt: skip
    assert build_manifest("t", 5, count_outcomes(run), {}, {})["invariant"]["ok"]
    assert read_outcome(run, C.OUTCOME_REJECTED).num_rows == 4  # both folders by default
    assert written_ids(run) == {"k", "u1", "u2", "b", "f"}
    assert written_ids(run, transient=False) == {"k", "f"}
    assert delete_transient(run) == 1
    assert "retry" not in count_outcomes(run) and written_ids(run) == {"k", "f"}
