"""Helpers of the preview tests: a real ffmpeg publisher, HTTP reads of the admin routes, MP4 boxes."""

from __future__ import annotations

import http.client
import io
import json
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from emulator.testing import EmulatorThread

T = TypeVar("T")

WIDTH, HEIGHT = 320, 240
CODECS = "avc1.64001f,mp4a.40.2"
"""What the publisher sends: H.264 High (0x64) level 3.1 (0x1f), AAC LC (audio object type 2)."""


def publisher(ffmpeg: str, url: str, seconds: float = 60.0) -> subprocess.Popen[bytes]:
    """A real ffmpeg publishing a 320x240 test picture and a tone, paced in real time, to ``url``."""
    fmt = "flv" if url.startswith("rtmp://") else "mpegts"
    return subprocess.Popen(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level", "3.1", "-g", "25",
         "-pix_fmt", "yuv420p", "-b:v", "400k", "-c:a", "aac", "-b:a", "64k", "-f", fmt, url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@contextmanager
def publishing(ffmpeg: str, url: str, seconds: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    proc = publisher(ffmpeg, url, seconds)
    try:
        yield proc
    finally:
        proc.kill()
        proc.communicate()


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """``check()``'s first truthy value, polled until ``timeout`` (a generous bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {value!r})")
        time.sleep(0.1)


def get(emu: EmulatorThread, path: str, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of ``GET path`` on the emulator's API."""
    try:
        with urllib.request.urlopen(f"{emu.api_url}{path}", timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def stats(emu: EmulatorThread) -> dict[str, Any]:
    status, _headers, body = get(emu, "/_emulator/stats")
    assert status == 200, body
    doc: dict[str, Any] = json.loads(body)
    return doc


class PreviewReader:
    """A streaming ``GET`` of a preview: the response headers, then bytes as they arrive."""

    def __init__(self, emu: EmulatorThread, path: str, timeout: float = 30.0) -> None:
        host, port = emu.endpoint.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.data = b""

    def read_until(self, what: str, check: Callable[[bytes], bool], timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while not check(self.data):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what} ({len(self.data)} bytes)")
            chunk = self.resp.read1(65536)
            if not chunk:
                raise AssertionError(f"the preview ended before {what} ({len(self.data)} bytes)")
            self.data += chunk
        return self.data

    def read_to_end(self) -> bytes:
        while chunk := self.resp.read1(65536):
            self.data += chunk
        return self.data

    def close(self) -> None:
        self.conn.close()


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The complete top-level MP4 boxes of ``data``: (type, whole box)."""
    out = []
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            break
        out.append((kind, data[pos : pos + size]))
        pos += size
    return out


def fragments(data: bytes) -> int:
    return sum(1 for kind, _ in boxes(data) if kind == b"mdat")


def decode_mp4(data: bytes) -> tuple[int, int, int, int]:
    """(video frames, width, height, audio frames) PyAV decodes from the complete boxes of ``data``."""
    import av

    whole = b"".join(box for _kind, box in boxes(data))
    frames = audio = width = height = 0
    with av.open(io.BytesIO(whole), format="mp4") as container:
        for frame in container.decode(video=0):
            frames += 1
            width, height = frame.width, frame.height
    with av.open(io.BytesIO(whole), format="mp4") as container:
        if container.streams.audio:
            audio = sum(1 for _ in container.decode(audio=0))
    return frames, width, height, audio


def decode_jpeg(data: bytes) -> tuple[int, int]:
    import av

    with av.open(io.BytesIO(data), format="image2pipe") as container:
        frame = next(container.decode(video=0))
        assert container.streams.video[0].codec_context.name == "mjpeg"
        return frame.width, frame.height
