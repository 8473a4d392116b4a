"""Write the report: report.html (self-contained), report.md with figures/*.png, summary.json.

Every file is written under a temporary name in its final folder and then
renamed over the old one, so a reader never sees a half-written report.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from radonspec.analysis.records import Results
from radonspec.report.build import build_content
from radonspec.report.content import Content, Image
from radonspec.report.numbers import (
    fmt,
    fmt_fixed,
    fmt_int,
    fmt_percent,
    fmt_rhat,
    fmt_short,
    fmt_value,
)
from radonspec.report.summary import summary

TEMPLATES = Path(__file__).parent / "templates"
FILES = {"html": "report.html", "markdown": "report.md", "json": "summary.json"}
FIGURES = "figures"


def write_report(results: Results, out_dir: Path, *, spec_hash: str = "") -> dict[str, Path]:
    """Write the formats in ``study.report.formats`` to ``out_dir``; return format -> file.

    Parameters
    ----------
    results
        The study's analysis (``radonspec.analysis.results.analyse``).
    out_dir
        Folder of the report; created when missing. Markdown figures go to
        ``out_dir/figures``.
    spec_hash
        Hash of the resolved study, printed in the header.
    """
    formats = results.study.report.formats
    content = build_content(
        results, spec_hash=spec_hash, figures=bool({"html", "markdown"} & set(formats))
    )
    return write_content(content, formats, out_dir)


def write_content(content: Content, formats: Sequence[str], out_dir: Path) -> dict[str, Path]:
    """Render ``content`` in each format to ``out_dir``, each file atomically; format -> file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind in dict.fromkeys(formats):
        target = out_dir / FILES[kind]
        if kind == "html":
            text = render_html(content)
        elif kind == "markdown":
            for image in all_images(content):
                write_atomic(out_dir / FIGURES / f"{image.name}.png", image.png)
            text = render_markdown(content)
        else:
            text = json.dumps(summary(content), indent=2, allow_nan=False) + "\n"
        write_atomic(target, text.encode())
        written[kind] = target
    return written


def all_images(content: Content) -> list[Image]:
    """Every figure of the report, in page order."""
    prior = content.prior_predictive.section if content.prior_predictive is not None else None
    sections = [content.groups, prior, content.ppc, content.priors]
    return [image for section in sections if section is not None for image in section.images]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=fmt,
        int=fmt_int,
        rhat=fmt_rhat,
        short=fmt_short,
        fixed=fmt_fixed,
        md=markdown_cell,
        data_uri=data_uri,
        anchor=anchor,
        value=fmt_value,
        percent=fmt_percent,
    )
    return env


def render_html(content: Content) -> str:
    """The report as one self-contained HTML page."""
    return _environment().get_template("report.html.j2").render(c=content, figures=FIGURES)


def render_markdown(content: Content) -> str:
    """The report as Markdown; images point at ``figures/<name>.png``."""
    return _environment().get_template("report.md.j2").render(c=content, figures=FIGURES)


def data_uri(image: Image) -> str:
    """The PNG as a ``data:`` URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(image.png).decode("ascii")


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and angle brackets escaped."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def anchor(name: str) -> str:
    """An id for a model's heading (model names are already [A-Za-z0-9_.-])."""
    return "model-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
