"""Real protocols over impaired links: SRT recovers a lossy UdpLink, RTMP survives a jittery TcpLink."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from mediaplane.media import SignalConfig, generate, probe, publish
from mediaplane.netem import Impairment, profile
from mediaplane.netem.link import FORWARD, REVERSE, TcpLink, UdpLink
from mediaplane.relay import OpenRouter
from mediaplane.rtmp import RtmpServer
from mediaplane.srt import SrtListener

FPS = 25
PROBE_S = 4.0
"""An SRT probe's window. SRT hubs keep no GOP cache, so a probe decodes from the next keyframe (the
signal has one every 2 s) to the window's end less the path's delay, which a loaded machine stretches
to 0.8 s and more: 4 s leaves over a second of frames for the assertions (2.5 s once left 18 of 25)."""


async def test_srt_recovers_two_percent_loss_on_a_udp_link() -> None:
    async with SrtListener(OpenRouter(cache_gop=False), port=0) as listener:
        lossy = Impairment(delay_ms=10.0, jitter_ms=2.0, loss_pct=2.0, seed=7)
        async with UdpLink(target=("127.0.0.1", listener.port), impairment=lossy) as link:
            publish_url = f"srt://127.0.0.1:{link.port}?streamid=#!::r=lossy,m=publish"
            sender = asyncio.create_task(publish(publish_url, SignalConfig(fps=FPS), duration_s=6.5))
            await asyncio.sleep(1.0)
            # No GOP cache on SRT: decoding starts at the next keyframe, up to 2 s in (PROBE_S).
            result = await probe(f"srt://127.0.0.1:{listener.port}?streamid=#!::r=lossy,m=request", PROBE_S)
            await sender
            dropped = link.stats()[FORWARD]["dropped"]
    print(result.format(), "\nlink dropped", dropped)
    assert dropped > 0  # the link really lost packets...
    assert result.ts_continuity_errors == 0  # ...and SRT retransmitted every one in time
    assert result.frames_numbered >= FPS
    assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0)


async def test_rtmp_over_a_4g_last_mile() -> None:
    async with RtmpServer(OpenRouter(), port=0) as server:
        uplink = TcpLink(target=("127.0.0.1", server.port), impairment=profile("lossy-4g"), seed=3)
        async with uplink:
            sender = asyncio.create_task(
                publish(f"rtmp://127.0.0.1:{uplink.port}/live/obs", SignalConfig(fps=FPS), duration_s=4.5)
            )
            await asyncio.sleep(1.2)
            result = await probe(f"rtmp://127.0.0.1:{server.port}/live/obs", 2.5)
            report = await sender
    print(result.format())
    assert report.error is None
    assert result.frames_numbered >= FPS
    # TCP never loses or reorders: the 4G loss shows as delay, not as missing frames
    assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0)
    p50 = result.delay_percentile(50)
    assert p50 is not None and p50 >= 30


@pytest.mark.ffmpeg
async def test_ffmpeg_libsrt_through_a_lossy_udp_link(ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    clip = tmp_path / "clip.ts"
    await asyncio.to_thread(generate, str(clip), SignalConfig(fps=FPS), duration_s=6.0, realtime=False)
    async with SrtListener(OpenRouter(cache_gop=False), port=0) as listener:
        lossy = Impairment(delay_ms=10.0, loss_pct=2.0, seed=1)
        async with UdpLink(target=("127.0.0.1", listener.port), impairment=lossy) as link:
            pusher = await asyncio.create_subprocess_exec(
                ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy",
                "-f", "mpegts", f"srt://127.0.0.1:{link.port}?streamid=#!::r=ff,m=publish&pkt_size=1316",
                stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(0.8)
            result = await probe(f"srt://127.0.0.1:{listener.port}?streamid=#!::r=ff,m=request", PROBE_S)
            await asyncio.wait_for(pusher.wait(), 20)
            stats = link.stats()
    print(result.format())
    assert stats[FORWARD]["dropped"] > 0 and stats[REVERSE]["packets_in"] > 0  # loss, and ACK/NAK back
    assert result.ts_continuity_errors == 0
    assert result.frames_numbered >= FPS
    assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0)
