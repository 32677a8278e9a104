"""The seed's console steps as a user does them in the browser, found by the seed's own words, and the
real ffmpeg peers that push to and pull from the URLs read off the page."""

from __future__ import annotations

import re
import subprocess
from typing import Any

# The same test pattern and publisher as the flow e2e tests (re-exported for the console tests).
from tests.e2e.flows.e2e_peers import FPS as FPS
from tests.e2e.flows.e2e_peers import publisher as publisher

WAIT_MS = 30_000


def exact(page: Any, role: str, name: str) -> Any:
    return page.get_by_role(role, name=name, exact=True)


def wait_js(page: Any, predicate: str, what: str, explain: str = "''") -> None:
    """Wait (up to WAIT_MS) until the JavaScript ``predicate`` (an expression) is true on the page;
    on timeout fail saying ``what`` was awaited and what the page showed (``explain``, an expression)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => {predicate}", timeout=WAIT_MS)
    except PlaywrightTimeout:
        shown = page.evaluate(
            f"() => {{ try {{ return String({explain}); }} catch (e) {{ return String(e); }} }}"
        )
        raise AssertionError(f"timed out waiting for {what}; the page shows: {shown}") from None


def go_to_flows(page: Any) -> None:
    """ "In the left-side navigation pane, choose MediaConnect > Flows."""
    page.get_by_role("navigation").get_by_role("link", name="Flows", exact=True).click()
    exact(page, "heading", "Flows").wait_for()
    # The heading is drawn before the list arrives: the table's rows are there once the count is.
    page.get_by_text(re.compile(r"^[0-9]+ flow\(s\)$")).wait_for()


def create_flow(page: Any, name: str, region_label: str) -> str:
    """ "Click Create Flow" ... Flow Name, Region, "Click OK"; returns the Flow ID the details page shows."""
    exact(page, "button", "Create Flow").click()
    dialog = page.get_by_role("dialog", name="Create Flow")
    dialog.get_by_label("Flow Name").fill(name)
    dialog.get_by_label("Region").select_option(label=region_label)
    exact(dialog, "button", "OK").click()
    page.get_by_role("heading", level=1, name=name, exact=True).wait_for()
    flow_id = exact(page, "textbox", "Flow ID").input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", flow_id), flow_id
    return str(flow_id)


def open_flow(page: Any, name: str) -> None:
    go_to_flows(page)
    page.get_by_role("table", name="Flows").get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", level=1, name=name, exact=True).wait_for()


def fill(dialog: Any, values: dict[str, str]) -> None:
    for label, value in values.items():
        box = dialog.get_by_label(label, exact=True)
        if box.evaluate("el => el.tagName") == "SELECT":
            box.select_option(value)
        else:
            box.fill(value)


def add_source(page: Any, values: dict[str, str], *, expect_ok: bool = True) -> Any:
    """ "On the flow details page, click Add Source Stream", fill the Add Source panel, OK."""
    exact(page, "tab", "Source").click()
    exact(page, "button", "Add Source Stream").click()
    dialog = page.get_by_role("dialog", name="Add Source")
    # Protocol first: it decides which fields the panel shows.
    fill(dialog, {k: v for k, v in values.items() if k == "Protocol"})
    fill(dialog, {k: v for k, v in values.items() if k != "Protocol"})
    exact(dialog, "button", "OK").click()
    if expect_ok:
        dialog.wait_for(state="detached")
        page.locator(f'[data-input="{values["Source Name"]}"]').wait_for()
    return dialog


def add_output(page: Any, values: dict[str, str]) -> None:
    """ "Click the Outputs tab, then click Add Output", fill, OK."""
    exact(page, "tab", "Outputs").click()
    exact(page, "button", "Add Output").click()
    dialog = page.get_by_role("dialog", name="Add Output")
    fill(dialog, {k: v for k, v in values.items() if k == "Protocol"})
    fill(dialog, {k: v for k, v in values.items() if k != "Protocol"})
    exact(dialog, "button", "OK").click()
    dialog.wait_for(state="detached")
    page.locator(f'tr[data-output="{values["Output Name"]}"]').wait_for()


def start(page: Any) -> None:
    """ "Click Start on the Status panel", then wait until the panel says online."""
    status = page.locator('[data-panel="status"]')
    exact(status, "button", "Start").click()
    status.locator(".badge", has_text="online").wait_for()


def source_url(page: Any, name: str) -> str:
    exact(page, "tab", "Source").click()
    return str(exact(page.locator(f'[data-input="{name}"]'), "textbox", "Source URL").input_value())


def output_url(page: Any, name: str) -> str:
    exact(page, "tab", "Outputs").click()
    return str(exact(page.locator(f'tr[data-output="{name}"]'), "textbox", "Output URL").input_value())


def decoded_frames(ffmpeg: str, url: str, frames: int, timeout_s: float = 60.0) -> tuple[int, str]:
    """A real ffmpeg player reading ``url`` and decoding ``frames`` video frames (framemd5: one line per
    decoded frame). Returns (video frames decoded, ffmpeg's stderr)."""
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", url, "-map", "0:v:0", "-frames:v", str(frames),
           "-f", "framemd5", "-"]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        err = exc.stderr or b""
    else:
        out, err = done.stdout, done.stderr
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln and not ln.startswith("#")]
    return len(lines), err.decode(errors="replace")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)
