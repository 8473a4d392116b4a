"""The report: one HTML page, its Markdown twin and summary.json, from a study's analysis.

Rendering only (``render.write_report``); nothing here imports fitting or compiling code.
"""
