"""Write the report: report.html (self-contained), report.md with figures/*.png, summary.json.

The folder is replaced as a whole (``report.output.write_folder``): a reader sees
the previous report or the new one, never a half-written file or a mix of the two.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from radonspec.analysis.records import Results
from radonspec.errors import counted
from radonspec.report.build import build_content
from radonspec.report.content import Content, Image
from radonspec.report.manifest import FILES
from radonspec.report.numbers import (
    fmt,
    fmt_fixed,
    fmt_group_sizes,
    fmt_int,
    fmt_percent,
    fmt_rhat,
    fmt_short,
    fmt_value,
)
from radonspec.report.output import check_out_dir, write_folder
from radonspec.report.summary import summary

TEMPLATES = Path(__file__).parent / "templates"
FIGURES = "figures"


def write_report(
    results: Results,
    out_dir: Path,
    *,
    spec_hash: str = "",
    extra: Mapping[str, bytes] | None = None,
) -> dict[str, Path]:
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
    extra
        More files of the folder (name -> content), written with the report as one.
    """
    check_out_dir(out_dir)  # a folder that cannot take the report is refused before the work
    formats = results.study.report.formats
    content = build_content(
        results, spec_hash=spec_hash, figures=bool({"html", "markdown"} & set(formats))
    )
    return write_content(content, formats, out_dir, extra)


def write_content(
    content: Content,
    formats: Sequence[str],
    out_dir: Path,
    extra: Mapping[str, bytes] | None = None,
) -> dict[str, Path]:
    """Render ``content`` in each format and replace ``out_dir`` with them; format -> file.

    ``extra`` are more files of the folder (name -> content). The folder is written as
    a whole (see ``report.output``): it must not hold files a report does not write.
    """
    files: dict[str, bytes] = {}
    for kind in dict.fromkeys(formats):
        if kind == "html":
            text = render_html(content)
        elif kind == "markdown":
            for image in all_images(content):
                files[f"{FIGURES}/{image.name}.png"] = image.png
            text = render_markdown(content)
        else:
            text = json.dumps(summary(content), indent=2, allow_nan=False) + "\n"
        files[FILES[kind]] = text.encode()
    files.update(extra or {})
    write_folder(Path(out_dir), files)
    return {kind: Path(out_dir) / FILES[kind] for kind in dict.fromkeys(formats)}


def all_images(content: Content) -> list[Image]:
    """Every figure of the report, in page order."""
    prior = content.prior_predictive.section if content.prior_predictive is not None else None
    sections = [content.groups, content.effects, prior, content.ppc, content.priors]
    return [image for section in sections if section is not None for image in section.images]


@functools.lru_cache(maxsize=2)
def _environment(markdown: bool = False) -> jinja2.Environment:
    # one per process: its templates are compiled once (0.5 s) and reloaded when edited
    # Markdown gets its own escaping: every value not made Markdown by a filter on purpose is
    # escaped by ``markdown_text`` (``finalize``); autoescape keeps macro output as written
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True if markdown else jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        finalize=markdown_text if markdown else None,
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
        group_sizes=fmt_group_sizes,
        fixed=fmt_fixed,
        md=markdown_cell,
        counted=counted,
        code=markdown_code,
        block=markdown_block,
        url=markdown_url,
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
    return (
        _environment(markdown=True).get_template("report.md.j2").render(c=content, figures=FIGURES)
    )


def data_uri(image: Image) -> str:
    """The PNG as a ``data:`` URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(image.png).decode("ascii")


#: Characters that make Markdown out of text: HTML (<, >, &), links and images ([, ]),
#: code spans, table cells, and the backslash that would undo an escape.
_MARKDOWN_SPECIAL = re.compile(r"([\\`\[\]|])")


def markdown_text(value: Any) -> Markup:
    """``value`` as Markdown that renders as exactly that text: no HTML, link or image.

    ``<``, ``>`` and ``&`` become entities; backslash, backquote, brackets and ``|`` are
    backslash-escaped (CommonMark renders an escaped punctuation character as itself).
    Line breaks are kept. ``Markup`` (what a filter made Markdown on purpose) is kept.
    """
    if isinstance(value, Markup):
        return value
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Markup(_MARKDOWN_SPECIAL.sub(r"\\\1", text))


def markdown_cell(value: Any) -> Markup:
    """Text safe inside a Markdown table cell: one line, escaped as ``markdown_text``."""
    text = value.unescape() if isinstance(value, Markup) else str(value)
    return markdown_text(" ".join(text.split()))


def markdown_code(value: Any, cell: bool = True) -> Markup:
    """``value`` as an inline code span, whatever backquotes it holds; one line.

    Inside a table cell (``cell``) a ``|`` is escaped, as GFM tables need even in code.
    """
    text = " ".join(str(value).split())
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    if cell:
        text = text.replace("|", "\\|")
    return Markup(f"{ticks}{text}{ticks}")


def markdown_block(value: Any, language: str = "") -> Markup:
    """``value`` as a fenced code block whose fence no line of it can close."""
    text = str(value)
    longest = max(
        (len(run) for run in re.findall(r"^\s*(`+)", text, flags=re.MULTILINE)), default=0
    )
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{language}\n{text}\n{fence}")


def markdown_url(value: Any) -> Markup:
    """A relative link target: every character outside [A-Za-z0-9_.~/-] percent-encoded."""
    return Markup(urllib.parse.quote(str(value), safe="/"))


def anchor(name: str) -> str:
    """An id for a model's heading (model names are already [A-Za-z0-9_.-])."""
    return "model-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
