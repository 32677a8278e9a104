"""SRT interop with the real ffmpeg (libsrt 1.5): both roles, both directions, plain and encrypted."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import pathlib

import pytest
from srt_media import LossyRelay, continuity_errors, decoded_frames, feed_paced, raw_sink_args

from mediaplane.relay.hub import Hub, HubUnit
from mediaplane.relay.routing import OpenRouter, StreamPath
from mediaplane.srt import ConnectionRejected, RejectReason, SrtCaller, SrtConfig, SrtDirection, SrtListener
from mediaplane.srt.stats import SrtStats

pytestmark = pytest.mark.ffmpeg

PASS = "correct horse battery"
CRYPTO = [
    pytest.param(0, id="plain"),
    pytest.param(16, id="aes128"),
    pytest.param(24, id="aes192"),
    pytest.param(32, id="aes256"),
]


def _crypto_query(pbkeylen: int, passphrase: str = PASS) -> str:
    return f"&passphrase={passphrase.replace(' ', '%20')}&pbkeylen={pbkeylen}" if pbkeylen else ""


def _config(pbkeylen: int, **kw: object) -> SrtConfig:
    if pbkeylen:
        return SrtConfig(passphrase=PASS, pbkeylen=pbkeylen, **kw)  # type: ignore[arg-type]
    return SrtConfig(**kw)  # type: ignore[arg-type]


async def _collect(hub: Hub, out: bytearray) -> None:
    sub = hub.subscribe("test")
    async for item in sub:
        if isinstance(item, HubUnit):
            out.extend(item.payload)


async def _ffmpeg(ffmpeg: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "info",
        "-nostdin",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _ffmpeg_publishes(ffmpeg: str, clip: pathlib.Path, url: str) -> asyncio.subprocess.Process:
    """ffmpeg publishing ``clip`` in real time, copied, as MPEG-TS to an SRT URL."""
    return await _ffmpeg(ffmpeg, "-re", "-i", str(clip), "-c", "copy", "-f", "mpegts", url)


def _publish_url(port: int, key: str, query: str = "") -> str:
    """An ffmpeg caller's URL publishing to ``key`` on our listener at ``port``."""
    return f"srt://127.0.0.1:{port}?mode=caller&streamid=%23!::r={key},m=publish{query}"


async def _our_caller_publishes_to_ffmpeg(
    ffmpeg: str,
    data: bytes,
    listen_url: str,
    out: pathlib.Path,
    *,
    dial_port: int,
    config: SrtConfig,
    linger_s: float = 0.5,
) -> tuple[SrtStats, int | None, bytes]:
    """An ffmpeg listening at ``listen_url`` writes what it gets to ``out`` byte for byte; our caller
    dials ``dial_port`` and publishes ``data`` paced over 3 s. Returns the caller's stats as they were
    before it closed, and ffmpeg's exit status and stderr."""
    proc = await _ffmpeg(ffmpeg, *raw_sink_args(listen_url, out))
    src = Hub("src", cache_gop=False)
    src.claim("test")
    caller = SrtCaller(
        "127.0.0.1", dial_port, config=config, hub=src, direction=SrtDirection.PUBLISH, reconnect=True
    )
    async with caller:
        await caller.wait_connected(10)
        await feed_paced(src, data, 3.0)
        await asyncio.sleep(linger_s)
        stats = copy.copy(caller.stats)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return stats, proc.returncode, err


def _check_ts(data: bytes, tmp_path: pathlib.Path, min_frames: int) -> None:
    assert len(data) > 50_000
    assert continuity_errors(data) == 0
    path = tmp_path / "received.ts"
    path.write_bytes(data)
    assert decoded_frames(path) >= min_frames


