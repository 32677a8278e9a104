"""The test signal and the probe through real endpoints: our RTMP server and SRT listener, a delayed
TcpLink, and the real ffmpeg as publisher and as player."""

from __future__ import annotations

import asyncio
import pathlib

import av
import pytest

from mediaplane.media import SignalConfig, generate, probe, publish, read_luma
from mediaplane.netem import Impairment
from mediaplane.netem.link import TcpLink
from mediaplane.relay import OpenRouter
from mediaplane.rtmp import RtmpServer
from mediaplane.srt import SrtListener

FPS = 25
SANE_DELAY_MS = 5000
"""Above this a delay figure is wrong (a unit or clock mix-up), not slow: the probe's sanity bound."""


def assert_clean(result_frames: list[int]) -> None:
    assert result_frames == list(range(result_frames[0], result_frames[0] + len(result_frames)))


async def test_rtmp_signal_to_probe() -> None:
    async with RtmpServer(OpenRouter(), port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/signal"
        sender = asyncio.create_task(publish(url, SignalConfig(fps=FPS), duration_s=4.5))
        await asyncio.sleep(1.0)
        result = await probe(url, 2.5)
        report = await sender
    print(result.format())
    assert report.error is None and report.frames_sent == int(4.5 * FPS)
    assert result.error is None
    assert result.video_codec == "h264" and result.audio_codec == "aac"
    assert result.frames_numbered >= 2 * FPS
    assert (result.lost, result.duplicated, result.out_of_order, result.pts_offset_changes) == (0, 0, 0, 0)
    assert_clean(result.frame_numbers)
    assert result.audio_frames > 0
    assert result.bitrate_kbps > 50
    p50 = result.delay_percentile(50)
    # The probe's figure, not the machine's speed: at least what the path holds back, and in ms (a
    # figure in seconds or µs would be far off). No upper fidelity bound: a loaded machine adds delay.
    assert p50 is not None and 0 <= p50 < SANE_DELAY_MS


async def test_probe_sees_the_delay_of_a_link() -> None:
    async with RtmpServer(OpenRouter(), port=0) as server:
        link = TcpLink(target=("127.0.0.1", server.port), impairment=Impairment(delay_ms=80.0))
        async with link:
            publish_url = f"rtmp://127.0.0.1:{link.port}/live/far"
            sender = asyncio.create_task(publish(publish_url, SignalConfig(fps=FPS), duration_s=4.0))
            await asyncio.sleep(1.2)
            result = await probe(f"rtmp://127.0.0.1:{server.port}/live/far", 2.0)
            await sender
    print(result.format())
    assert result.frames_numbered >= FPS and result.lost == 0
    p50 = result.delay_percentile(50)
    assert p50 is not None and 78 <= p50 < SANE_DELAY_MS


async def test_srt_signal_to_probe_hevc() -> None:
    async with SrtListener(OpenRouter(cache_gop=False), port=0) as listener:
        base = f"srt://127.0.0.1:{listener.port}?streamid=#!::r=signal,m="
        sender = asyncio.create_task(
            publish(base + "publish", SignalConfig(fps=FPS, video_codec="hevc"), duration_s=6.5)
        )
        await asyncio.sleep(1.0)
        # No GOP cache on SRT: the probe decodes from the next keyframe (the signal has one every 2 s, so
        # up to 2 s after joining) to the window's end less the path's delay, which a loaded machine's
        # HEVC encoding stretches to 0.8 s and more. A 4 s window leaves over a second of frames.
        result = await probe(base + "request", 4.0)
        report = await sender
    print(result.format())
    assert report.error is None and report.bytes_sent > 0
    assert result.video_codec == "hevc" and result.audio_codec == "aac"
    assert result.ts_packets is not None and result.ts_packets > 100
    assert result.ts_continuity_errors == 0
    assert result.frames_numbered >= FPS
    assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0)
    p50 = result.delay_percentile(50)
    # two SRT legs of 120 ms latency each, plus two frames held by the MPEG-TS demuxer
    assert p50 is not None and 200 <= p50 < SANE_DELAY_MS


