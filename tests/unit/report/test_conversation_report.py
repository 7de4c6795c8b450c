"""The report shows a reflected conversation turn by turn (original against final) and the
manifest's conversation counts (issue 34, part 3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from recycle import columns as C
from recycle.config.selection import SelectionConfig
from recycle.pipeline.reassemble import conversation_counts, reassemble
from recycle.pipeline.turns import explode_turns, write_stream_batch
from recycle.report import write_report
from recycle.report.build import load_conversation
from recycle.rundir import build_manifest, count_outcomes, write_manifest
from tests.unit.pipeline.test_turns import CONV, TWO, finished, row


def test_report_shows_a_conversation_turn_by_turn(tmp_path: Path):
    run = str(tmp_path)
    stream = finished(
        explode_turns(pd.DataFrame([row(None, "a"), row(CONV), row(TWO)])),
        final_instruction=["a", "U1 rewritten", "u2", "u3", "v1", "v2"],
        final_output=["A", "a1", "a2 improved", "a3", "b1", "b2 better"],
        instruction_reflected=[False, True, False, False, False, False],
        response_reflected=[False, False, True, False, False, True],
    )
    write_stream_batch(pa.Table.from_pandas(stream, preserve_index=False), run, "part")
    assert reassemble(run, SelectionConfig(), True) == 2
    shown = load_conversation(run)
    assert shown["sample_id"] == row(CONV)[C.SAMPLE_ID]  # the most turns rewritten
    assert shown["fields"] == [
        ("system", "Be brief.", "Be brief."),
        ("turn 1 user", "u1", "U1 rewritten"),
        ("turn 1 answer", "a1", "a1"),
        ("turn 2 user", "u2", "u2"),
        ("turn 2 answer", "a2", "a2 improved"),
        ("turn 3 user", "u3", "u3"),
        ("turn 3 answer", "a3", "a3"),
    ]
    assert shown["scores"]["turns rewritten"] == 2
    config = {"output": {"dir": run}, "selection": {"mode": "selective"}}
    extra = {"conversations": conversation_counts(run)}
    write_manifest(run, build_manifest("run", 3, count_outcomes(run), config, {}, extra))
    html = Path(write_report(run)).read_text()
    section = html.split("A reflected conversation, turn by turn")[1].split("<h2>")[0]
    assert "turn 3 answer" in section and "U1" in section and "improved" in section
    assert "Conversations and turns" in html and "turn rewrites kept" in html
