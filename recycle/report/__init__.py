"""Run reports: Table 6 statistics, the four-outcome pie, score histograms, examples, teacher usage."""

from recycle.report.build import write_report

__all__ = ["write_report"]
