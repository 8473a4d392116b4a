"""The HTML report in a real browser: headless Chromium, driven over the DevTools protocol.

Chromium is driven through ``--remote-debugging-pipe`` (commands on fd 3,
replies on fd 4, NUL-separated JSON), so the test needs no port, no network
and no package beyond the standard library.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT = 60.0
CHECK = """JSON.stringify({
  images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,
                                                  scheme: i.src.split(':')[0]})),
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent.trim()),
  scripts: document.scripts.length,
})"""


def chromium() -> Path:
    """Chromium's binary; missing it fails the test in CI and skips it elsewhere."""
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None and shutil.which("chromium"):
        found = Path(str(shutil.which("chromium")))
    if found is None:
        message = (
            "headless chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install it to check the HTML report")
        pytest.skip(f"{message}; CI installs it and runs this test")
    return found


class DevTools:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, binary: Path, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        # Chromium reads commands on fd 3 and writes replies on fd 4. A small Python
        # launcher puts the pipe ends there and execs it: no preexec_fn, so this process
        # never forks (JAX, imported by other tests, warns at every fork)
        high_in = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        high_out = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
        launcher = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4);"
            " os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                launcher,
                str(high_in),
                str(high_out),
                str(binary),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(high_in, high_out),
        )
        os.close(high_in)
        os.close(high_out)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._replies], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("chromium did not answer within the time limit")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


def _test_report_module() -> ModuleType:
    """tests/report/test_render.py, loaded by path: its example study and fits are reused here."""
    path = Path(__file__).with_name("test_render.py")
    spec = importlib.util.spec_from_file_location("_report_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium()  # fail or skip before sampling anything
    example = _test_report_module()
    data = example.simulated_data()
    fits, models = example.example_fits(data)
    out = tmp_path_factory.mktemp("browser-report")
    study = example.example_study(formats=["html"])
    return example.write_report(study, data, fits, out, models=models)["html"]


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    client = DevTools(chromium(), tmp_path / "profile")
    try:
        yield client
    finally:
        client.close()


def test_report_loads_offline_with_every_image_and_heading(
    report: Path, devtools: DevTools
) -> None:
    target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    devtools.send("Network.enable", session=session)
    devtools.send("Page.enable", session=session)
    devtools.send("Page.navigate", {"url": report.as_uri()}, session=session)
    devtools.wait_for("Page.loadEventFired")
    found = json.loads(
        devtools.send(
            "Runtime.evaluate", {"expression": CHECK, "returnByValue": True}, session=session
        )["result"]["value"]
    )

    requests = [
        e["params"]["request"]["url"]
        for e in devtools.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert report.as_uri() in requests
    leaving = [url for url in requests if urlparse(url).scheme not in ("file", "data")]
    assert leaving == [], f"the report made requests outside file:// : {leaving}"
    failed = [e["params"] for e in devtools.events if e.get("method") == "Network.loadingFailed"]
    assert failed == []

    assert found["scripts"] == 0
    assert len(found["images"]) == 8
    for image in found["images"]:
        assert image["scheme"] == "data"
        assert image["complete"] and image["width"] > 0, image
    assert found["headings"] == [
        "Contents",
        "Model comparison",
        "Sampling diagnostics",
        "Parameters",
        "Random effects",
        "Group-level views",
        "Posterior predictive checks",
        "Prior vs posterior",
        "Appendix: specs and priors",
    ]


def test_report_screenshot(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            str(chromium()),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,4000",
            report.as_uri(),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=True,
    )
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kB
    print(f"screenshot of the report: {shot}")
