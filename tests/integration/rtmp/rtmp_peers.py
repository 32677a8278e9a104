"""Helpers for the RTMP integration tests: real ffmpeg and PyAV peers as subprocesses, FLV analysis with
PyAV, a synthetic publisher built on our own client, and polling with generous timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

from mediaplane.relay import Hub, HubUnit, UnitKind
from mediaplane.rtmp import (
    Event,
    MediaMessage,
    MediaReceived,
    RtmpClientConfig,
    RtmpClientSession,
    RtmpPusher,
    StatusReceived,
    parse_rtmp_url,
)
from mediaplane.rtmp.synthetic import synthetic_stream

SIZE = "320x240"
FPS = 25
GOP = 50


def free_port() -> int:
    """A port that was free a moment ago (for ffmpeg -listen, which cannot bind port 0 and report it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(
    pred: Callable[[], bool], timeout_s: float, what: str, *, why: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {what}" + (f": {why()}" if why else "")
            )
        await asyncio.sleep(0.05)


class Peer:
    """A subprocess (ffmpeg or a PyAV script) with its stderr kept in a file for assertion messages."""

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = workdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Peer:
        log = self.log_path.open("wb")  # handed to the child; a local file
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        finally:
            log.close()
        return self

    def log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text[-3000:]

    async def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.kill()
            raise AssertionError(
                f"{self.name} did not finish within {timeout_s} s; log:\n{self.log()}"
            ) from None

    async def expect_success(self, timeout_s: float) -> None:
        rc = await self.wait(timeout_s)
        assert rc == 0, f"{self.name} exited with {rc}; log:\n{self.log()}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def aclose(self) -> None:
        self.kill()
        if self.proc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 5)


def publish_args(
    ffmpeg: str,
    url: str,
    seconds: float,
    *,
    listen: bool = False,
    ts_offset_s: float | None = None,
    tee_copy: Path | None = None,
) -> list[str]:
    """ffmpeg publishing an H.264/AAC test pattern in real time (-re) to ``url`` (or listening on it)."""
    args = [
        ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(GOP),
        "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k",
    ]  # fmt: skip
    if ts_offset_s is not None:
        args += ["-output_ts_offset", str(ts_offset_s)]
    if tee_copy is not None:
        args += ["-map", "0:v", "-map", "1:a", "-f", "tee", f"[f=flv:onfail=abort]{url}|[f=flv]{tee_copy}"]
        return args
    if listen:
        args += ["-listen", "1"]
    return [*args, "-f", "flv", url]


def play_args(ffmpeg: str, url: str, out: Path, *, copyts: bool = False, listen: bool = False) -> list[str]:
    """ffmpeg playing ``url`` (or accepting a publisher on it) and copying the stream into an FLV file."""
    args = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning", "-rw_timeout", "20000000"]
    if listen:
        args += ["-listen", "1"]
    if copyts:
        args += ["-copyts"]
    return [*args, "-i", url, "-c", "copy", "-f", "flv", "-y", str(out)]


@dataclass
class FlvReport:
    """What a received FLV file holds, read with PyAV."""

    video_codec: str = ""
    video_dts: list[int] = field(default_factory=list)
    video_keyframes: list[bool] = field(default_factory=list)
    audio_dts: list[int] = field(default_factory=list)
    decoded_frames: int = 0

    @property
    def duplicate_video_dts(self) -> int:
        return len(self.video_dts) - len(set(self.video_dts))

    @property
    def video_monotonic(self) -> bool:
        return all(b > a for a, b in itertools.pairwise(self.video_dts))


def analyse_flv(path: Path) -> FlvReport:
    """Demux and decode every video packet (timestamps in ms)."""
    report = FlvReport()
    with av.open(str(path)) as container:
        vstream = container.streams.video[0] if container.streams.video else None
        if vstream is not None:
            report.video_codec = vstream.codec_context.name
        for packet in container.demux():
            if packet.dts is None:
                continue
            ms = int(packet.dts * packet.time_base * 1000)
            if packet.stream.type == "video":
                report.video_dts.append(ms)
                report.video_keyframes.append(bool(packet.is_keyframe))
                report.decoded_frames += len(packet.decode())
            elif packet.stream.type == "audio":
                report.audio_dts.append(ms)
    return report


async def decode_errors(ffmpeg: str, path: Path, workdir: Path) -> str:
    """Everything ffmpeg reports at level error while decoding ``path`` completely (empty: clean)."""
    peer = await Peer(
        f"decode-{path.stem}",
        [ffmpeg, "-hide_banner", "-nostats", "-v", "error", "-i", str(path), "-f", "null", "-"],
        workdir,
    ).start()
    await peer.wait(60)
    return peer.log().strip()


