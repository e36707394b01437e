"""Reports from records: tidy CSV, missing list, tables and figures."""

from benchmark.report.build import build_report

__all__ = ["build_report"]
