"""Reports from records: tidy CSV, missing list, tables (LaTeX/Markdown/CSV) and figures."""

from benchmark.report.build import ReportSummary, build_report

__all__ = ["ReportSummary", "build_report"]