async def test_probe_reports_a_refused_url() -> None:
    result = await probe("rtmp://127.0.0.1:9/live/none", 1.0, timeout_s=2.0)
    assert result.error is not None and result.frames_received == 0


@pytest.mark.ffmpeg
async def test_ffmpeg_plays_the_signal(ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "played.ts"
    async with RtmpServer(OpenRouter(), port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/ff"
        sender = asyncio.create_task(publish(url, SignalConfig(fps=FPS), duration_s=4.0))
        await asyncio.sleep(0.5)
        player = await asyncio.create_subprocess_exec(
            ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-i", url, "-t", "2", "-c", "copy", str(out),
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert await asyncio.wait_for(player.wait(), 20) == 0
        await sender
    numbers = []
    with av.open(str(out)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            code = read_luma(memoryview(plane), frame.width, frame.height, plane.line_size)
            assert code is not None
            numbers.append(code[0])
    assert len(numbers) >= FPS
    assert_clean(numbers)


@pytest.mark.ffmpeg
async def test_probe_reads_what_ffmpeg_publishes(ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    clip = tmp_path / "clip.flv"
    report = await asyncio.to_thread(
        generate, str(clip), SignalConfig(fps=FPS), duration_s=4.0, realtime=False
    )
    assert report.error is None and report.frames_sent == 4 * FPS
    async with RtmpServer(OpenRouter(), port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/clip"
        pusher = await asyncio.create_subprocess_exec(
            ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip),
            "-c", "copy", "-f", "flv", url,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(0.8)
        result = await probe(url, 2.0)
        await asyncio.wait_for(pusher.wait(), 20)
    print(result.format())
    assert result.video_codec == "h264" and result.frames_numbered >= FPS
    assert (result.lost, result.duplicated, result.out_of_order, result.pts_offset_changes) == (0, 0, 0, 0)


@pytest.mark.ffmpeg
async def test_srt_listener_mode_signal_to_ffmpeg_caller(ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "from_listener.ts"
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sender = asyncio.create_task(
        publish(
            "srt://127.0.0.1:0?mode=listener",
            SignalConfig(fps=FPS),
            duration_s=6.0,
            on_listen=bound.set_result,
        )
    )
    port = await asyncio.wait_for(bound, 10)
    # The signal starts when the listener does, not when ffmpeg connects: a caller that joins after the
    # first keyframe decodes from the next one, 2 s on. Recording 4 s leaves it 2 s of frames (it once
    # joined late and recorded 2 s: one decodable frame).
    player = await asyncio.create_subprocess_exec(
        ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-i", f"srt://127.0.0.1:{port}?mode=caller",
        "-t", "4", "-c", "copy", str(out), stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await asyncio.wait_for(player.wait(), 20) == 0
    report = await sender
    assert report.error is None
    numbers = []
    with av.open(str(out)) as container:
        for packet in container.demux(video=0):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # joined before a keyframe
            for frame in frames:
                plane = frame.planes[0]
                code = read_luma(memoryview(plane), frame.width, frame.height, plane.line_size)
                if code is not None:
                    numbers.append(code[0])
    assert len(numbers) >= FPS
    assert_clean(numbers)


@pytest.mark.ffmpeg
async def test_srt_listener_mode_probe_from_ffmpeg_caller(ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    clip = tmp_path / "clip.ts"
    report = await asyncio.to_thread(
        generate, str(clip), SignalConfig(fps=FPS), duration_s=4.0, realtime=False
    )
    assert report.error is None
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    prober = asyncio.create_task(probe("srt://127.0.0.1:0?mode=listener", 2.5, on_listen=bound.set_result))
    port = await asyncio.wait_for(bound, 10)
    pusher = await asyncio.create_subprocess_exec(
        ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy",
        "-f", "mpegts", f"srt://127.0.0.1:{port}?mode=caller&pkt_size=1316", stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    result = await prober
    await asyncio.wait_for(pusher.wait(), 20)
    print(result.format())
    assert result.frames_numbered >= FPS
    assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0)
    assert result.ts_continuity_errors == 0 and result.ts_packets is not None and result.ts_packets > 100