PYAV_HEVC_PUBLISHER = r"""
import av, fractions, sys, time
url, frames = sys.argv[1], int(sys.argv[2])
out = av.open(url, "w", format="flv")
v = out.add_stream("libx265", rate=25)
v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
v.options = {"x265-params": "keyint=50:min-keyint=50:scenecut=0:log-level=error", "preset": "ultrafast",
             "tune": "zerolatency"}
t0 = time.monotonic()
for i in range(frames):
    f = av.VideoFrame(320, 240, "yuv420p")
    for j, plane in enumerate(f.planes):
        row = bytes((i * 7 + j * 50 + x) % 256 for x in range(plane.line_size))
        plane.update(row * (plane.buffer_size // plane.line_size))
    f.pts, f.time_base = i, fractions.Fraction(1, 25)
    for p in v.encode(f):
        out.mux(p)
    delay = t0 + (i + 1) / 25 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
for p in v.encode():
    out.mux(p)
out.close()
"""


def pyav_hevc_publish_args(url: str, frames: int) -> list[str]:
    """A PyAV process publishing HEVC (libx265) to ``url`` over RTMP with PyAV's own FFmpeg flv muxer."""
    return [sys.executable, "-c", PYAV_HEVC_PUBLISHER, url, str(frames)]


async def publish_synthetic(
    url: str, *, bitrate_bps: int, seconds: float, on_connected: Callable[[], Awaitable[None]] | None = None
) -> RtmpPusher:
    """Publish a synthetic stream with our own client (RtmpPusher over a local hub), paced in real time."""
    hub = Hub("synthetic")
    owner = object()
    hub.claim(owner)
    pusher = RtmpPusher(url, hub, config=RtmpClientConfig(seed=1))
    async with pusher:
        await wait_until(
            lambda: pusher.connected, 20, f"pusher to {url} to connect", why=lambda: pusher.last_error
        )
        if on_connected is not None:
            await on_connected()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for message in synthetic_stream(bitrate_bps=bitrate_bps):
            due = start + message.timestamp / 1000
            if message.timestamp / 1000 > seconds:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            hub.feed(
                HubUnit(
                    kind=UnitKind(message.kind),
                    timestamp_ms=message.timestamp,
                    size=len(message.payload),
                    payload=message,
                )
            )
        await asyncio.sleep(0.2)
    hub.release(owner)
    return pusher


class SessionClient:
    """Our own client session over a real socket, for tests that look at status codes and media."""

    def __init__(
        self, url: str, mode: str, *, rcvbuf: int | None = None, reader_limit: int = 1 << 20
    ) -> None:
        self.target = parse_rtmp_url(url)
        self.session = RtmpClientSession(
            random.Random(5), app=self.target.app, key=self.target.key, mode=mode, tc_url=self.target.tc_url
        )
        self.rcvbuf = rcvbuf
        self.reader_limit = reader_limit
        self.events: list[Event] = []
        self.media: list[MediaMessage] = []
        self.eof = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> SessionClient:
        sock = socket.socket()
        sock.setblocking(False)
        if self.rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        await asyncio.get_running_loop().sock_connect(sock, (self.target.host, self.target.port))
        self._reader, self._writer = await asyncio.open_connection(sock=sock, limit=self.reader_limit)
        self.session.initiate()
        self._flush()
        return self

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    @property
    def local_port(self) -> int:
        assert self._writer is not None
        return int(self._writer.get_extra_info("sockname")[1])

    def send(self, message: MediaMessage) -> None:
        """Publish one media message (after NetStream.Publish.Start)."""
        self.session.send_media(message)
        self._flush()

    def codes(self) -> list[str]:
        return [e.code for e in self.events if isinstance(e, StatusReceived)]

    async def pump_until(self, pred: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Read and process until ``pred()`` holds or the server closes; fail after ``timeout_s``."""
        assert self._reader is not None
        deadline = time.monotonic() + timeout_s
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout_s} s waiting for {what}; events: {self.events[-8:]}"
                )
            try:
                data = await asyncio.wait_for(self._reader.read(1 << 16), min(left, 0.5))
            except TimeoutError:
                continue
            if not data:
                self.eof = True
                if not pred():
                    raise AssertionError(f"server closed before {what}; events: {self.events[-8:]}")
                return
            self.session.receive_data(data)
            while (event := self.session.next_event()) is not None:
                self.events.append(event)
                if isinstance(event, MediaReceived):
                    self.media.append(event.message)
            self._flush()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
