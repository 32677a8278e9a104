"""The product's own path under uvloop (issue 9: every backbone connection failed there).

This module runs its emulator and clients on uvloop explicitly, whatever ``MCEMU_LOOP`` says, so CI
exercises uvloop without running every flow test twice: a real ffmpeg publishes into Flow A
(Singapore), Flow B (Frankfurt) pulls it across the backbone link and a real ffmpeg player reads Flow B,
once over RTMP (RTMP-PUSH -> RTMP-PULL -> Flow -> RTMP-PULL) and once over SRT (SRT-Listener ->
SRT-Listener -> Flow -> SRT-Listener). Each player must decode most of what was sent, starting on a
keyframe. ``emulator.loop`` picks the loop for ``mcemu up`` the same way.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Iterator

import pytest
from e2e_peers import FPS, Receiver, decode, publisher
from e2e_runtime_kit import Sdk, live, stop_all, wait_until

from emulator.loop import loop_factory, loop_name, loop_policy
from emulator.testing import EmulatorThread

SECONDS = 6


@pytest.fixture(scope="module", autouse=True)
def uvloop_policy() -> Iterator[None]:
    """Every ``asyncio.new_event_loop()`` of this module (the EmulatorThread's) makes a uvloop loop."""
    try:
        import uvloop  # noqa: F401
    except ImportError as exc:
        from tests.kit.peers import need_peer

        need_peer("uvloop (the test extra installs it)", exc)
    before = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(loop_policy("uvloop"))
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(before)


def test_loop_choice() -> None:
    assert loop_name("uvloop") == "uvloop"
    assert loop_factory("asyncio") is None
    assert loop_name("auto") == "uvloop"  # installed here, so the default picks it
    with pytest.raises(ValueError, match="MCEMU_LOOP"):
        loop_factory("trio")


def _leg_connected(emu: EmulatorThread, flow_id: str, name: str) -> bool:
    flows = live(emu)["live_flows"]
    return bool(flow_id in flows and flows[flow_id]["inputs"][name]["client_connected"])


@pytest.mark.parametrize("family", ["rtmp", "srt"])
def test_relay_across_the_backbone_under_uvloop(family: str, ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    pull = "RTMP-PULL" if family == "rtmp" else "SRT-Listener"
    push = "RTMP-PUSH" if family == "rtmp" else "SRT-Listener"
    with EmulatorThread() as emu:
        assert type(emu.loop).__module__.startswith("uvloop"), type(emu.loop)
        api = Sdk(emu)
        a = api.flow("UvA", "ap-southeast-1")
        b = api.flow("UvB", "eu-central-1")
        push_url = api.input(a, "In", push)
        api.output(a, "ToB", pull)
        api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB")
        play_url = api.output(b, "Out", pull)
        api.status(a, "online")
        api.status(b, "online")
        wait_until(lambda: _leg_connected(emu, b, "FromA"), 30, "the backbone leg A -> B")
        rx = Receiver(ffmpeg_exe, play_url)
        pub = None
        try:
            wait_until(
                lambda: live(emu)["live_flows"][b]["outputs"]["Out"]["players"] >= 1, 30, "the player at B"
            )
            pub = publisher(ffmpeg_exe, push_url, SECONDS)
            wait_until(lambda: rx.bytes_received > 0, 30, "media at the player of Flow B")
            assert pub.wait(SECONDS + 30) == 0, pub.stderr.read() if pub.stderr else ""
            got = rx.stop(settle_s=1.0)
        finally:
            stop_all(*(p for p in (pub, rx.proc) if p is not None))
    result = decode(got.data, os.fspath(tmp_path), f"uvloop-{family}")
    assert not result.error, (result.error, got.stderr)
    assert result.keyframe_first, "the player did not start on a keyframe"
    # A lower bound only: the first frames may go before the player's session is up on a loaded box.
    assert result.frames >= (SECONDS - 2) * FPS, (result, got.stderr)
