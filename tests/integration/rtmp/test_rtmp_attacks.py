"""What a peer can hold on a real RTMP server or client, over 127.0.0.1 sockets: an absolute deadline to
be authorised that no trickle extends, a connection cap that refuses one more while a real ffmpeg pair
keeps flowing, chunk budgets that refuse a huge declared message on its header (RSS stays bounded), and
a hostile server whose every bad value costs the puller one session, then it reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import random
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from rtmp_peers import Peer, SessionClient, analyse_flv, play_args, publish_args, wait_until

from mediaplane.relay import Hub, OpenRouter
from mediaplane.rtmp import RtmpClientConfig, RtmpPuller, RtmpServer, RtmpServerConfig
from mediaplane.rtmp.chunk import ChunkDecoder, ChunkEncoder
from mediaplane.rtmp.handshake import ClientHandshake, ServerHandshake
from mediaplane.rtmp.message import (
    CommandMessage,
    MediaKind,
    MediaMessage,
    MessageType,
    SetChunkSize,
    parse_message,
    serialize_payload,
)

HANDSHAKE_BYTES = 1536
MIB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set size, from the kernel's view of the process itself."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def handshaken(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection that completed the RTMP handshake and sent nothing more."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    hs = ClientHandshake(random.Random(port))
    writer.write(hs.initiate())
    writer.write(hs.receive_data(await asyncio.wait_for(reader.readexactly(1 + 2 * HANDSHAKE_BYTES), 20)))
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, timeout_s: float) -> None:
    """Read (and drop) until the server closes or resets the connection."""

    async def drain() -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(1 << 16):
                pass

    await asyncio.wait_for(drain(), timeout_s)


async def test_unauthorised_connections_are_closed_at_the_deadline_however_they_trickle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    deadline_s = 1.5
    config = RtmpServerConfig(authorise_timeout_s=deadline_s, handshake_timeout_s=60, idle_timeout_s=120)
    async with RtmpServer(OpenRouter(), port=0, config=config) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/cam"
        publisher = await SessionClient(url, "publish").connect()
        await publisher.pump_until(
            lambda: "NetStream.Publish.Start" in publisher.codes(), 20, "Publish.Start"
        )
        started = time.monotonic()
        conns = [await handshaken(server.port) for _ in range(8)]
        await wait_until(lambda: len(server.sessions) == 9, 20, "8 handshaken connections")
        refs = [weakref.ref(c) for c in server.sessions if c.role is None]
        assert len(refs) == 8

        async def trickle(writer: asyncio.StreamWriter) -> None:
            # A connect command declared 1000 bytes long, then its payload one byte at a time.
            writer.write(bytes.fromhex("03 000000 0003e8 14 00000000"))
            with contextlib.suppress(ConnectionError):
                while not writer.is_closing():
                    writer.write(b"\x00")
                    await writer.drain()
                    await asyncio.sleep(0.2)

        tricklers = [asyncio.create_task(trickle(w)) for _, w in conns]
        await asyncio.gather(*(closed_by_server(r, 60) for r, _ in conns))
        assert time.monotonic() - started >= deadline_s
        for _, w in conns:
            w.close()
        await asyncio.gather(*tricklers)
        assert server.authorise_timeouts == 8

        # Nothing keeps a closed connection (or its buffers) alive.
        def freed() -> bool:
            gc.collect()
            return all(ref() is None for ref in refs)

        await wait_until(freed, 20, "the closed connections to be freed")
        assert [c.role for c in server.sessions] == ["publish"], "the publisher outlives the deadline"
        await publisher.close()
    assert caplog.text.count("closing: not publishing or playing within 1.5 s") == 8


async def test_a_1_mib_keyframe_crosses_the_server_once_authorised() -> None:
    async with RtmpServer(OpenRouter(), port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/big"
        publisher = await SessionClient(url, "publish").connect()
        await publisher.pump_until(
            lambda: "NetStream.Publish.Start" in publisher.codes(), 20, "Publish.Start"
        )
        player = await SessionClient(url, "play").connect()
        await player.pump_until(lambda: "NetStream.Play.Start" in player.codes(), 20, "Play.Start")
        payload = b"\x17\x01" + random.Random(1).randbytes(MIB - 2)
        publisher.send(
            MediaMessage(type_id=MessageType.VIDEO, timestamp=0, payload=payload, kind=MediaKind.KEYFRAME)
        )
        await player.pump_until(lambda: bool(player.media), 30, "the 1 MiB keyframe")
        assert [m.payload for m in player.media] == [payload]
        await player.close()
        await publisher.close()


@pytest.mark.ffmpeg
async def test_connection_cap_refuses_one_more_while_an_ffmpeg_pair_flows(
    ffmpeg_exe: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    cap = 6
    config = RtmpServerConfig(max_connections=cap, authorise_timeout_s=300, unpublish_grace_s=1.0)
    async with RtmpServer(OpenRouter(), port=0, config=config) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/pair"
        player = await Peer("player", play_args(ffmpeg_exe, url, tmp_path / "pair.flv"), tmp_path).start()
        publisher = await Peer("publisher", publish_args(ffmpeg_exe, url, 10), tmp_path).start()
        fillers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            await wait_until(
                lambda: sorted(str(c.role) for c in server.sessions) == ["play", "publish"],
                30,
                "the ffmpeg pair",
                why=publisher.log,
            )
            fillers = [await handshaken(server.port) for _ in range(cap - 2)]
            await wait_until(lambda: len(server.sessions) == cap, 20, "the cap to fill")
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await closed_by_server(reader, 20)
            writer.close()
            assert server.refused_connections == 1 and len(server.sessions) == cap
            # A freed place is a place again.
            fillers.pop()[1].close()
            await wait_until(lambda: len(server.sessions) == cap - 1, 20, "a filler to leave")
            fillers.append(await handshaken(server.port))
            await wait_until(lambda: len(server.sessions) == cap, 20, "a new connection to be admitted")
            assert server.refused_connections == 1
            await publisher.expect_success(60)
            await player.expect_success(60)
        finally:
            for _, w in fillers:
                w.close()
            await player.aclose()
            await publisher.aclose()
    assert "1 connection(s) refused: 6 open, the cap" in caplog.text
    report = analyse_flv(tmp_path / "pair.flv")
    assert len(report.video_dts) >= 240 and report.video_keyframes[0] and report.duplicate_video_dts == 0


async def test_rss_stays_bounded_while_hostile_connections_declare_huge_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    async with RtmpServer(OpenRouter(), port=0) as server:
        gc.collect()
        baseline = rss_bytes()
        peak = baseline
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_bytes())
                await asyncio.sleep(0.01)

        async def hostile(index: int) -> None:
            # Chunk size 2**31 - 1 (legal), then four 16 MiB messages (64 MiB), pushed as fast as the
            # server reads them, 64 KiB at a time so that our own write buffer stays small.
            reader, writer = await handshaken(server.port)
            piece = bytes(64 * 1024)
            with contextlib.suppress(ConnectionError):
                writer.write(bytes.fromhex("02 000000 000004 01 00000000 7fffffff"))
                for csid in (4, 5, 6, 7):
                    writer.write(bytes([csid]) + bytes.fromhex("000000 ffffff 09 00000000"))
                    for _ in range(0xFFFFFF // len(piece)):
                        writer.write(piece)
                        await writer.drain()
            await closed_by_server(reader, 60)
            writer.close()

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(hostile(i) for i in range(8)))
        await wait_until(lambda: not server.sessions, 20, "every hostile session to close")
        done.set()
        await sampler
        gc.collect()
        after = rss_bytes()
    assert peak - baseline < 48 * MIB, f"RSS grew by {(peak - baseline) / MIB:.1f} MiB"
    assert after - baseline < 48 * MIB
    assert caplog.text.count("closing: message of 16777215 bytes exceeds the limit of 16384 bytes") == 8


# -- a hostile server against our puller ------------------------------------------------------------
MISSING = object()
CHUNK_SIZE_ZERO = bytes.fromhex("02 000000 000004 01 00000000 00000000")
HOSTILE_ANSWERS: list[Any] = [-1.0, 2.0**32, 1e300, math.nan, "1", None, MISSING, CHUNK_SIZE_ZERO]
"""What the server answers createStream with, one per connection (bytes: sent instead of a _result)."""


class HostileServer:
    """An RTMP server written by hand: a correct handshake and connect, then a bad createStream answer."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = HOSTILE_ANSWERS[self.connections % len(HOSTILE_ANSWERS)]
        self.connections += 1
        hs = ServerHandshake(random.Random(self.connections))
        dec, enc = ChunkDecoder(), ChunkEncoder()

        def send(message: CommandMessage) -> None:
            type_id, payload = serialize_payload(message)
            writer.write(enc.encode(csid=3, timestamp=0, type_id=type_id, stream_id=0, payload=payload))

        try:
            writer.write(hs.receive_data(await reader.readexactly(1 + HANDSHAKE_BYTES)))
            hs.receive_data(await reader.readexactly(HANDSHAKE_BYTES))
            data = hs.leftover
            while True:
                dec.receive_data(data)
                while (raw := dec.next_message()) is not None:
                    message = parse_message(raw)
                    if isinstance(message, SetChunkSize):
                        dec.set_chunk_size(message.size)
                    elif isinstance(message, CommandMessage) and message.name == "connect":
                        info = {"level": "status", "code": "NetConnection.Connect.Success"}
                        send(
                            CommandMessage(
                                name="_result", transaction_id=message.transaction_id, args=(info,)
                            )
                        )
                    elif isinstance(message, CommandMessage) and message.name == "createStream":
                        if isinstance(answer, bytes):
                            writer.write(answer)
                        else:
                            args = () if answer is MISSING else (answer,)
                            send(
                                CommandMessage(
                                    name="_result", transaction_id=message.transaction_id, args=args
                                )
                            )
                data = await reader.read(1 << 16)
                if not data:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def test_every_hostile_server_value_costs_the_puller_one_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG: a puller logs the first failure at INFO and its repeats (no media in between) at DEBUG.
    caplog.set_level(logging.DEBUG, logger="mediaplane.rtmp")
    hostile = HostileServer()
    listener = await asyncio.start_server(hostile.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    config = RtmpClientConfig(backoff_initial_s=0.05, backoff_max_s=0.2, seed=3)
    try:
        async with RtmpPuller(f"rtmp://127.0.0.1:{port}/live/cam", Hub("pulled"), config=config) as puller:
            rounds = len(HOSTILE_ANSWERS) + 1
            await wait_until(
                lambda: hostile.connections > rounds,
                60,
                "the puller to reconnect",
                why=lambda: puller.last_error,
            )
            assert puller.sessions_started == 0 and not puller.connected
    finally:
        listener.close()
        await listener.wait_closed()
    log = caplog.text
    assert (
        log.count("createStream result has no valid stream id; reconnecting in") >= len(HOSTILE_ANSWERS) - 1
    )
    assert "invalid chunk size; reconnecting in" in log
    assert "unexpected error" not in log and "Traceback" not in log
