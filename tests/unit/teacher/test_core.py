"""Reflector and the tasks on hand-made rows: what each outcome writes, without Ray."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest

from recycle import columns as C
from recycle.prompts import render_chat
from recycle.teacher import errors
from recycle.teacher.client import TeacherClient, estimate_tokens
from recycle.teacher.core import CUT_AT_MAX_TOKENS, Reflector
from recycle.teacher.gate import GateSettings, LocalGate
from recycle.teacher.tasks import InstructionTask, ResponseTask, fit_prompt
from recycle.testing.local_server import BAD_REQUEST, CUT_OFF, NO_MARKERS

from .conftest import teacher_config


def sample(i: int, input_: str = "", outcome: str = C.OUTCOME_KEPT) -> dict:
    return {
        C.SAMPLE_ID: f"s{i}",
        C.INSTRUCTION: f"Give tip number {i} for staying healthy.",
        C.INPUT: input_,
        C.OUTPUT: f"Tip {i}: drink water.",
        C.SOURCE: f"t:{i}",
        C.RAW: "{}",
        C.OUTCOME: outcome,
        C.REASON: "" if outcome == C.OUTCOME_KEPT else "empty_output",
        C.DETAIL: "",
        C.STAGE: "" if outcome == C.OUTCOME_KEPT else "validate",
    }


def reflect(server, task, rows: list[dict], **overrides) -> tuple[pa.Table, dict]:
    cfg = teacher_config(server, **overrides)
    client = TeacherClient(cfg, LocalGate(GateSettings.from_config(cfg)), None)

    async def go():
        out = await Reflector(task, client, cfg).reflect_table(pa.Table.from_pylist(rows))
        await client.aclose()
        return out, await client.gate.totals()

    return asyncio.run(go())


@pytest.mark.integration  # the local teacher server
def test_instruction_reflection_writes_new_pair_and_passes_other_rows_through(make_server) -> None:
    server = make_server()
    rows = [
        sample(0, input_="for office workers"),
        sample(1, outcome=C.OUTCOME_REJECTED),
        sample(2),
    ]
    out, totals = reflect(server, InstructionTask(), rows)
    got = out.to_pylist()
    assert server.stats.requests == 2 and totals["requests"] == 2
    assert got[0][C.REFLECT_INSTRUCTION_STATUS] == "ok"
    assert (
        "Give tip number 0" in got[0][C.NEW_INSTRUCTION]
        and "for office workers" in got[0][C.NEW_INSTRUCTION]
    )
    assert got[0][C.NEW_INPUT] == "" and got[0][C.NEW_OUTPUT].startswith("Tip 0: drink water.")
    assert (
        "[New Instruction]" in got[0][C.REFLECT_INSTRUCTION_RAW]
        or "New Instruction:" in got[0][C.REFLECT_INSTRUCTION_RAW]
    )
    assert got[0][C.REFLECT_INSTRUCTION_TRUNCATED] is False
    assert got[1] == {
        **rows[1],
        **dict.fromkeys(InstructionTaskColumns, None),
    }  # untouched, new columns empty
    assert got[2][C.OUTCOME] == C.OUTCOME_KEPT and got[2][C.REFLECT_INSTRUCTION_STATUS] == "ok"
    assert out.schema.field(C.REFLECT_INSTRUCTION_TRUNCATED).type == pa.bool_()


InstructionTaskColumns = (
    C.NEW_INSTRUCTION,
    C.NEW_INPUT,
    C.NEW_OUTPUT,
    C.REFLECT_INSTRUCTION_STATUS,
    C.REFLECT_INSTRUCTION_RAW,
    C.REFLECT_INSTRUCTION_TRUNCATED,
)


@pytest.mark.integration  # the local teacher server
def test_unparseable_answers_are_retried_then_the_sample_keeps_its_text(make_server) -> None:
    server = make_server(faults={NO_MARKERS: 1.0})
    out, totals = reflect(server, InstructionTask(), [sample(0, input_="ctx")], max_parse_retries=2)
    row = out.to_pylist()[0]
    assert server.stats.requests == 3  # first ask + 2 bounded re-asks
    assert row[C.OUTCOME] == C.OUTCOME_KEPT
    assert row[C.REFLECT_INSTRUCTION_STATUS] == "parse_missing_new_instruction"
    assert (row[C.NEW_INSTRUCTION], row[C.NEW_INPUT], row[C.NEW_OUTPUT]) == (
        "Give tip number 0 for staying healthy.",
        "ctx",
        "Tip 0: drink water.",
    )
    assert "feedback" in row[C.REFLECT_INSTRUCTION_RAW]
    assert totals["parse_failures"] == 3 and totals["parse_retries"] == 2


@pytest.mark.integration  # the local teacher server
def test_a_400_becomes_a_reject_with_reason_detail_and_stage(make_server) -> None:
    server = make_server(
        fault_fn=lambda messages, n: BAD_REQUEST if "number 1 " in messages[-1]["content"] else None
    )
    out, _ = reflect(server, ResponseTask(), [sample(0), sample(1), sample(2)])
    got = {r[C.SAMPLE_ID]: r for r in out.to_pylist()}
    assert got["s1"][C.OUTCOME] == C.OUTCOME_REJECTED
    assert got["s1"][C.REASON] == errors.BAD_REQUEST == got["s1"][C.REFLECT_RESPONSE_STATUS]
    assert got["s1"][C.STAGE] == errors.STAGE_RESPONSE and "context length" in got["s1"][C.DETAIL]
    assert got["s1"][C.BETTER_OUTPUT] is None
    assert [got[s][C.REFLECT_RESPONSE_STATUS] for s in ("s0", "s2")] == ["ok", "ok"]


@pytest.mark.integration  # the local teacher server
def test_answer_cut_at_max_tokens_is_not_taken_as_reflected(make_server) -> None:
    server = make_server(faults={CUT_OFF: 1.0})
    out, _ = reflect(server, ResponseTask(), [sample(0)], max_parse_retries=1)
    row = out.to_pylist()[0]
    assert row[C.REFLECT_RESPONSE_STATUS] == CUT_AT_MAX_TOKENS
    assert row[C.BETTER_OUTPUT] == "Tip 0: drink water."
    assert server.stats.requests == 2


@pytest.mark.integration  # the local teacher server
def test_response_task_uses_the_with_input_prompt_and_configurable_columns(make_server) -> None:
    server = make_server()
    seen: list[str] = []
    server.fault_fn = lambda messages, n: seen.append(messages[-1]["content"]) or None
    rows = [{**sample(0), "x1": "Translate to French.", "i1": "Good morning", "y1": "Bonjour"}]
    task = ResponseTask(instruction_column="x1", input_column="i1", output_column="y1")
    out, _ = reflect(server, task, rows)
    assert "[The Start of Input]\nGood morning" in seen[0] and "Translate to French." in seen[0]
    assert out.to_pylist()[0][C.BETTER_OUTPUT].startswith("Bonjour")


@pytest.mark.integration  # the local teacher server
def test_missing_column_names_stage_and_column(make_server) -> None:
    server = make_server()
    rows = [{k: v for k, v in sample(0).items() if k != C.OUTPUT}]
    with pytest.raises(KeyError, match="reflect_instruction.*output"):
        reflect(server, InstructionTask(), rows)


def test_fit_prompt_cuts_the_response_end_and_flags_it() -> None:
    from recycle.config.teacher import TeacherConfig

    cfg = TeacherConfig(context_window=1200, max_tokens=600, chars_per_token=3.0)

    def render(y: str):
        return render_chat("reflect_response", instruction="Summarize.", output=y)

    short = fit_prompt(render, "brief answer", cfg)
    assert not short.truncated and short.max_tokens == 600
    long_response = "word " * 2000
    fitted = fit_prompt(render, long_response, cfg)
    assert fitted.truncated
    assert estimate_tokens(fitted.prompt.messages, 3.0) + fitted.max_tokens <= 1200
    user = fitted.prompt.messages[-1]["content"]
    assert "word word" in user and user.count("word") < 2000  # the end was cut, the start kept
    with pytest.raises(errors.SampleRejected) as err:
        fit_prompt(
            lambda y: render_chat("reflect_response", instruction="x" * 5000, output=y), "y", cfg
        )
    assert err.value.reason == errors.PROMPT_TOO_LONG


@pytest.mark.integration  # the local teacher server
def test_over_long_sample_is_truncated_in_the_prompt_and_flagged(make_server) -> None:
    server = make_server()
    long_row = {**sample(0), C.OUTPUT: "long answer sentence. " * 400}
    out, _ = reflect(server, InstructionTask(), [long_row], context_window=1500, max_tokens=700)
    row = out.to_pylist()[0]
    assert row[C.REFLECT_INSTRUCTION_TRUNCATED] is True
    assert row[C.REFLECT_INSTRUCTION_STATUS] == "ok"
