"""Hostile and broken clients each lose only their own session while a real ffmpeg publish-play pair keeps
flowing on the same server."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest
from rtmp_peers import Peer, SessionClient, analyse_flv, decode_errors, play_args, publish_args, wait_until

from mediaplane.relay import OpenRouter
from mediaplane.rtmp import RtmpServer, RtmpServerConfig
from mediaplane.rtmp.handshake import ClientHandshake

pytestmark = pytest.mark.ffmpeg


async def _send(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def _until_closed(reader: asyncio.StreamReader, timeout_s: float) -> None:
    """Read (and drop) until the server closes the connection."""

    async def drain() -> None:
        while await reader.read(1 << 16):
            pass

    await asyncio.wait_for(drain(), timeout_s)


async def test_bad_clients_close_only_their_own_session(
    ffmpeg_exe: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    config = RtmpServerConfig(
        handshake_timeout_s=1.5, send_stall_timeout_s=2.0, write_buffer_high_bytes=64 * 1024
    )
    async with RtmpServer(OpenRouter(), port=0, config=config) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/pair"
        player = await Peer("player", play_args(ffmpeg_exe, url, tmp_path / "pair.flv"), tmp_path).start()
        publisher = await Peer("publisher", publish_args(ffmpeg_exe, url, 10), tmp_path).start()
        try:
            await wait_until(lambda: len(server.sessions) == 2, 30, "the ffmpeg pair", why=publisher.log)
            await asyncio.sleep(1)

            # 1. Random bytes.
            rng = random.Random(7)
            garbage = bytes([0x42]) + rng.randbytes(5000)
            r1, w1 = await _send(server.port, garbage)
            # 2. A truncated handshake: C0 and half of C1, then silence.
            hs = ClientHandshake(random.Random(8)).initiate()
            r2, w2 = await _send(server.port, hs[:700])
            # 3. An absurd chunk size after a correct handshake.
            client = ClientHandshake(random.Random(9))
            r3, w3 = await _send(server.port, client.initiate())
            s0s1s2 = await r3.readexactly(1 + 2 * 1536)
            w3.write(client.receive_data(s0s1s2) + bytes.fromhex("02 000000 000004 01 00000000 ffffffff"))
            # 4. A player that stops reading, on the same stream as the ffmpeg player.
            stuck = await SessionClient(url, "play", rcvbuf=4096, reader_limit=1024).connect()
            await stuck.pump_until(lambda: "NetStream.Play.Start" in stuck.codes(), 10, "stuck Play.Start")

            await asyncio.gather(_until_closed(r1, 10), _until_closed(r2, 10), _until_closed(r3, 10))
            for w in (w1, w2, w3):
                w.close()
            await publisher.expect_success(60)
            await player.expect_success(60)
            await stuck.close()
        finally:
            await player.aclose()
            await publisher.aclose()
    log = caplog.text
    assert "closing: unsupported RTMP version 66" in log
    assert "closing: handshake timeout" in log
    assert "closing: invalid chunk size" in log
    report = analyse_flv(tmp_path / "pair.flv")
    assert len(report.video_dts) >= 240 and report.video_keyframes[0] and report.duplicate_video_dts == 0
    assert await decode_errors(ffmpeg_exe, tmp_path / "pair.flv", tmp_path) == ""
