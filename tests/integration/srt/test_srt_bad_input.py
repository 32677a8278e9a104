"""Garbage, forged handshakes, induction floods and vanishing callers never disturb a live stream."""

from __future__ import annotations

import asyncio
import pathlib
import random
import socket

import pytest
from srt_media import collect_hub, continuity_errors, decoded_frames, ffmpeg_srt_publish

from mediaplane.relay.routing import OpenRouter, StreamPath
from mediaplane.srt import SrtConfig, SrtConnection, SrtListener
from mediaplane.srt.handshake import Handshake, HandshakeType, SrtHandshakeExtension

pytestmark = pytest.mark.ffmpeg


def _sock() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


async def _vanishing_caller(port: int) -> None:
    """A real handshake driven by our core over a raw socket, then silence forever."""
    loop = asyncio.get_running_loop()
    sock = _sock()
    conn = SrtConnection(
        config=SrtConfig(streamid="#!::r=ghost,m=publish"),
        rng=random.Random(5),
        peer_addr=("127.0.0.1", port),
        now=loop.time(),
    )
    conn.connect(loop.time())
    try:
        for _ in range(100):
            for d in conn.datagrams_to_send(loop.time()):
                sock.sendto(d, ("127.0.0.1", port))
            if conn.connected:
                return
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 2048), 0.1)
                conn.receive_datagram(data, ("127.0.0.1", port), loop.time())
            except TimeoutError:
                conn.handle_timer(loop.time())
        raise AssertionError("ghost caller never connected")
    finally:
        sock.close()


async def test_bad_input_does_not_disturb_a_live_stream(
    ffmpeg_exe: str, srt_clip: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path
) -> None:
    clip, _ = srt_clip
    router = OpenRouter(cache_gop=False)
    config = SrtConfig(peer_idle_timeout_ms=1000)
    async with SrtListener(router, port=0, config=config) as listener:
        hub = router.hub(StreamPath(app="", key="good"))
        received = bytearray()
        collector = collect_hub(hub, received)
        proc = await ffmpeg_srt_publish(
            ffmpeg_exe,
            clip,
            f"srt://127.0.0.1:{listener.port}?mode=caller&streamid=%23!::r=good,m=publish",
        )
        for _ in range(100):
            if listener.connections:
                break
            await asyncio.sleep(0.02)
        assert len(listener.connections) == 1
        good = listener.connections[0]
        rng = random.Random(1234)
        attacker = _sock()
        attacker.setblocking(True)  # loopback sends complete at once; never BlockingIOError
        target = ("127.0.0.1", listener.port)
        # 1. Random datagrams of every size, some aimed at the live session's socket id.
        for i in range(500):
            junk = bytearray(rng.randbytes(rng.randrange(0, 1500)))
            if i % 3 == 0 and len(junk) >= 16:
                junk[12:16] = good.conn.socket_id.to_bytes(4, "big")
            attacker.sendto(bytes(junk), target)
        # 2. A conclusion with a forged SYN cookie.
        forged = Handshake(
            handshake_type=HandshakeType.CONCLUSION,
            socket_id=77,
            syn_cookie=0xDEADBEEF,
            hsreq=SrtHandshakeExtension(),
            stream_id="#!::r=good,m=publish",
        )
        attacker.sendto(forged.encode(), target)
        # 3. A flood of inductions from many "callers".
        for i in range(2000):
            attacker.sendto(Handshake(version=4, extension_field=2, socket_id=i + 1).encode(), target)
            if i % 200 == 0:
                await asyncio.sleep(0)
        # 4. A caller that completes the handshake and vanishes.
        await _vanishing_caller(listener.port)
        assert len(listener.connections) == 2
        attacker.close()
        await asyncio.wait_for(proc.wait(), 30)
        assert proc.returncode == 0
        # The half-open ghost is freed after the peer idle timeout (1 s here).
        for _ in range(50):
            if not listener.connections:
                break
            await asyncio.sleep(0.1)
        assert listener.connections == []
        assert listener.acceptor_stats.bad_cookies == 1
        assert listener.acceptor_stats.inductions >= 2000
        assert listener.garbage_datagrams > 0
        collector.cancel()
        assert good.stats.pkt_rcv_drop_total == 0
    assert continuity_errors(bytes(received)) == 0
    path = tmp_path / "good.ts"
    path.write_bytes(bytes(received))
    assert decoded_frames(path) >= 70
