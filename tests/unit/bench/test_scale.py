"""The scale benchmark's arithmetic: marginal cost per row, its ratio, the driver's memory."""

from __future__ import annotations

from recycle.bench.scale import Measure, marginal_ms, report_lines


def measures() -> list[Measure]:
    return [
        Measure(1000, "stream", 60.0, 700.0, 650.0, {"kept": 70}, (40.0, 37.0)),
        Measure(4000, "stream", 160.0, 760.0, 700.0, {"kept": 299}),
        Measure(16000, "stream", 664.0, 795.0, 745.0, {"kept": 1239}),
    ]


def test_marginal_cost_takes_out_the_fixed_cost():
    assert marginal_ms(measures(), "stream") == [(4000, 100 / 3), (16000, 42.0)]


def test_the_last_line_gives_the_ratio_and_both_memory_figures():
    lines = report_lines(measures())
    assert lines[0] == (
        "       stream    1000 rows:    60.0 s wall,  60.00 ms/row, driver peak    700 MB"
        " (+50 over its start), kept 70, ETA at half way 40 s, took 37 s"
    )
    assert lines[-1] == (
        "marginal cost per row, 4000->16000 over 1000->4000 rows: stream 1.26x;"
        " driver peak MB 1000: 700, 4000: 760, 16000: 795 (growth +14%);"
        " added within a step, MB 1000: 50, 4000: 60, 16000: 50"
    )


def test_a_measure_comes_back_whole_from_the_driver_that_took_it():
    for m in measures():
        assert Measure.from_json(m.to_json()) == m
