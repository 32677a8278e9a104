"""Access control on live listeners: Cidrs on an RTMP-PUSH input, an RTMP-PULL output, an SRT-Listener
input and output, and PlayerLimit on an RTMP-PULL output.

Flows are built through the official SDK. The same client code of ours (RtmpPusher / RtmpPuller /
SrtCaller) connects once bound to 127.0.0.2 (outside the allow-list ``127.0.0.1/32``: refused) and once
bound to 127.0.0.1 (accepted), so only the source address differs; real ffmpeg peers publish and play
from 127.0.0.1 and must get a decodable stream. With PlayerLimit 2, a third ffmpeg player is refused
while the first two keep playing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from e2e_peers import FPS, Receiver, decode, publisher
from e2e_runtime_kit import Sdk, SyntheticSource, live, players, poll, stop_all, wait_players, wait_until

from emulator.testing import EmulatorThread
from mediaplane.relay import Hub
from mediaplane.rtmp import RtmpClientConfig, RtmpPuller, RtmpPusher
from mediaplane.srt import ConnectionRejected, RejectReason, SrtCaller, SrtConfig, SrtDirection, parse_srt_url

SECONDS = 6
ALLOWED = "127.0.0.1/32"
INSIDE = ("127.0.0.1", 0)
OUTSIDE = ("127.0.0.2", 0)
QUICK = RtmpClientConfig(connect_timeout_s=3.0, backoff_initial_s=0.2, backoff_max_s=0.5)


async def rtmp_push_outcome(url: str, source: SyntheticSource, local: tuple[str, int]) -> tuple[int, str]:
    """(sessions started, last error) of our pusher bound to ``local`` after its first attempts."""
    pusher = RtmpPusher(url, source.hub, config=QUICK, local_addr=local)
    await pusher.start()
    try:
        await poll(lambda: pusher.sessions_started > 0 or pusher.attempts >= 2, 5.0)
        await asyncio.sleep(0.2)
        return pusher.sessions_started, pusher.last_error
    finally:
        await pusher.close()


async def rtmp_play_outcome(url: str, local: tuple[str, int]) -> tuple[int, int, str]:
    """(sessions started, media messages, last error) of our puller bound to ``local`` after ~1 s."""
    puller = RtmpPuller(url, Hub("probe"), config=QUICK, local_addr=local)
    await puller.start()
    try:
        await poll(lambda: puller.messages >= 25 or puller.attempts >= 2, 5.0)
        await asyncio.sleep(0.3)
        return puller.sessions_started, puller.messages, puller.last_error
    finally:
        await puller.close()


async def srt_outcome(url: str, local: tuple[str, int], direction: SrtDirection) -> tuple[str, int]:
    """("accepted", payloads or 1) or ("rejected", reject code) for our SRT caller bound to ``local``."""
    host, port, _, _ = parse_srt_url(url)
    hub = Hub("srt-probe", cache_gop=False) if direction is SrtDirection.PUBLISH else None
    caller = SrtCaller(
        host, port, config=SrtConfig(latency_ms=120), hub=hub, direction=direction, local_addr=local
    )
    try:
        await asyncio.wait_for(caller.start(), 5)
    except ConnectionRejected as exc:
        return "rejected", exc.reason
    try:
        if direction is SrtDirection.PUBLISH:
            await asyncio.sleep(0.2)
            return "accepted", int(caller.connected)
        got = 0
        async with asyncio.timeout(5):
            async for _payload in caller.payloads():
                got += 1
                if got >= 50:
                    break
        return "accepted", got
    finally:
        await caller.close()


def test_cidrs_and_player_limit(ffmpeg_exe: str, tmp_path: Any) -> None:
    with EmulatorThread() as emu:
        api = Sdk(emu)
        r = api.flow("Guarded", "ap-southeast-1")
        rtmp_in = api.input(r, "In", "RTMP-PUSH", cidrs=ALLOWED)
        rtmp_locked = api.output(r, "Locked", "RTMP-PULL", cidrs=ALLOWED)
        rtmp_limited = api.output(r, "Limited", "RTMP-PULL", player_limit=2)
        s = api.flow("GuardedSrt", "ap-southeast-1")
        srt_in = api.input(s, "In", "SRT-Listener", cidrs=ALLOWED)
        srt_locked = api.output(s, "Locked", "SRT-Listener", cidrs=ALLOWED)
        api.status(r, "online")
        api.status(s, "online")

        # Push inputs: refused from outside, accepted from inside (same client, only the bind differs).
        async def push_checks() -> dict[str, Any]:
            async with SyntheticSource() as source:
                return {
                    "rtmp out": await rtmp_push_outcome(rtmp_in, source, OUTSIDE),
                    "rtmp in": await rtmp_push_outcome(rtmp_in, source, INSIDE),
                    "srt out": await srt_outcome(srt_in, OUTSIDE, SrtDirection.PUBLISH),
                    "srt in": await srt_outcome(srt_in, INSIDE, SrtDirection.PUBLISH),
                }

        push = asyncio.run(push_checks())
        started, err = push["rtmp out"]
        assert started == 0 and "Cidrs" in err, f"RTMP publish from 127.0.0.2: {push['rtmp out']}"
        assert push["rtmp in"][0] == 1, f"RTMP publish from 127.0.0.1: {push['rtmp in']}"
        assert push["srt out"] == ("rejected", RejectReason.X_FORBIDDEN), push["srt out"]
        assert push["srt in"] == ("accepted", 1), push["srt in"]

        # Real publishers from 127.0.0.1 into both inputs.
        pubs = [publisher(ffmpeg_exe, rtmp_in, SECONDS), publisher(ffmpeg_exe, srt_in, SECONDS)]
        receivers: dict[str, Receiver] = {}
        try:
            wait_until(
                lambda: all(f["inputs"]["In"]["bytes_in"] > 0 for f in live(emu)["live_flows"].values()),
                10,
                "both publishers",
            )
            receivers["locked"] = Receiver(ffmpeg_exe, rtmp_locked)
            receivers["limited 1"] = Receiver(ffmpeg_exe, rtmp_limited)
            receivers["limited 2"] = Receiver(ffmpeg_exe, rtmp_limited)
            wait_players(emu, {(r, "Limited"): 2, (r, "Locked"): 1})

            async def play_checks() -> dict[str, Any]:
                return {
                    "rtmp out": await rtmp_play_outcome(rtmp_locked, OUTSIDE),
                    "rtmp in": await rtmp_play_outcome(rtmp_locked, INSIDE),
                    "srt out": await srt_outcome(srt_locked, OUTSIDE, SrtDirection.PLAY),
                    "srt in": await srt_outcome(srt_locked, INSIDE, SrtDirection.PLAY),
                }

            play = asyncio.run(play_checks())
            started, messages, err = play["rtmp out"]
            assert started == 0 and messages == 0 and "Cidrs" in err, f"RTMP play from 127.0.0.2: {play}"
            assert play["rtmp in"][0] == 1 and play["rtmp in"][1] >= 25, f"RTMP play from 127.0.0.1: {play}"
            assert play["srt out"] == ("rejected", RejectReason.X_FORBIDDEN), play["srt out"]
            assert play["srt in"] == ("accepted", 50), play["srt in"]

            # PlayerLimit 2: a third player is refused; the first two keep playing.
            third = Receiver(ffmpeg_exe, rtmp_limited)
            third_rc = third.proc.wait(10)
            third_got = third.stop()
            refused_at = {n: rx.bytes_received for n, rx in receivers.items()}
            time.sleep(1.0)
            assert players(emu, r, "Limited") == 2, "a player of the limited output was dropped"
            for name in ("limited 1", "limited 2"):
                assert receivers[name].proc.poll() is None, f"{name} stopped playing"
                assert receivers[name].bytes_received > refused_at[name], f"{name} got nothing new"
            for p in pubs:
                _, perr = p.communicate(timeout=SECONDS + 30)
                assert p.returncode == 0, perr.decode(errors="replace")
            got = {n: rx.stop(settle_s=1.0) for n, rx in receivers.items()}
        finally:
            stop_all(*pubs, *(rx.proc for rx in receivers.values()))
        api.status(r, "offline")
        api.status(s, "offline")

    assert third_rc != 0, "the third player of a PlayerLimit 2 output was not refused"
    assert len(third_got.data) == 0, f"the refused player received {len(third_got.data)} bytes"
    assert "PlayerLimit" in third_got.stderr, third_got.stderr
    for name, rx in got.items():
        d = decode(rx.data, str(tmp_path), name.replace(" ", "_"))
        where = f"{name} ({rx.stderr.strip()[-300:]})"
        assert d.error == "" and d.errors == 0, f"{where}: {d.error or d.errors}"
        assert d.keyframe_first, f"{where}: does not start on a keyframe"
        assert d.frames >= (SECONDS - 3) * FPS, f"{where}: only {d.frames} frames"


pytestmark = pytest.mark.ffmpeg
