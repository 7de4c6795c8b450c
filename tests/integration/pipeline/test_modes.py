"""Every selection mode end to end on a few rows: the invariant holds, the teacher is asked what
the mode's declaration says (counted at the server), and the rows written are the mode's choice."""

import json
from collections import Counter

import pandas as pd
import pytest

from recycle import columns as C
from recycle.commands.pipeline import run_pipeline
from recycle.commands.select import run_select
from recycle.config import load_config
from recycle.errors import ConfigError
from recycle.prompts import render_chat
from recycle.rundir import read_outcome
from recycle.select import select_reflected
from recycle.select.declarations import mode_names, mode_spec
from recycle.select.modes import STAGE as SELECT_STAGE
from recycle.testing.local_answers import default_answer
from recycle.testing.local_server import LocalTeacherServer
from tests.integration.pipeline.conftest import pipeline_config
from tests.support.tiny_model import alpaca_rows

pytestmark = pytest.mark.integration
N_VALID = 8
SYSTEM = {
    render_chat(name, instruction="i", input="n", output="o").messages[0]["content"]: kind
    for name, kind in (
        ("reflect_instruction", "instruction"),
        ("reflect_response", "response"),
        ("reflect_response_with_input", "response"),
    )
}


class CountingAnswers:
    """The local teacher's default answers, counting requests by the reflection they ask for."""

    def __init__(self):
        self.calls: Counter[str] = Counter()

    def __call__(self, messages):
        self.calls[SYSTEM.get(messages[0]["content"], "other")] += 1
        return default_answer(messages)


@pytest.fixture(scope="module")
def teacher():
    answers = CountingAnswers()
    with LocalTeacherServer(answer=answers) as server:
        yield server, answers


@pytest.fixture(scope="module")
def few_rows(tmp_path_factory):
    """8 real Alpaca rows (4 with an input) and one row without an output."""
    rows = alpaca_rows()[:N_VALID]
    assert sum(bool(r["input"]) for r in rows) >= 3
    path = tmp_path_factory.mktemp("modes") / "few.jsonl"
    lines = [json.dumps(r) for r in rows] + ['{"instruction": "no output"}']
    path.write_text("\n".join(lines) + "\n")
    return path


def written(run_dir) -> pd.DataFrame:
    frames = [t.to_pandas() for o in C.OUTCOMES if (t := read_outcome(str(run_dir), o)) is not None]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def mode_run(ray_local, tmp_path_factory, few_rows, tiny_model_dir, teacher):
    """mode -> (config, manifest, teacher calls by kind, run directory), each mode run once a
    module: a test that reads another mode's run runs it when it has not run yet."""
    server, answers = teacher
    done: dict[str, tuple] = {}

    def run(mode: str) -> tuple:
        if mode not in done:
            out = tmp_path_factory.mktemp(mode) / "run"
            answers.calls.clear()
            cfg = pipeline_config(
                few_rows, out, tiny_model_dir, server.base_url, f"selection.mode={mode}",
                "selection.require_response_reflected=false", "selection.require_ifd_below_one=false",
                "selection.topk_n=5", "student.max_length=512",
            )  # fmt: skip
            manifest = run_pipeline(cfg)
            done[mode] = cfg, manifest, dict(answers.calls), out
        return done[mode]

    return run


def stream_graph(mode: str) -> tuple:
    """What a mode's stream runs: the teacher calls, the phases' scores, the global top-k; its
    step 2 and step 4 rules only change the plan object the choose steps are given
    (tests/unit/select/test_selection_plan.py checks every mode's rules, phases and filter)."""
    spec = mode_spec(mode)
    phases = tuple(tuple(sorted(p.scores.items())) for p in (spec.phase1, spec.phase2))
    return spec.reflect_instruction, spec.reflect_response, phases, spec.global_topk


# One run per stream graph: perplexity stands for ifd_only and random (the same phases and
# teacher calls; only their rules differ). Two more pipeline runs were ~60 CPU-seconds of CI.
GRAPHS = list({stream_graph(m): m for m in reversed(mode_names())}.values())[::-1]


def test_every_stream_graph_is_run_by_one_mode():
    assert {stream_graph(m) for m in mode_names()} == {stream_graph(m) for m in GRAPHS}
    assert "selective" in GRAPHS and len(GRAPHS) < len(mode_names())