@pytest.mark.parametrize("pbkeylen", CRYPTO)
async def test_ffmpeg_caller_publishes_to_our_listener(
    ffmpeg_exe: str, srt_clip: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path, pbkeylen: int
) -> None:
    clip, _ = srt_clip
    router = OpenRouter(cache_gop=False)
    async with SrtListener(router, host="127.0.0.1", port=0, config=_config(pbkeylen)) as listener:
        hub = router.hub(StreamPath(app="", key="live/cam1"))
        received = bytearray()
        collector = asyncio.create_task(_collect(hub, received))
        url = _publish_url(listener.port, "live/cam1", f"&latency=120000{_crypto_query(pbkeylen)}")
        proc = await _ffmpeg_publishes(ffmpeg_exe, clip, url)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()[-2000:]
        await asyncio.sleep(0.3)
        collector.cancel()
        assert not listener.connections  # ffmpeg's SHUTDOWN closed the session
    _check_ts(bytes(received), tmp_path, min_frames=60)


@pytest.mark.parametrize("pbkeylen", CRYPTO)
async def test_our_caller_publishes_to_ffmpeg_listener(
    ffmpeg_exe: str,
    srt_clip: tuple[pathlib.Path, bytes],
    tmp_path: pathlib.Path,
    pbkeylen: int,
    unused_udp_port: int,
) -> None:
    _, data = srt_clip
    out = tmp_path / "ffmpeg_out.ts"
    url = f"srt://127.0.0.1:{unused_udp_port}?mode=listener&latency=120000{_crypto_query(pbkeylen)}"
    config = _config(pbkeylen, streamid="#!::r=live/cam1")
    stats, rc, err = await _our_caller_publishes_to_ffmpeg(
        ffmpeg_exe, data, url, out, dial_port=unused_udp_port, config=config
    )
    assert stats.pkt_sent_unique_total >= len(data) // 1316
    assert rc == 0, err.decode()[-2000:]
    received = out.read_bytes()
    assert received == data  # byte for byte: nothing lost, duplicated or reordered
    _check_ts(received, tmp_path, min_frames=60)


async def test_ffmpeg_caller_plays_from_our_listener(
    ffmpeg_exe: str, srt_clip: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path
) -> None:
    _, data = srt_clip
    router = OpenRouter(cache_gop=False)
    hub = router.hub(StreamPath(app="", key="live/out"))
    hub.claim("test")
    out = tmp_path / "played.ts"
    async with SrtListener(router, port=0, config=_config(16), direction=SrtDirection.STREAMID) as listener:
        url = f"srt://127.0.0.1:{listener.port}?mode=caller&streamid=%23!::r=live/out{_crypto_query(16)}"
        proc = await _ffmpeg(ffmpeg_exe, *raw_sink_args(url, out))
        for _ in range(100):
            if hub.subscriptions:
                break
            await asyncio.sleep(0.05)
        assert hub.subscriptions, "ffmpeg never subscribed"
        await feed_paced(hub, data, 3.0)
        await asyncio.sleep(0.5)
        sessions = listener.connections
        assert len(sessions) == 1 and sessions[0].direction is SrtDirection.PLAY
        assert sessions[0].stats.pkt_sent_unique_total >= len(data) // 1316
        listener.close_path(StreamPath(app="", key="live/out"), "test over")
        await asyncio.wait_for(proc.communicate(), 20)
    assert out.read_bytes() == data
    _check_ts(out.read_bytes(), tmp_path, min_frames=60)


async def test_our_caller_receives_from_ffmpeg_listener(
    ffmpeg_exe: str, srt_clip: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path, unused_udp_port: int
) -> None:
    clip, _ = srt_clip
    url = f"srt://127.0.0.1:{unused_udp_port}?mode=listener&latency=120000{_crypto_query(32)}"
    proc = await _ffmpeg_publishes(ffmpeg_exe, clip, url)
    caller = SrtCaller(
        "127.0.0.1", unused_udp_port, config=_config(32), direction=SrtDirection.PLAY, reconnect=True
    )
    received = bytearray()
    async with caller:
        await caller.wait_connected(10)

        async def read() -> None:
            async for payload in caller.payloads():
                received.extend(payload)

        reader = asyncio.create_task(read())
        await asyncio.wait_for(proc.wait(), 20)
        await asyncio.sleep(0.5)
        reader.cancel()
        assert caller.stats.pkt_recv_unique_total > 0
    _check_ts(bytes(received), tmp_path, min_frames=60)


