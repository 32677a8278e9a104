"""Browser tests of the console: real headless Chromium (Debian's ``chromium``, never a downloaded one)
driven by Playwright for Python, against a real in-process emulator on ephemeral ports.

One browser per module (``browser``); a fresh context and page per test (``console``), 1280x800, which
records every console message and page error (a test ends by asserting there were none) and saves
screenshots under the test's ``tmp_path/artifacts``. Without Chromium or Playwright the tests skip with
one line saying how to install them, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.kit.peers import need_peer

INSTALL_HINT = "apt-get install -y chromium (Debian/Ubuntu) and pip install -e '.[test]' (Playwright)"
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 30_000
"""Generous bound on every wait for a page condition (a loaded 2-core machine)."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        need_peer(f"chromium is not installed: {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_peer(f"playwright is not installed: {INSTALL_HINT}")
        raise
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """One page of the console and what the browser said while it ran."""

    page: Any
    base: str
    artifacts: pathlib.Path
    messages: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    shots: int = 0

    def open(self, hash_path: str = "#/flows") -> None:
        self.page.goto(self.base + hash_path)

    def shot(self, name: str) -> pathlib.Path:
        self.shots += 1
        path = self.artifacts / f"{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def errors(self, *, allow_refusals: bool = False) -> list[str]:
        """Console errors and page errors. ``allow_refusals``: leave out Chromium's own line for an
        HTTP 4xx answer (the API refusing on purpose, shown on the page, is what the test wanted)."""
        out = []
        for text in self.messages:
            if allow_refusals and "Failed to load resource: the server responded with a status of 4" in text:
                continue
            out.append(text)
        return out


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def console_factory(browser: Any, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    contexts: list[Any] = []
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()

    def make(base: str) -> Console:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        con = Console(page=page, base=base, artifacts=artifacts)

        def on_console(msg: Any) -> None:
            if msg.type in ("error", "warning"):
                con.messages.append(f"console.{msg.type}: {msg.text} ({msg.location.get('url', '')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: con.messages.append(f"page error: {exc}"))
        page.on(
            "response",
            lambda r: con.failed_requests.append(f"{r.status} {r.url}") if r.status >= 500 else None,
        )
        return con

    made: list[Console] = []

    def make_kept(base: str) -> Console:
        con = make(base)
        made.append(con)
        return con

    yield make_kept
    if request.node.stash.get(_FAILED, False):
        for con in made:  # what the page showed when the test failed
            with contextlib.suppress(Exception):
                con.shot("failed")
    for context in contexts:
        context.close()
    print(f"\nconsole screenshots: {artifacts}")
