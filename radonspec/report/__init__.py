"""The report: one HTML page, its Markdown twin and summary.json, from a study's fits."""

from radonspec.report.render import write_report

__all__ = ["write_report"]
