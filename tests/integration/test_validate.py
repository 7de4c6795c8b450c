"""`recycle validate` end to end on local Ray: real Alpaca data and a file of every bad-row kind."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recycle import columns as C
from recycle.cli.main import main
from recycle.rundir import read_manifest, read_outcome

pytestmark = pytest.mark.integration

GOOD = [
    {
        "instruction": "Give three tips for staying healthy.",
        "input": "",
        "output": "Eat well, sleep, move.",
    },
    {"instruction": "Translate to French.", "input": "Hello", "output": "Bonjour"},
    {"instruction": "Name a prime.", "input": None, "output": "7"},
]
BAD_LINES = {
    "unparseable_json": '{"instruction": "broken", "output": ',
    "not_an_object": '["instruction", "output"]',
    "missing_field": '{"instruction": "no output here"}',
    "non_string_field": '{"instruction": "Count.", "output": 42}',
    "empty_instruction": '{"instruction": "   ", "output": "orphan answer"}',
    "empty_output": '{"instruction": "Say nothing.", "output": ""}',
    "tool_call": json.dumps(  # several exchanges are accepted (issue 34); a tool turn is not
        {
            "conversations": [
                {"from": "human", "value": "a"},
                {"from": "function_call", "value": "b"},
                {"from": "observation", "value": "c"},
                {"from": "gpt", "value": "d"},
            ]
        }
    ),
}
SHAREGPT_GOOD = {
    "conversations": [
        {"from": "human", "value": "What is Ray?"},
        {"from": "gpt", "value": "A distributed compute framework."},
    ]
}


def test_alpaca_keeps_every_row(ray_local, alpaca_path, tmp_path):
    out = tmp_path / "run"
    assert main(["validate", "--input", str(alpaca_path), "--output", str(out)]) == 0
    m = read_manifest(str(out))
    assert m["counts"]["input"] == 3111 and m["counts"]["kept"] == 3111
    assert m["counts"]["rejected"] == {} and m["invariant"]["ok"]
    kept = read_outcome(str(out), C.OUTCOME_KEPT)
    assert kept.num_rows == 3111 and len(set(kept[C.SAMPLE_ID].to_pylist())) == 3111
    src = json.loads(alpaca_path.read_text())
    by_id = {r[C.SOURCE]: r for r in kept.to_pylist()}
    first = by_id[f"{alpaca_path}:0"]
    assert first[C.INSTRUCTION] == src[0]["instruction"].strip()
    assert first[C.OUTPUT] == src[0]["output"].strip()


def test_mixed_file_keeps_exactly_the_valid_rows(ray_local, tmp_path):
    lines = [json.dumps(r) for r in GOOD] + list(BAD_LINES.values())
    lines += [json.dumps(GOOD[0]), json.dumps(SHAREGPT_GOOD), "", "not json at all"]
    data = tmp_path / "mixed.jsonl"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["validate", "--input", str(data), "--output", str(out)]) == 0
    m = read_manifest(str(out))
    expected_rejects = {k: 1 for k in BAD_LINES} | {"duplicate": 1, "unparseable_json": 2}
    assert m["counts"] == {
        "input": 13,
        "kept": 4,
        "dropped": {},
        "rejected": dict(sorted(expected_rejects.items())),
    }
    assert m["invariant"] == {"ok": True, "input": 13, "accounted": 13}
    kept = read_outcome(str(out), C.OUTCOME_KEPT).to_pylist()
    assert sorted(r[C.INSTRUCTION] for r in kept) == sorted(
        [r["instruction"] for r in GOOD] + ["What is Ray?"]
    )
    rejects = read_outcome(str(out), C.OUTCOME_REJECTED).to_pylist()
    raws = {r[C.RAW] for r in rejects}
    assert set(BAD_LINES.values()) <= raws and "not json at all" in raws
    dup = next(r for r in rejects if r[C.REASON] == "duplicate")
    assert dup[C.SOURCE].endswith(":11") and dup[C.DETAIL].endswith(":1")


def test_parquet_and_sharegpt_json(ray_local, tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"instruction": "a", "input": "", "output": "b"},
                {"instruction": "", "input": "", "output": "b"},
            ]
        ),
        d / "x.parquet",
    )
    (tmp_path / "share.json").write_text(json.dumps([SHAREGPT_GOOD]))
    for path, kept, rejected in (
        (d, 1, {"empty_instruction": 1}),
        (tmp_path / "share.json", 1, {}),
    ):
        out = tmp_path / f"run-{path.name}"
        assert main(["validate", "--input", str(path), "--output", str(out)]) == 0
        counts = read_manifest(str(out))["counts"]
        assert counts["kept"] == kept and counts["rejected"] == rejected


def test_manifest_has_config_versions_timings_and_no_secret(ray_local, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak-123456")
    data = tmp_path / "d.json"
    data.write_text(json.dumps(GOOD))
    out = tmp_path / "run"
    assert (
        main(["validate", "--input", str(data), "--output", str(out), "teacher.model=gpt-4o"]) == 0
    )
    text = (out / "manifest.json").read_text()
    assert "sk-test-must-not-leak" not in text
    m = json.loads(text)
    assert m["config"]["teacher"]["model"] == "gpt-4o" and m["config"]["data"]["input"] == str(data)
    assert {"ray", "torch", "python"} <= set(m["versions"]) and m["timings_s"]["read"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "--input", "/no/such/file.json", "--output", "X"], "does not exist"),
        (["validate", "--input", "EMPTY", "--output", "X"], "is empty"),
        (["validate", "--input", "CSV", "--output", "X"], "cannot tell the format"),
        (
            ["validate", "--input", "CSV", "--output", "X", "data.fromat=json"],
            "did you mean 'data.format'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ray_local, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "d.csv").write_text("a,b\n")
    subst = {
        "EMPTY": str(tmp_path / "empty"),
        "CSV": str(tmp_path / "d.csv"),
        "X": str(tmp_path / "out"),
    }
    assert main([subst.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_overrides_before_and_after_options(ray_local, tmp_path):
    data = tmp_path / "d.json"
    data.write_text(json.dumps(GOOD))
    out = tmp_path / "run"
    argv = [
        "validate",
        "teacher.model=a",
        "--input",
        str(data),
        "student.max_length=99",
        "--output",
        str(out),
    ]
    assert main(argv) == 0
    cfg = read_manifest(str(out))["config"]
    assert cfg["teacher"]["model"] == "a" and cfg["student"]["max_length"] == 99


def test_duplicates_across_files_and_blocks(ray_local, tmp_path):
    from recycle.config.data import DataConfig
    from recycle.data import read

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(json.dumps(r) for r in GOOD) + "\n")
    (tmp_path / "in" / "b.jsonl").write_text(f"{json.dumps(GOOD[1])}\n{json.dumps(GOOD[0])}\n")
    ds, n_input = read.read_samples(DataConfig(input=str(tmp_path / "in")))
    assert ds.num_blocks() == 2  # a block per file: the duplicates sit in another block
    rows = ds.to_pandas()
    assert n_input == len(rows) == 5
    dups = rows[rows[C.REASON] == "duplicate"].sort_values(C.SOURCE)
    assert [s.rsplit("/", 1)[1] for s in dups[C.SOURCE]] == ["b.jsonl:1", "b.jsonl:2"]  # 1-based
    assert [d.rsplit("/", 1)[1] for d in dups[C.DETAIL]] == ["a.jsonl:2", "a.jsonl:1"]
    assert (rows[C.OUTCOME] == C.OUTCOME_KEPT).sum() == 3


def test_synthetic_input_in_many_files_matches_the_whole_input_at_once(ray_local, tmp_path):
    """The distributed path (a task per file, duplicates found from the keys, blocks marked apart)
    gives the rows that marking the whole input in one table gives."""
    from recycle.bench.data import write_synthetic
    from recycle.config.data import DataConfig
    from recycle.data import read
    from recycle.data.duplicates import mark_duplicates
    from recycle.data.normalize import SAMPLE_SCHEMA, normalize_record
    from recycle.data.records import iter_records
    from recycle.data.sources import resolve_inputs

    folder = write_synthetic(tmp_path / "in", 3000, files=5, duplicate_every=7)
    ds, n_input = read.read_samples(DataConfig(input=str(folder)))
    assert ds.num_blocks() == 5 and n_input == 3000
    records = [r for f in resolve_inputs(str(folder)) for r in iter_records(f)]
    whole = pa.Table.from_pylist(
        [normalize_record(r["raw"], r["source"], r["parse_error"]) for r in records],
        schema=SAMPLE_SCHEMA,
    )
    expected = sorted(mark_duplicates(whole).to_pylist(), key=lambda r: r[C.SOURCE])
    got = sorted((r for b in ds.iter_batches(batch_format="pyarrow") for r in b.to_pylist()),
                 key=lambda r: r[C.SOURCE])  # fmt: skip
    assert sum(r[C.REASON] == "duplicate" for r in expected) > 400
    assert got == expected


def test_conversations_are_kept_with_their_turns_and_bad_ones_rejected(ray_local, tmp_path):
    """Alpaca rows, 2- to 6-turn ShareGPT and `messages` conversations with system prompts, and
    malformed ones: every row kept or rejected with a reason, the manifest adding up (issue 34)."""

    def share(n, system):
        turns = [{"from": "system", "value": system}] if system else []
        for t in range(n):
            turns += [
                {"from": "human", "value": f"q{n}.{t}"},
                {"from": "gpt", "value": f"a{n}.{t}"},
            ]
        return {"conversations": turns}

    def messages(n):
        msgs = [{"role": "system", "content": f"You are bot {n}."}]
        for t in range(n):
            msgs += [
                {"role": "user", "content": f"u{n}.{t}"},
                {"role": "assistant", "content": f"b{n}.{t}"},
            ]
        return {"messages": msgs}

    good = [*GOOD, *(share(n, "Be brief." if n % 2 else "") for n in range(2, 7)),
            *(messages(n) for n in range(2, 7))]  # fmt: skip
    bad = {
        "bad_conversation": messages(3) | {"messages": messages(3)["messages"][:-1]},
        "empty_output": share(2, "") | {"conversations": share(2, "")["conversations"][:-1]
                                        + [{"from": "gpt", "value": " "}]},
        "tool_call": json.loads(BAD_LINES["tool_call"]),
    }  # fmt: skip
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [*good, *bad.values()]) + "\n")
    out = tmp_path / "run"
    assert main(["validate", "--input", str(data), "--output", str(out)]) == 0
    m = read_manifest(str(out))
    assert m["counts"]["kept"] == len(good) and m["invariant"]["ok"]
    assert m["counts"]["rejected"] == {k: 1 for k in sorted(bad)}
    kept = read_outcome(str(out), C.OUTCOME_KEPT).to_pylist()
    chats = [r for r in kept if r[C.MESSAGES]]
    assert len(chats) == 10 and all(not r[C.MESSAGES] for r in kept if r not in chats)
    six = next(r for r in chats if r[C.INSTRUCTION] == "q6.5")
    turns = json.loads(six[C.MESSAGES])
    assert [t["role"] for t in turns] == ["user", "assistant"] * 6 and six[C.OUTPUT] == "a6.5"
