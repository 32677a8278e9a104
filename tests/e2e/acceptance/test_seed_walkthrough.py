"""The seed's walkthrough, end to end, as the README tells it.

The four steps through the official SDK: Flow A in Singapore (``ap-southeast-1``) with an RTMP-PUSH input
and the RTMP-PULL output ``FlowAOutput``; Flow B in Frankfurt (``eu-central-1``) whose input is protocol
``Flow`` paired with Flow A's ``FlowAOutput``, and an RTMP-PULL output; both flows started. A real ffmpeg
then publishes into Flow A; once Flow B carries media, two real ffmpeg players join late, one on Flow A's
output and one on Flow B's (which records what it got).

What must hold: the recording at Flow B decodes, frame for frame, and starts on a keyframe (the late
joiner got the cached GOP); both players saw the same video packets; and Flow B's player lags Flow A's by
at least the backbone link's configured one-way delay, since every byte Flow B plays crossed that link.
There is no upper bound: how late a loaded machine delivers says nothing about the emulator.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.testing import EmulatorThread
from mediaplane.netem.link import TcpLink
from tests.e2e.flows.e2e_peers import FPS, Receiver, decode, median_lag_ms, publisher
from tests.e2e.flows.e2e_runtime_kit import Sdk, live, stop_all, wait_until

pytestmark = pytest.mark.ffmpeg

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"
PUSH_S = 14
"""How long ffmpeg publishes (real time)."""
MIN_FRAMES = 6 * FPS
"""Frames the late player at Flow B must decode: six seconds of the push, whenever it joined."""
WAIT_S = 30.0
"""Generous bound on every wait for a condition."""


def flow_status(api: Sdk, flow: str) -> str:
    req = api.m.GetMediaConnectFlowRequest(flow_id=flow)
    return str(api.c.get_media_connect_flow(req).body.content.flow_status)


def media_delay_ms(emu: EmulatorThread) -> float:
    """The one-way delay the live backbone link applies from Singapore to Frankfurt (the direction the
    media travels), as configured."""

    def read() -> list[tuple[str, str, Any]]:
        return list(emu.em.backbone.links())

    links = emu.run(read)
    assert len(links) == 1, links
    src, dst, link = links[0]
    assert isinstance(link, TcpLink), link
    assert {src, dst} == {A_REGION, B_REGION}, (src, dst)
    # Flow B's input pulls from Flow A: if Frankfurt is the link's client side, media runs in reverse.
    direction = "reverse" if src == B_REGION else "forward"
    delay_ms = float(link.impairment(direction).delay_ms)
    configured = emu.run(lambda: emu.em.backbone.impairment(A_REGION, B_REGION).delay_ms)
    assert delay_ms == configured, (delay_ms, configured)
    return delay_ms


def test_seed_walkthrough(ffmpeg_exe: str, tmp_path: Any) -> None:
    with EmulatorThread() as emu:
        api = Sdk(emu)
        # Step 1: Flow A in Singapore, pushed over RTMP, played by Flow B through FlowAOutput.
        a = api.flow("FlowA", A_REGION)
        push_url = api.input(a, "FlowAInput", "RTMP-PUSH", max_bitrate=1_000_000)
        a_url = api.output(a, "FlowAOutput", "RTMP-PULL")
        # Step 2: Flow B in Frankfurt, fed by Flow A's FlowAOutput across the backbone.
        b = api.flow("FlowB", B_REGION)
        api.input(b, "FlowBInput", "Flow", pair_flow_id=a, pair_output_name="FlowAOutput")
        b_url = api.output(b, "FlowBOutput", "RTMP-PULL")
        # Steps 3 and 4: both online.
        api.status(a, "online")
        api.status(b, "online")
        assert (flow_status(api, a), flow_status(api, b)) == ("online", "online")
        assert push_url.startswith("rtmp://") and a_url.startswith("rtmp://") and b_url.startswith("rtmp://")
        delay_ms = media_delay_ms(emu)
        assert delay_ms > 0, "Singapore - Frankfurt should have a backbone delay"

        pub = publisher(ffmpeg_exe, push_url, PUSH_S)
        receivers: dict[str, Receiver] = {}
        try:
            wait_until(api.input_status_is(a, "connected"), WAIT_S, "Flow A's input connected")
            wait_until(
                lambda: live(emu)["live_flows"][b]["units_in"] > 0 or pub.poll() is not None,
                WAIT_S,
                "media at Flow B",
            )
            assert pub.poll() is None, f"the publisher ended early: {pub.communicate()[1][-400:]!r}"
            receivers = {"A": Receiver(ffmpeg_exe, a_url), "B": Receiver(ffmpeg_exe, b_url)}
            wait_until(
                lambda: all(rx.arrivals or rx.proc.poll() is not None for rx in receivers.values()),
                WAIT_S,
                "media at both players",
            )
            for name, rx in receivers.items():
                assert rx.proc.poll() is None, f"the player at {name} stopped: {rx.stop().stderr[-400:]}"
            _, err = pub.communicate(timeout=PUSH_S + WAIT_S)
            assert pub.returncode == 0, err.decode(errors="replace")
            got = {name: rx.stop(settle_s=1.0 + delay_ms / 1000) for name, rx in receivers.items()}
        finally:
            stop_all(pub, *(rx.proc for rx in receivers.values()))
        api.status(b, "offline")
        api.status(a, "offline")

    at_b = decode(got["B"].data, str(tmp_path), "flow-b")
    where = f"Flow B's player ({got['B'].stderr.strip()[-300:]})"
    lag_ms, common = median_lag_ms(got["A"].arrivals, got["B"].arrivals)
    print(
        f"\nseed walkthrough: Flow B recorded {at_b.frames} frames, {at_b.errors} decode errors,"
        f" keyframe first {at_b.keyframe_first}; packets seen at both A and B {common};"
        f" B lags A by median {lag_ms:.1f} ms (link delay {delay_ms:.0f} ms)"
    )
    assert at_b.error == "", f"{where}: {at_b.error}"
    assert at_b.errors == 0, f"{where}: {at_b.errors} packets failed to decode"
    assert at_b.keyframe_first, f"{where}: the recording does not start on a keyframe"
    assert at_b.duplicate_pts == 0, f"{where}: {at_b.duplicate_pts} duplicated frames"
    assert at_b.frames >= MIN_FRAMES, f"{where}: {at_b.frames} frames decoded, wanted {MIN_FRAMES}"
    assert at_b.frames >= len(got["B"].arrivals), f"{where}: fewer frames decoded than packets seen"
    assert common >= MIN_FRAMES, f"only {common} video packets seen at both A and B"
    # Every byte crossed the link: a lower bound less the two players' noise (as the other lag checks
    # allow), never an upper one.
    assert lag_ms >= delay_ms - 5, f"B lags A by {lag_ms:.1f} ms, less than the link's {delay_ms:.0f} ms"