@pytest.mark.parametrize("mode", GRAPHS)
def test_mode_end_to_end(mode, mode_run):
    spec = mode_spec(mode)
    cfg, manifest, teacher_calls, run_dir = mode_run(mode)

    counts = manifest["counts"]
    assert manifest["invariant"]["ok"] and counts["input"] == N_VALID + 1
    assert sum(counts["rejected"].values()) == 1
    calls = {k: teacher_calls.get(k, 0) for k in ("instruction", "response", "other")}
    assert calls == {
        "instruction": N_VALID * spec.reflect_instruction,
        "response": N_VALID * spec.reflect_response,
        "other": 0,
    }
    rows = written(run_dir)
    chosen = rows[rows[C.STAGE].isin(["", SELECT_STAGE])].set_index(C.SAMPLE_ID)
    assert len(chosen) == N_VALID
    if spec.global_topk:
        assert counts["kept"] == 5 and list(counts["dropped"]) == ["below_topk"]
        return
    # the rows written are what the pure selection makes of the same columns
    replay = chosen.reset_index().assign(**{C.OUTCOME: C.OUTCOME_KEPT, C.REASON: "", C.STAGE: ""})
    again = select_reflected(replay, cfg.selection).set_index(C.SAMPLE_ID)
    assert again[C.OUTCOME].to_dict() == chosen[C.OUTCOME].to_dict()
    assert again[C.FINAL_OUTPUT].to_dict() == chosen[C.FINAL_OUTPUT].to_dict()
    # Sentence-BERT coherence of every pair, (x1, y1)'s carried over from phase 1
    if spec.needs_embedder:
        for prefix in (C.ORIG, C.INS, C.PAIR1, C.RES):
            assert chosen[C.scored(prefix, C.COHERENCE)].astype(float).between(-1, 1).all(), prefix
        ins = chosen[C.scored(C.INS, C.COHERENCE)] > chosen[C.scored(C.ORIG, C.COHERENCE)]
        assert (chosen[C.INSTRUCTION_REFLECTED] == ins).all()
        carried = chosen[C.scored(C.INS, C.COHERENCE)].where(
            chosen[C.INSTRUCTION_REFLECTED], chosen[C.scored(C.ORIG, C.COHERENCE)]
        )
        assert (chosen[C.scored(C.PAIR1, C.COHERENCE)] == carried).all()
        res = chosen[C.scored(C.RES, C.COHERENCE)] > chosen[C.scored(C.PAIR1, C.COHERENCE)]
        assert (chosen[C.RESPONSE_REFLECTED] == res).all()
    if not spec.needs_student:  # the recycle modes keep every sample, with every reflection
        assert counts["kept"] == N_VALID
        assert (chosen[C.INSTRUCTION_REFLECTED] == spec.reflect_instruction).all()
        assert (chosen[C.RESPONSE_REFLECTED] == spec.reflect_response).all()
        final = chosen[C.FINAL_INSTRUCTION], chosen[C.FINAL_OUTPUT]
        if spec.reflect_instruction:
            assert (final[0] == chosen[C.NEW_INSTRUCTION]).all()
        else:
            assert (final[0] == chosen[C.INSTRUCTION]).all()
        if spec.reflect_response:
            assert (final[1] == chosen[C.BETTER_OUTPUT]).all()
        else:
            assert (final[1] == chosen[C.NEW_OUTPUT]).all()


def test_recycle_select_derives_the_table_4_modes_from_a_selective_run(tmp_path, mode_run):
    source = str(mode_run("selective")[3])
    src = written(source).set_index(C.SAMPLE_ID)
    src = src[src[C.STAGE].isin(["", SELECT_STAGE])]

    def select(mode, source=source):
        out = tmp_path / mode
        return run_select(
            load_config(
                None, [f"data.input='{source}'", f"output.dir='{out}'", f"selection.mode={mode}"]
            )
        ), out

    manifest, out = select("recycle_instruction")
    assert manifest["invariant"]["ok"] and manifest["counts"]["kept"] == N_VALID
    rows = written(out).set_index(C.SAMPLE_ID)[[C.FINAL_INSTRUCTION, C.FINAL_OUTPUT]].loc[src.index]
    assert (rows[C.FINAL_INSTRUCTION] == src[C.NEW_INSTRUCTION]).all()
    assert (rows[C.FINAL_OUTPUT] == src[C.NEW_OUTPUT]).all()

    # The selective run took the reflected instruction of some samples (the scripted teacher's
    # instructions score higher on these rows): the response of their (x0, y0) was never
    # reflected, so recycle_response is refused, naming how many.
    took_ins = int(src[C.INSTRUCTION_REFLECTED].sum())
    assert 0 < took_ins < N_VALID
    with pytest.raises(ConfigError, match=f"for {took_ins} of {N_VALID} samples"):
        select("recycle_response")


def test_recycle_select_derives_recycle_response_where_the_response_of_x0_was_reflected(
    tmp_path, mode_run
):
    """A source that reflected the response of every (x0, y0): recycle_response takes them."""
    source = str(mode_run("recycle_response")[3])
    src = written(source).set_index(C.SAMPLE_ID)
    src = src[src[C.STAGE].isin(["", SELECT_STAGE])]
    out = tmp_path / "again"
    cfg = load_config(
        None, [f"data.input='{source}'", f"output.dir='{out}'", "selection.mode=recycle_response"]
    )
    manifest = run_select(cfg)
    assert manifest["invariant"]["ok"] and manifest["counts"]["kept"] == N_VALID
    rows = written(out).set_index(C.SAMPLE_ID).loc[src.index]
    assert (rows[C.FINAL_OUTPUT] == src[C.BETTER_OUTPUT]).all()
    assert (rows[C.FINAL_OUTPUT] != src[C.OUTPUT]).all()  # every response is the reflected one
