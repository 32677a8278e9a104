"""Real peers for the flow e2e tests: ffmpeg publishers, sources and receivers, and what they measured.

A :class:`Receiver` runs a real ffmpeg that reads a URL (or listens for a push) and remuxes it, with the
source timestamps kept (``-copyts``), to MPEG-TS on a pipe; a thread keeps the bytes and records the
arrival time of every video PES by its PTS, so two receivers of the same stream give the lag between them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import TypeVar

K = TypeVar("K")

FPS = 25
VIDEO_PID = 0x100  # ffmpeg's mpegts muxer numbers the first mapped stream (video) 0x100


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def encode_args(seconds: float) -> list[str]:
    """A 25 fps H.264 + AAC test pattern, keyframe every second, paced in real time."""
    return [
        "-re", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-g", str(FPS), "-b:v", "600k", "-c:a", "aac", "-b:a", "64k",
    ]  # fmt: skip


def publisher(ffmpeg: str, url: str, seconds: float) -> subprocess.Popen[bytes]:
    """ffmpeg pushing the test pattern to ``url`` (rtmp:// as FLV, srt:// as MPEG-TS)."""
    fmt = "flv" if url.startswith("rtmp") else "mpegts"
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", *encode_args(seconds), "-f", fmt, url]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def listening_source(ffmpeg: str, scheme: str, seconds: float) -> tuple[subprocess.Popen[bytes], str]:
    """ffmpeg serving the test pattern to the first client that connects (for RTMP-PULL / SRT-Caller
    inputs): ``rtmp://127.0.0.1:P/live/src`` with ``-listen 1``, or ``srt://127.0.0.1:P`` in listener
    mode. Returns the process and the URL the flow should pull from."""
    if scheme == "rtmp":
        port = free_port()
        url = f"rtmp://127.0.0.1:{port}/live/src"
        out = ["-f", "flv", "-listen", "1", url]
    else:
        port = free_port(socket.SOCK_DGRAM)
        url = f"srt://127.0.0.1:{port}"
        out = ["-f", "mpegts", f"{url}?mode=listener&latency=120000"]
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", *encode_args(seconds), *out]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), url


@dataclass
class Received:
    data: bytes
    arrivals: dict[int, float] = field(default_factory=dict)
    stderr: str = ""


class Receiver:
    """A real ffmpeg receiving a stream; see the module docstring.

    ``url`` is read as a client (``rtmp://`` play, ``srt://`` caller) unless ``listen`` is set, in which
    case ffmpeg listens on it for a push (RTMP-PUSH / SRT-Caller outputs).
    """

    def __init__(self, ffmpeg: str, url: str, *, listen: bool = False) -> None:
        self.url = url
        args = [ffmpeg, "-hide_banner", "-loglevel", "error"]
        if listen and url.startswith("rtmp"):
            args += ["-listen", "1", "-i", url]
        elif listen:
            args += ["-i", f"{url}?mode=listener&latency=120000"]
        elif url.startswith("srt"):
            args += ["-i", f"{url}?latency=120000" if "?" not in url else url]
        else:
            args += ["-i", url]
        args += ["-map", "0:v:0", "-map", "0:a?", "-c", "copy", "-copyts", "-f", "mpegts", "pipe:1"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._buf = bytearray()
        self.arrivals: dict[int, float] = {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        pending = b""
        while True:
            chunk = self.proc.stdout.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                return
            now = time.monotonic()
            self._buf += chunk
            pending += chunk
            whole = len(pending) - len(pending) % 188
            for i in range(0, whole, 188):
                pts = _video_pes_pts(pending[i : i + 188])
                if pts is not None:
                    self.arrivals.setdefault(pts, now)
            pending = pending[whole:]

    @property
    def bytes_received(self) -> int:
        return len(self._buf)

    def bytes_so_far(self) -> bytes:
        """What arrived until now, in whole TS packets (ffmpeg is still writing)."""
        data = bytes(self._buf)
        return data[: len(data) - len(data) % 188]

    def interrupt(self) -> None:
        """Ask ffmpeg to finish (SIGINT). A second SIGINT a moment later aborts a read that is still
        blocked waiting for media (ffmpeg only checks its interrupt callback from the second one on)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self, settle_s: float = 0.0) -> Received:
        """Let ffmpeg finish its output, then return what arrived."""
        time.sleep(settle_s)
        self.interrupt()
        deadline = time.monotonic() + 0.5
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.interrupt()
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self._thread.join(5)
        return Received(bytes(self._buf), dict(self.arrivals), (err or b"").decode(errors="replace"))


def stop_all(receivers: dict[K, Receiver]) -> dict[K, Received]:
    """Stop several receivers at once (each gets its first SIGINT at the same moment)."""
    for rx in receivers.values():
        rx.interrupt()
    return {name: rx.stop() for name, rx in receivers.items()}


def _video_pes_pts(pkt: bytes) -> int | None:
    """The PTS of a video PES that starts in this TS packet, if any (ISO/IEC 13818-1 2.4.3.2, 2.4.3.7)."""
    if pkt[0] != 0x47 or not pkt[1] & 0x40:
        return None
    if ((pkt[1] & 0x1F) << 8 | pkt[2]) != VIDEO_PID:
        return None
    afc = (pkt[3] >> 4) & 0x3
    off = 4
    if afc & 0x2:
        off += 1 + pkt[4]
    if not afc & 0x1 or off + 14 > 188:
        return None
    pes = pkt[off:]
    if pes[:3] != b"\x00\x00\x01" or not pes[7] & 0x80:
        return None
    p = pes[9:14]
    return ((p[0] >> 1) & 0x07) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1


@dataclass
class Decoded:
    frames: int = 0
    errors: int = 0
    keyframe_first: bool | None = None
    duplicate_pts: int = 0
    error: str = ""


def decode(data: bytes, workdir: str, name: str) -> Decoded:
    """Decode the received MPEG-TS with PyAV: video frames, decode errors, first packet a keyframe."""
    import av

    path = os.path.join(workdir, f"{name}.ts")
    with open(path, "wb") as f:
        f.write(data)
    out = Decoded()
    if not data:
        out.error = "nothing received"
        return out
    seen: set[int] = set()
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if out.keyframe_first is None:
                    out.keyframe_first = bool(packet.is_keyframe)
                if packet.pts is not None:
                    if packet.pts in seen:
                        out.duplicate_pts += 1
                    seen.add(packet.pts)
                try:
                    out.frames += len(packet.decode())
                except av.error.FFmpegError:
                    out.errors += 1
            # Frames still inside the decoder (B-frames are off, but flush anyway).
            out.frames += len(stream.codec_context.decode(None))
    except (av.error.FFmpegError, IndexError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out


def median_lag_ms(early: dict[int, float], late: dict[int, float]) -> tuple[float, int]:
    """Median of (late - early) arrival times over the PTS both saw, and how many they share."""
    common = sorted(set(early) & set(late))
    lags = sorted((late[p] - early[p]) * 1000 for p in common)
    return (lags[len(lags) // 2] if lags else float("nan")), len(common)
