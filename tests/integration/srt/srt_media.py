"""Helpers for the SRT interop tests: a test clip, an MPEG-TS continuity checker, a PyAV decode
check, a lossy UDP relay and paced feeding of a hub."""

from __future__ import annotations

import asyncio
import pathlib
import random
import subprocess

from mediaplane.relay.hub import Hub, HubUnit
from mediaplane.srt.mpegts import ts_unit_kind

TS_PACKET = 188
TS_UNIT = 1316


def raw_sink_args(url: str, out: pathlib.Path) -> list[str]:
    """ffmpeg arguments that write what an SRT URL delivers byte for byte: the ``data`` demuxer and
    muxer pass the MPEG-TS through untouched (a ``-f mpegts`` remux would rewrite continuity counters
    and hide losses)."""
    return ["-y", "-f", "data", "-i", url, "-map", "0", "-c", "copy", "-f", "data", str(out)]


def continuity_errors(data: bytes) -> int:
    """Per-PID continuity-counter discontinuities over payload-carrying 188-byte packets (a lost
    sync byte counts as an error too). Duplicate packets (same counter, allowed once) are not errors."""
    last: dict[int, int] = {}
    errors = 0
    for off in range(0, len(data) - TS_PACKET + 1, TS_PACKET):
        if data[off] != 0x47:
            errors += 1
            continue
        pid = ((data[off + 1] & 0x1F) << 8) | data[off + 2]
        afc = (data[off + 3] >> 4) & 0x3
        cc = data[off + 3] & 0x0F
        if pid == 0x1FFF or not afc & 0x1:
            continue
        prev = last.get(pid)
        if prev is not None and cc != (prev + 1) & 0x0F and cc != prev:
            errors += 1
        last[pid] = cc
    return errors


def decoded_frames(path: pathlib.Path) -> int:
    """Decode every video frame with PyAV; returns how many decoded (raises on a broken stream)."""
    import av

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for _ in container.decode(stream):
            n += 1
    return n


def make_clip(
    ffmpeg: str, path: pathlib.Path, *, seconds: float, bitrate: str = "", size: str = "320x240"
) -> bytes:
    """An H.264 + AAC MPEG-TS clip with keyframes every second (optionally CBR-padded)."""
    args = [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={size}:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-t",
        str(seconds),
    ]
    if bitrate:
        # nal-hrd=cbr makes x264 pad with filler NAL units, which survive a later "-c copy" remux.
        args += [
            "-b:v",
            bitrate,
            "-minrate",
            bitrate,
            "-maxrate",
            bitrate,
            "-bufsize",
            bitrate,
            "-x264-params",
            "nal-hrd=cbr:force-cfr=1",
        ]
    args += ["-f", "mpegts", str(path)]
    subprocess.run(args, check=True, timeout=120)
    return path.read_bytes()


def collect_hub(hub: Hub, into: bytearray) -> asyncio.Task[None]:
    """A task appending every payload the hub carries to ``into`` (cancel it when done)."""

    async def collect() -> None:
        async for item in hub.subscribe("t"):
            if isinstance(item, HubUnit):
                into.extend(item.payload)

    return asyncio.create_task(collect())


async def ffmpeg_srt_publish(ffmpeg_exe: str, clip: pathlib.Path, url: str) -> asyncio.subprocess.Process:
    """A real ffmpeg publishing ``clip`` in real time (``-re``, ``-c copy``) as MPEG-TS to an SRT URL."""
    return await asyncio.create_subprocess_exec(
        ffmpeg_exe,
        *("-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(clip)),
        *("-c", "copy", "-f", "mpegts", url),
    )


async def feed_paced(hub: Hub, data: bytes, seconds: float) -> None:
    """Feed ``data`` to ``hub`` in 1316-byte units spread evenly over ``seconds``, labelled as the SRT
    adapters label them (keyframe units as ``UnitKind.KEYFRAME``)."""
    units = [data[i : i + TS_UNIT] for i in range(0, len(data), TS_UNIT)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    per = seconds / max(1, len(units))
    for i, u in enumerate(units):
        hub.feed(HubUnit(kind=ts_unit_kind(u), timestamp_ms=0, size=len(u), payload=u))
        delay = start + (i + 1) * per - loop.time()
        if delay > 0 and i % 8 == 7:
            await asyncio.sleep(delay)


class LossyRelay(asyncio.DatagramProtocol):
    """A UDP relay between one client and ``target`` that drops a seeded fraction of datagrams both
    ways: data and every control packet (ACK, NAK, ACKACK, keepalive, key material...) except the
    handshake. ffmpeg's listener accepts one caller and closes its listening socket at once, so a
    lost conclusion response could never be answered again and no caller, libsrt included, could
    connect; handshake loss is covered by the pumped unit tests instead."""

    def __init__(self, target: tuple[str, int], *, loss: float, seed: int) -> None:
        self.target = target
        self.loss = loss
        self.rng = random.Random(seed)
        self.client: tuple[str, int] | None = None
        self.front: asyncio.DatagramTransport | None = None
        self.back: asyncio.DatagramTransport | None = None
        self.dropped = 0
        self.passed = 0

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if relay.client is not None and relay.front is not None and relay._keep(data):
                    relay.front.sendto(data, relay.client)

        front, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        back, _ = await loop.create_datagram_endpoint(Back, remote_addr=self.target)
        self.front = front  # type: ignore[assignment]
        self.back = back  # type: ignore[assignment]
        port: int = front.get_extra_info("sockname")[1]
        return port

    def _keep(self, data: bytes) -> bool:
        if data[:2] == b"\x80\x00":  # handshake
            return True
        if self.rng.random() < self.loss:
            self.dropped += 1
            return False
        self.passed += 1
        return True

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client = addr
        if self.back is not None and self._keep(data):
            self.back.sendto(data)

    def close(self) -> None:
        for t in (self.front, self.back):
            if t is not None:
                t.close()
