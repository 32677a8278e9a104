"""Handshake floods at a passphrase listener never starve a live stream on the same listener (issue 8).

A real ffmpeg caller publishes an encrypted stream; meanwhile another process (srt_flood.py) floods
the same UDP port with forged conclusions (a valid SYN cookie and parseable key material under a
wrong passphrase: each one used to cost a 1.8 ms PBKDF2) or with inductions. The listener must keep
receiving the real stream as it arrives, answer the flood only up to its HandshakeLimits, and keep
its INFO log short. Without the limits the conclusion flood leaves a third of the stream queued.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import sys

import pytest
from srt_media import collect_hub, decoded_frames, ffmpeg_srt_publish

from mediaplane.relay.routing import OpenRouter, StreamPath
from mediaplane.srt import HandshakeLimits, SrtConfig, SrtListener

pytestmark = pytest.mark.ffmpeg

PASSPHRASE = "the flood test passphrase"
FLOOD_RATES = {"conclusions": 1000, "inductions": 15_000}
"""Datagrams per second: the issue's ~930 forged conclusions/s and 15,000 inductions/s."""
FLOODER = pathlib.Path(__file__).with_name("srt_flood.py")
FRAMES = 75  # the 3-second 25 fps clip


@pytest.mark.parametrize("kind", ["conclusions", "inductions"])
async def test_handshake_flood_does_not_starve_a_live_encrypted_stream(
    kind: str,
    ffmpeg_exe: str,
    srt_clip_2mbps: tuple[pathlib.Path, bytes],
    tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clip, _ = srt_clip_2mbps
    caplog.set_level(logging.INFO, logger="mediaplane")
    router = OpenRouter(cache_gop=False)
    limits = HandshakeLimits()
    config = SrtConfig(passphrase=PASSPHRASE, latency_ms=200)
    async with SrtListener(router, port=0, config=config, limits=limits, name="flooded") as listener:
        hub = router.hub(StreamPath(app="", key="good"))
        received = bytearray()
        collector = collect_hub(hub, received)
        proc = await ffmpeg_srt_publish(
            ffmpeg_exe,
            clip,
            f"srt://127.0.0.1:{listener.port}?mode=caller&latency=200000"
            f"&passphrase={PASSPHRASE.replace(' ', '%20')}&streamid=%23!::r=good,m=publish",
        )
        for _ in range(250):
            if listener.connections and listener.connections[0].stats.pkt_recv_unique_total:
                break
            await asyncio.sleep(0.02)
        assert listener.connections, "ffmpeg never connected"
        good = listener.connections[0]
        loop = asyncio.get_running_loop()
        flood_start = loop.time()
        flood = await asyncio.create_subprocess_exec(
            sys.executable,
            str(FLOODER),
            str(listener.port),
            kind,
            str(FLOOD_RATES[kind]),
            "60",
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.wait_for(proc.wait(), 60)
            # What the listener took in while the flood ran, measured the moment ffmpeg is done.
            during = good.stats.pkt_recv_unique_total
            flood_running = flood.returncode is None
        finally:
            if flood.returncode is None:
                flood.terminate()
            await flood.wait()
        flood_s = loop.time() - flood_start
        assert flood_running
        assert proc.returncode == 0
        # Let anything still queued arrive, then compare.
        for _ in range(100):
            if good.closed:
                break
            await asyncio.sleep(0.05)
        final = good.stats.pkt_recv_unique_total
        collector.cancel()
        stats = listener.acceptor_stats
    received_handshakes = stats.conclusions if kind == "conclusions" else stats.inductions
    assert received_handshakes >= FLOOD_RATES[kind] * flood_s * 0.3  # the flood really ran
    # The stream kept flowing while flooded: almost nothing was left waiting in the socket buffer.
    assert final > 0 and during >= 0.9 * final
    assert good.stats.pkt_rcv_drop_total <= 0.02 * final
    if kind == "conclusions":
        assert stats.conclusions_limited > 0
        # PBKDF2 (and the BADSECRET rejection) only within the limit.
        budget = limits.conclusion_burst_per_addr + limits.conclusion_per_addr_per_s * (flood_s + 1)
        assert 0 < stats.rejected <= budget
    else:
        assert stats.inductions_limited > 0
        assert stats.inductions - stats.inductions_limited <= (
            limits.induction_burst_per_addr + limits.induction_per_addr_per_s * (flood_s + 1)
        )
    info = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("mediaplane")]
    assert len(info) <= 25, [r.getMessage() for r in info[:30]]
    path = tmp_path / "good.ts"
    path.write_bytes(bytes(received))
    assert decoded_frames(path) >= 0.9 * FRAMES
