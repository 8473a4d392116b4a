"""Text from specs, data and stored files reaches the terminal as text.

rich reads ``[...]`` as markup and terminals act on control characters: a spec, a data
file or a tampered ``meta.json`` must neither crash the printer, nor style, link or
hide anything, nor lose characters of a message.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from radonspec.cli import app as app_module
from radonspec.cli import console as console_module
from radonspec.cli.app import app
from radonspec.cli.console import plain
from radonspec.cli.progress import RunDisplay
from radonspec.fit.record import Fit
from radonspec.fit.store import Store

HOSTILE = "[/x] [link=https://evil.example]click[/link] [bold red]loud[/] \x1b]8;;https://e\x1b\\"


def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Make the CLI print to a colour terminal (as a user's is), recorded."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=200, highlight=False, emoji=False)
    for module in (app_module, console_module):
        monkeypatch.setattr(module, "out", console)
        monkeypatch.setattr(module, "err", console)
    return stream


def test_plain_prints_exactly_the_text() -> None:
    stream = io.StringIO()
    Console(file=stream, force_terminal=True, width=300, highlight=False).print(plain(HOSTILE))
    printed = stream.getvalue()
    assert "[/x] [link=https://evil.example]click[/link] [bold red]loud[/]" in printed
    assert "\\x1b]8;;https://e\\x1b\\" in printed  # shown, not sent to the terminal
    assert "\x1b]8;" not in printed  # no hyperlink escape sequence at all


def test_markup_in_a_spec_reaches_the_error_line_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = textwrap.dedent("""\
        spec_version: 1
        name: {name}
        data: {{dataset: radon}}
        models:
          m:
            formula: log_radon ~ floor
            priors:
              "[/x]": Normal(0, 1)
              "[link=https://evil.example]y[/link]": Normal(0, 1)
        """)
    (tmp_path / "a.yaml").write_text(spec.format(name="Not A Name"))
    (tmp_path / "b.yaml").write_text(spec.format(name="fine"))
    stream = terminal(monkeypatch)
    result = CliRunner().invoke(
        app, ["validate", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    )
    assert result.exit_code == 1, result.output
    printed = stream.getvalue()
    assert "Traceback" not in printed + result.output
    assert "should match pattern '^[a-z0-9][a-z0-9_-]*$'" in printed  # was '^*$'
    assert "prior '[/x]' names no term" in printed  # was a MarkupError traceback
    assert "prior '[link=https://evil.example]y[/link]' names no term" in printed
    assert "\x1b]8;" not in printed


def test_a_tampered_meta_json_is_listed_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "store")
    store.put(Fit("m", "ab" + "1" * 62, "failed", None, error="x"), {"study": "s"})
    meta_path = store.folder("ab" + "1" * 62) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(model=HOSTILE, study="[/study]", backend="[blink]nutpie[/blink]", status="[/]")
    meta_path.write_text(json.dumps(meta))
    store.rebuild_index()
    stream = terminal(monkeypatch)
    result = CliRunner().invoke(app, ["runs", "--store", str(store.root)])
    assert result.exit_code == 0, result.output
    printed = stream.getvalue()
    assert "[/study]" in printed and "[/]" in printed
    assert "[link=https://evil.example]click[/link]" in printed
    assert "\x1b]8;" not in printed and "\x1b[5m" not in printed  # no link, no blinking


def test_the_run_display_prints_names_and_errors_as_written() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=300)
    display = RunDisplay(console)
    with display:
        display("[/m]", "started", None)
        display("[/m]", "failed", Fit("[/m]", "k" * 64, "failed", None, error=HOSTILE))
    printed = stream.getvalue()
    assert "[/m]: sampling ..." in printed
    assert "[/m]: failed: [/x] [link=https://evil.example]click[/link]" in printed