async def test_wrong_passphrase_is_refused_with_bad_secret(
    ffmpeg_exe: str, srt_clip: tuple[pathlib.Path, bytes]
) -> None:
    clip, _ = srt_clip
    async with SrtListener(OpenRouter(cache_gop=False), port=0, config=_config(16)) as listener:
        url = (
            f"srt://127.0.0.1:{listener.port}?mode=caller&streamid=x{_crypto_query(16, 'not the right one')}"
        )
        proc = await _ffmpeg_publishes(ffmpeg_exe, clip, url)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode != 0
        # libsrt's text for SRT_REJ_BADSECRET.
        assert "Incorrect passphrase" in err.decode()
        assert not listener.connections


async def test_our_caller_gets_bad_secret_from_ffmpeg(ffmpeg_exe: str, unused_udp_port: int) -> None:
    url = f"srt://127.0.0.1:{unused_udp_port}?mode=listener{_crypto_query(16)}&listen_timeout=5000000"
    proc = await _ffmpeg(ffmpeg_exe, "-y", "-i", url, "-f", "null", "-")
    try:
        caller = SrtCaller("127.0.0.1", unused_udp_port, config=SrtConfig(passphrase="wrong passphrase!"))
        for _ in range(40):
            try:
                await caller.start()
            except ConnectionRejected as exc:
                assert exc.reason == RejectReason.BADSECRET
                assert "SRT_REJ_BADSECRET" in str(exc)
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("never rejected")
    finally:
        proc.kill()
        await proc.wait()


async def test_accept_hook_refusal_reaches_ffmpeg_and_our_caller(ffmpeg_exe: str) -> None:
    seen: list[tuple[str, tuple[str, int]]] = []

    def hook(stream_id: str, peer: tuple[str, int]) -> int | None:
        seen.append((stream_id, peer))
        return RejectReason.X_FORBIDDEN if "secret" in stream_id else None

    async with SrtListener(OpenRouter(cache_gop=False), port=0, accept_hook=hook) as listener:
        url = f"srt://127.0.0.1:{listener.port}?mode=caller&streamid=%23!::r=secret,m=publish"
        proc = await _ffmpeg(
            ffmpeg_exe, "-re", "-f", "lavfi", "-i", "testsrc", "-t", "1", "-f", "mpegts", url
        )
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode != 0
        assert "rejection" in err.decode()
        assert seen and seen[0][0] == "#!::r=secret,m=publish" and seen[0][1][0] == "127.0.0.1"
        caller = SrtCaller("127.0.0.1", listener.port, config=SrtConfig(streamid="#!::r=secret"))
        with pytest.raises(ConnectionRejected) as info:
            await caller.start()
        assert info.value.reason == 1403
        assert info.value.reason_name == "SRT_REJX_FORBIDDEN"


async def test_five_percent_loss_both_ways_keeps_continuity(
    ffmpeg_exe: str, srt_clip_2mbps: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path, unused_udp_port: int
) -> None:
    clip, data = srt_clip_2mbps
    packets = len(data) // 1316
    # ffmpeg caller -> lossy relay -> our listener.
    router = OpenRouter(cache_gop=False)
    async with SrtListener(router, port=0, config=_config(16)) as listener:
        relay = LossyRelay(("127.0.0.1", listener.port), loss=0.05, seed=7)
        port = await relay.start()
        hub = router.hub(StreamPath(app="", key="lossy"))
        received = bytearray()
        collector = asyncio.create_task(_collect(hub, received))
        url = _publish_url(port, "lossy", f"&latency=120000{_crypto_query(16)}")
        proc = await _ffmpeg_publishes(ffmpeg_exe, clip, url)
        await asyncio.wait_for(proc.communicate(), 30)
        await asyncio.sleep(0.3)
        collector.cancel()
        relay.close()
        assert relay.dropped > packets * 0.03
    # ffmpeg remuxes (CBR null packets go), so judge by continuity and decodable frames (75 sent).
    # ffmpeg closes its socket the moment its input ends and answers no NAK after that (linger does
    # not help in live mode), so a packet lost in its final milliseconds can never be repaired: the
    # continuity check leaves out the last 300 ms (75 kB at 2 Mbit/s); everything before must be whole.
    tail = 75_000
    assert continuity_errors(bytes(received[:-tail])) == 0
    path = tmp_path / "lossy_in.ts"
    path.write_bytes(bytes(received))
    assert decoded_frames(path) >= 70
    # Our caller -> lossy relay -> ffmpeg listener.
    out = tmp_path / "lossy_out.ts"
    url = f"srt://127.0.0.1:{unused_udp_port}?mode=listener&latency=120000"
    relay = LossyRelay(("127.0.0.1", unused_udp_port), loss=0.05, seed=11)
    port = await relay.start()
    stats, _, _ = await _our_caller_publishes_to_ffmpeg(
        ffmpeg_exe, data, url, out, dial_port=port, config=SrtConfig(latency_ms=120), linger_s=0.6
    )
    assert stats.pkt_retrans_total > 0
    relay.close()
    assert relay.dropped > packets * 0.03
    assert out.read_bytes() == data  # every byte despite 5 % loss / key switches
    _check_ts(out.read_bytes(), tmp_path, min_frames=70)


