"""The seed's four steps clicked through the console exactly as written, then real media through the URLs
the page shows, over RTMP (as the seed) and over SRT (its protocol table's SRT row).

Step 1: Flow A in Singapore, "Add Source Stream" (FlowAInput, RTMP-PUSH, Max Bitrate 1000000), the
Outputs tab, "Add Output" (FlowAOutput, RTMP-PULL). Step 2: Flow B in Germany (Frankfurt), source
protocol Flow naming Flow A's Flow ID (read off Flow A's page) and FlowAOutput, output FlowBOutput
RTMP-PULL. Step 3: Start on the Status panel of each. Step 4: a real ffmpeg pushes to the Source URL
read off Flow A's page; a real ffmpeg plays the output URL read off Flow B's page and decodes frames.
Then Flow B's page shows it live: the input's bitrate (and over SRT the backbone connection's RTT, loss
and retransmissions), the preview video plays (its currentTime grows and it has a picture size), and the
output's thumbnail is a decoded picture. No console error on the way; a screenshot of every page.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.testing import EmulatorThread
from tests.browser.console_steps import (
    add_output,
    add_source,
    create_flow,
    decoded_frames,
    exact,
    go_to_flows,
    open_flow,
    output_url,
    publisher,
    source_url,
    start,
    stop,
    wait_js,
)

pytestmark = pytest.mark.ffmpeg

PUSH_S = 90
"""How long ffmpeg may publish: far longer than the test needs; it is stopped at the end."""
PLAY_FRAMES = 50
"""Video frames the player at Flow B must decode (two seconds of the signal)."""

SEED = {
    "RTMP": {
        "a_in": "RTMP-PUSH",
        "a_out": "RTMP-PULL",
        "b_out": "RTMP-PULL",
        "extra": {"Max Bitrate": "1000000"},
    },
    "SRT": {"a_in": "SRT-Listener", "a_out": "SRT-Listener", "b_out": "SRT-Listener", "extra": {}},
}


def walkthrough(con: Any, ffmpeg: str, family: str) -> None:
    page = con.page
    seed = SEED[family]
    con.open("#/flows")
    # Step 1: Create Flow A (source region).
    go_to_flows(page)
    a_id = create_flow(page, "FlowA", "Singapore")
    add_source(page, {"Source Name": "FlowAInput", "Protocol": seed["a_in"], **seed["extra"]})
    add_output(page, {"Output Name": "FlowAOutput", "Protocol": seed["a_out"]})
    con.shot(f"{family}-flow-a")
    # Step 2: Create Flow B (destination region) and link it to Flow A.
    go_to_flows(page)
    create_flow(page, "FlowB", "Germany (Frankfurt)")
    b_source = {
        "Source Name": "FlowBInput",
        "Protocol": "Flow",
        "Flow ID": a_id,
        "Output Name": "FlowAOutput",
    }
    add_source(page, b_source)
    add_output(page, {"Output Name": "FlowBOutput", "Protocol": seed["b_out"]})
    # Step 3: Start both flows.
    open_flow(page, "FlowA")
    start(page)
    push_url = source_url(page, "FlowAInput")
    open_flow(page, "FlowB")
    start(page)
    play_url = output_url(page, "FlowBOutput")
    assert push_url.startswith(family.lower() + "://") and play_url.startswith(family.lower() + "://")
    go_to_flows(page)
    rows = page.get_by_role("table", name="Flows").locator("tbody tr")
    assert rows.count() == 2
    for name, region in (("FlowA", "Singapore"), ("FlowB", "Germany (Frankfurt)")):
        row = rows.filter(has=exact(page, "link", name))
        assert region in row.inner_text() and "online" in row.inner_text()
    con.shot(f"{family}-flows")

    # Step 4: push to Flow A's Source URL, pull from Flow B's output URL.
    pub = publisher(ffmpeg, push_url, PUSH_S)
    try:
        frames, err = decoded_frames(ffmpeg, play_url, PLAY_FRAMES)
        assert pub.poll() is None, f"the publisher ended early: {pub.communicate()[1][-400:]!r}"
        assert frames >= PLAY_FRAMES, f"the player at Flow B decoded {frames} frames: {err[-400:]}"

        # Live on Flow B's page: the input's bitrate, and the preview plays.
        open_flow(page, "FlowB")
        live = 'document.querySelector(\'[data-input="FlowBInput"] [data-live="bitrate"]\')'
        wait_js(
            page,
            f"{live} !== null && /[1-9][0-9.]* (kbps|Mbps)/.test({live}.textContent)",
            "Flow B's input bitrate",
            f"{live}?.textContent + ' | ' + document.getElementById('conn').textContent",
        )
        assert page.locator('[data-input="FlowBInput"] [data-live="media"]').inner_text() == "receiving"
        if family == "SRT":  # Flow B's input is an SRT connection across the backbone: its RTT and counters
            srt = 'document.querySelector(\'[data-input="FlowBInput"] [data-live="srt"]\')'
            wait_js(
                page,
                f"/RTT [0-9.]+ ms, loss [0-9]+, retransmitted [0-9]+/.test({srt}?.textContent)",
                "Flow B's SRT connection figures",
                f"{srt}?.textContent",
            )
        con.shot(f"{family}-flow-b-source")
        exact(page, "tab", "Outputs").click()
        con.shot(f"{family}-flow-b-outputs")
        exact(page, "tab", "Preview").click()
        card = page.locator('[data-preview="input/FlowBInput"]')
        exact(card, "button", "Play input FlowBInput").click()
        video = "document.querySelector('[data-preview=\"input/FlowBInput\"] video')"
        status = "document.querySelector('[data-preview=\"input/FlowBInput\"] .status').textContent"
        wait_js(page, f"{video}.videoWidth > 0 && {video}.currentTime > 0", "the preview to play", status)
        t0 = page.evaluate(f"() => {video}.currentTime")
        wait_js(page, f"{video}.currentTime > {t0} + 1.0", f"the preview to advance past {t0} + 1 s", status)
        assert page.evaluate(f"() => {video}.videoWidth") == 320
        thumb = "document.querySelector('[data-preview=\"output/FlowBOutput\"] img')"
        wait_js(page, f"{thumb}.naturalWidth > 0", "the output's thumbnail", f"{thumb}.alt")
        assert page.evaluate(f"() => {thumb}.naturalWidth") == 320
        con.shot(f"{family}-flow-b-preview")
    finally:
        stop(pub)
    exact(page, "button", "Play input FlowBInput").click()  # stop the preview
    assert con.errors() == [], con.errors()
    assert con.failed_requests == [], con.failed_requests


@pytest.mark.parametrize("family", ["RTMP", "SRT"])
def test_seed_walkthrough_in_the_console(console_factory: Any, ffmpeg_exe: str, family: str) -> None:
    with EmulatorThread() as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        walkthrough(con, ffmpeg_exe, family)
