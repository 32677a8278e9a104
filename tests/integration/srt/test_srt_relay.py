"""The long one: ffmpeg -> our listener -> hub -> our caller -> ffmpeg listener, 8 Mbit/s for 30 s."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib

import pytest
from srt_media import continuity_errors, decoded_frames, make_clip, raw_sink_args

from mediaplane.relay.routing import OpenRouter, StreamPath
from mediaplane.srt import SrtCaller, SrtConfig, SrtDirection, SrtListener

pytestmark = pytest.mark.ffmpeg

SECONDS = 30
LOOPS = 6  # a 5-second clip played 6 times


async def test_relay_8mbps_30s_loses_nothing(
    ffmpeg_exe: str, tmp_path: pathlib.Path, unused_udp_port: int
) -> None:
    clip = tmp_path / "clip8m.ts"
    make_clip(ffmpeg_exe, clip, seconds=SECONDS / LOOPS, bitrate="8M", size="640x360")
    out = tmp_path / "relayed.ts"
    sink = await asyncio.create_subprocess_exec(
        ffmpeg_exe,
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        *raw_sink_args(f"srt://127.0.0.1:{unused_udp_port}?mode=listener&latency=200000", out),
    )
    router = OpenRouter(cache_gop=False)
    path = StreamPath(app="", key="relay")
    hub = router.hub(path)
    config = SrtConfig(latency_ms=200)
    async with SrtListener(router, port=0, config=config, direction=SrtDirection.PUBLISH) as listener:
        caller = SrtCaller(
            "127.0.0.1",
            unused_udp_port,
            config=config,
            hub=hub,
            direction=SrtDirection.PUBLISH,
            reconnect=True,
        )
        async with caller:
            await caller.wait_connected(10)
            source = await asyncio.create_subprocess_exec(
                ffmpeg_exe,
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-re",
                "-stream_loop",
                str(LOOPS - 1),
                "-i",
                str(clip),
                "-c",
                "copy",
                "-f",
                "mpegts",
                f"srt://127.0.0.1:{listener.port}?mode=caller&latency=200000&streamid=relay",
            )
            session_stats = None
            while source.returncode is None:
                if listener.connections:
                    session_stats = listener.connections[0].stats
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(source.wait(), 1.0)
            assert source.returncode == 0
            await asyncio.sleep(0.8)
            assert session_stats is not None
            sent = caller.stats
            # Nothing lost on the way in, and every unit the hub got went out.
            assert session_stats.pkt_rcv_drop_total == 0
            assert session_stats.pkt_recv_unique_total > SECONDS * 8e6 / 8 / 1316 * 0.85
            assert sent.pkt_sent_unique_total == hub.counters.units_in
            assert sent.pkt_snd_drop_total == 0
    await asyncio.wait_for(sink.wait(), 20)
    data = out.read_bytes()
    assert continuity_errors(data) == 0
    assert decoded_frames(out) >= SECONDS * 25 - 5