async def test_key_refresh_both_ways(
    ffmpeg_exe: str, srt_clip_2mbps: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path, unused_udp_port: int
) -> None:
    clip, data = srt_clip_2mbps
    # ffmpeg refreshes its keys every 150 packets while publishing to us.
    router = OpenRouter(cache_gop=False)
    async with SrtListener(router, port=0, config=_config(16)) as listener:
        hub = router.hub(StreamPath(app="", key="rekey"))
        received = bytearray()
        collector = asyncio.create_task(_collect(hub, received))
        url = _publish_url(listener.port, "rekey", f"{_crypto_query(16)}&kmrefreshrate=150&kmpreannounce=40")
        proc = await _ffmpeg_publishes(ffmpeg_exe, clip, url)
        stats = None
        while proc.returncode is None:
            if listener.connections:
                stats = listener.connections[0].stats
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.2)
        await asyncio.sleep(0.3)
        collector.cancel()
        assert stats is not None and stats.km_refreshes >= 2 and stats.pkt_rcv_undecrypt_total == 0
    _check_ts(bytes(received), tmp_path, min_frames=70)
    # We refresh ours every 150 packets while publishing to ffmpeg.
    out = tmp_path / "rekeyed.ts"
    url = f"srt://127.0.0.1:{unused_udp_port}?mode=listener{_crypto_query(24)}"
    config = _config(24, km_refresh_rate=150, km_preannounce=40)
    stats, _, _ = await _our_caller_publishes_to_ffmpeg(
        ffmpeg_exe, data, url, out, dial_port=unused_udp_port, config=config
    )
    assert stats.km_refreshes >= 4
    assert out.read_bytes() == data  # every byte despite 5 % loss / key switches
    _check_ts(out.read_bytes(), tmp_path, min_frames=70)


async def test_one_listener_serves_concurrent_ffmpeg_callers(
    ffmpeg_exe: str, srt_clip: tuple[pathlib.Path, bytes], tmp_path: pathlib.Path
) -> None:
    clip, _ = srt_clip
    router = OpenRouter(cache_gop=False)
    keys = ["cam1", "cam2", "cam3"]
    async with SrtListener(router, port=0, config=_config(16)) as listener:
        received = {k: bytearray() for k in keys}
        collectors = [
            asyncio.create_task(_collect(router.hub(StreamPath(app="", key=k)), received[k])) for k in keys
        ]
        procs = [
            await _ffmpeg_publishes(ffmpeg_exe, clip, _publish_url(listener.port, k, _crypto_query(16)))
            for k in keys
        ]
        await wait_until(lambda: len(listener.connections) == 3)
        assert {s.path.key for s in listener.connections} == set(keys)
        assert len({s.conn.socket_id for s in listener.connections}) == 3
        for p in procs:
            await asyncio.wait_for(p.communicate(), 30)
        await asyncio.sleep(0.3)
        for c in collectors:
            c.cancel()
    for k in keys:
        _check_ts(bytes(received[k]), tmp_path, min_frames=70)


async def wait_until(cond: object, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if cond():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never met")
