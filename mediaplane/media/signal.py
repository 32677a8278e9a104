"""The test-signal generator: numbered H.264 (or HEVC) frames and an AAC tone, paced in real time.

Every video frame carries its number and send time in a block code in the picture (see
:mod:`mediaplane.media.framecode`) and its number in its timestamp: ``pts = frame number`` in a time
base of ``1/fps``. Audio is a continuous sine tone, AAC, with ``pts`` in samples.

Outputs:

* ``rtmp://host:port/app/key``: FLV published by FFmpeg's own RTMP client (through PyAV);
* ``srt://host:port?streamid=...``: MPEG-TS muxed in memory and sent in 1316-byte payloads by our own
  SRT caller (PyAV's FFmpeg has no libsrt);
* anything else: a file path, format from its extension (``.flv``, ``.ts``, ``.mp4``...).

Entry points: :func:`publish` (asyncio: runs the generator in a child process) and :func:`generate`
(blocking, in this process: fine for files, but for ``rtmp://`` never in a thread of a process that also
serves that URL, since PyAV holds the GIL during FFmpeg's network I/O and the server would freeze).
``python -m mediaplane.media signal URL`` runs it from a shell. This is an instrument: it is never
imported by the relay path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fractions
import json
import logging
import math
import os
import signal
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import av.logging

from .framecode import draw_luma

logger = logging.getLogger(__name__)

TS_PACKET_BYTES = 188
TS_PAYLOAD_BYTES = 1316
"""Seven 188-byte MPEG-TS packets: the SRT live payload size."""
AAC_FRAME_SAMPLES = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalConfig:
    """What the generator produces."""

    width: int = 640
    """Picture width, pixels (even)."""
    height: int = 360
    """Picture height, pixels (even)."""
    fps: int = 25
    """Frames per second (integer, so pts = frame number is exact in 1/fps)."""
    video_codec: str = "h264"
    """``h264`` (libx264) or ``hevc`` (libx265)."""
    video_bitrate_kbps: int = 800
    """Target video bitrate, kilobits per second."""
    gop_frames: int = 50
    """Frames between keyframes (closed GOPs, no B-frames)."""
    audio: bool = True
    """Add an AAC tone track."""
    audio_sample_rate: int = 48000
    """Audio sample rate, Hz."""
    audio_bitrate_kbps: int = 96
    """AAC bitrate, kilobits per second."""
    tone_hz: float = 1000.0
    """Frequency of the tone, Hz."""
    first_frame: int = 0
    """Number of the first frame."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.width % 2 or self.height % 2 or self.width < 160 or self.height < 96:
            raise ValueError(f"picture {self.width}x{self.height} must be even and at least 160x96")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be within 1..120, got {self.fps}")
        if self.video_codec not in ("h264", "hevc"):
            raise ValueError(f"video_codec must be h264 or hevc, got {self.video_codec!r}")
        if self.video_bitrate_kbps <= 0 or self.audio_bitrate_kbps <= 0:
            raise ValueError("bitrates must be positive")
        if self.gop_frames < 1:
            raise ValueError("gop_frames must be at least 1")
        if self.audio_sample_rate not in (44100, 48000):
            raise ValueError("audio_sample_rate must be 44100 or 48000")
        if self.first_frame < 0:
            raise ValueError("first_frame must not be negative")


@dataclass(slots=True, kw_only=True)
class SignalReport:
    """What a generator run did."""

    url: str
    frames_sent: int = 0
    """Video frames handed to the encoder."""
    audio_frames_sent: int = 0
    bytes_sent: int = 0
    """Bytes written to the output (muxed), where known (SRT and files; RTMP: 0)."""
    started_at: float = 0.0
    """Wall-clock time of the first frame (``time.time()``)."""
    duration_s: float = 0.0
    error: str | None = None
    """Why the run ended early, if it did."""
    send_ms: dict[int, int] = field(default_factory=dict)
    """Frame number -> the send time embedded in its picture (kept for the last 100,000 frames)."""


def _video_frame(config: SignalConfig, number: int, send_ms: int) -> av.VideoFrame:
    frame = av.VideoFrame(config.width, config.height, "yuv420p")
    y, u, v = frame.planes
    y.update(draw_luma(config.width, config.height, y.line_size, number, send_ms))
    grey = bytes([128]) * (u.line_size * (config.height // 2))
    u.update(grey)
    v.update(grey)
    frame.pts = number
    frame.time_base = fractions.Fraction(1, config.fps)
    return frame


def _tone(config: SignalConfig) -> Callable[[int], bytes]:
    rate = config.audio_sample_rate
    amplitude = 0.25 * 32767

    def samples(start: int) -> bytes:
        w = 2.0 * math.pi * config.tone_hz / rate
        return struct.pack(
            f"<{AAC_FRAME_SAMPLES}h",
            *(int(amplitude * math.sin(w * (start + i))) for i in range(AAC_FRAME_SAMPLES)),
        )

    return samples


class _TsChunker:
    """A writable file object for PyAV's MPEG-TS muxer that hands out 1316-byte payloads."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._buf = bytearray()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self._buf += data
        self.bytes += len(data)
        while len(self._buf) >= TS_PAYLOAD_BYTES:
            self._send(bytes(self._buf[:TS_PAYLOAD_BYTES]))
            del self._buf[:TS_PAYLOAD_BYTES]
        return len(data)

    def flush(self) -> None:
        """Send what is buffered, in whole 188-byte packets (a short SRT payload is legal)."""
        whole = len(self._buf) - len(self._buf) % TS_PACKET_BYTES
        if whole:
            self._send(bytes(self._buf[:whole]))
            del self._buf[:whole]

    def close(self) -> None:
        """Send everything left."""
        if self._buf:
            self._send(bytes(self._buf))
            self._buf.clear()


def _open_output(url: str, sink: Callable[[bytes], None] | None) -> tuple[Any, _TsChunker | None]:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "rtmp":
        return av.open(url, "w", format="flv", options={"flvflags": "no_duration_filesize"}), None
    if scheme == "srt":
        if sink is None:
            raise ValueError("srt:// output needs a payload sink (use publish())")
        chunker = _TsChunker(sink)
        return av.open(chunker, "w", format="mpegts", options={"flush_packets": "1"}), chunker
    return av.open(url, "w"), None


def generate(
    url: str,
    config: SignalConfig | None = None,
    *,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    ts_sink: Callable[[bytes], None] | None = None,
    realtime: bool = True,
) -> SignalReport:
    """Encode and send the signal to ``url`` until ``duration_s`` elapsed or ``stop`` is set (blocking).

    ``ts_sink`` receives the 1316-byte MPEG-TS payloads for ``srt://`` URLs (see :func:`publish`).
    ``realtime=False`` encodes as fast as possible (for files). Errors of the output (refused, reset)
    end the run and are reported in :attr:`SignalReport.error`, not raised; a bad config raises
    ``ValueError``.
    """
    config = config or SignalConfig()
    config.validate()
    report = SignalReport(url=url)
    total = None if duration_s is None else max(1, round(duration_s * config.fps))
    try:
        output, chunker = _open_output(url, ts_sink)
    except (av.FFmpegError, OSError) as exc:
        report.error = f"cannot open {url}: {exc}"
        return report
    try:
        codec = "libx264" if config.video_codec == "h264" else "libx265"
        options = {"g": str(config.gop_frames), "bf": "0", "preset": "veryfast", "tune": "zerolatency"}
        if codec == "libx265":
            options["x265-params"] = (
                f"keyint={config.gop_frames}:min-keyint={config.gop_frames}:bframes=0:log-level=error"
            )
        video = output.add_stream(codec, rate=config.fps, options=options)
        video.width, video.height, video.pix_fmt = config.width, config.height, "yuv420p"
        video.bit_rate = config.video_bitrate_kbps * 1000
        video.time_base = fractions.Fraction(1, config.fps)
        audio = None
        if config.audio:
            audio = output.add_stream("aac", rate=config.audio_sample_rate)
            audio.layout = "mono"
            audio.bit_rate = config.audio_bitrate_kbps * 1000
        tone = _tone(config)
        samples_sent = 0
        start = time.monotonic()
        report.started_at = time.time()
        i = 0
        while total is None or i < total:
            if stop is not None and stop.is_set():
                break
            if realtime:
                wait = start + i / config.fps - time.monotonic()
                if wait > 0:
                    if stop is not None:
                        if stop.wait(wait):
                            break
                    else:
                        time.sleep(wait)
            if audio is not None:
                # Audio runs two AAC frames ahead of the video: the muxer interleaves by timestamp and
                # holds a video packet until audio at least as late is queued, and the AAC encoder lags
                # its input by one frame; without the lead every video frame would wait up to 40 ms.
                due = (i + 1) * config.audio_sample_rate // config.fps + 2 * AAC_FRAME_SAMPLES
                while samples_sent < due:
                    frame = av.AudioFrame(format="s16", layout="mono", samples=AAC_FRAME_SAMPLES)
                    frame.planes[0].update(tone(samples_sent))
                    frame.sample_rate = config.audio_sample_rate
                    # Shifted by the encoder's priming delay so the first AAC packet has pts 0: otherwise
                    # the muxer shifts every stream to avoid a negative timestamp and video pts would no
                    # longer equal the frame number.
                    frame.pts = samples_sent + AAC_FRAME_SAMPLES
                    frame.time_base = fractions.Fraction(1, config.audio_sample_rate)
                    for packet in audio.encode(frame):
                        output.mux(packet)
                    samples_sent += AAC_FRAME_SAMPLES
                    report.audio_frames_sent += 1
            number = config.first_frame + i
            send_ms = int(time.time() * 1000) % (1 << 32)
            for packet in video.encode(_video_frame(config, number, send_ms)):
                output.mux(packet)
            if chunker is not None:
                chunker.flush()  # send the frame now rather than wait for a full 1316-byte payload
            report.send_ms[number] = send_ms
            if len(report.send_ms) > 100_000:
                report.send_ms.pop(next(iter(report.send_ms)))
            report.frames_sent += 1
            i += 1
        for packet in video.encode(None):
            output.mux(packet)
        if audio is not None:
            for packet in audio.encode(None):
                output.mux(packet)
    except (av.FFmpegError, OSError) as exc:
        report.error = f"output failed: {exc}"
        logger.info("signal to %s ended: %s", url, exc)
    finally:
        with contextlib.suppress(av.FFmpegError, OSError):
            output.close()
        if chunker is not None:
            chunker.close()
            report.bytes_sent = chunker.bytes
        report.duration_s = time.time() - report.started_at if report.started_at else 0.0
    return report


async def publish(
    url: str,
    config: SignalConfig | None = None,
    *,
    duration_s: float | None = None,
    on_listen: Callable[[int], None] | None = None,
) -> SignalReport:
    """Send the signal to ``url`` (``rtmp://``, ``srt://`` or a file) for ``duration_s`` seconds (``None``:
    until cancelled) and return what was sent.

    Encoding runs in a child process (``python -m mediaplane.media signal``): PyAV holds the GIL while
    FFmpeg does network I/O, which would freeze an RTMP server running in this process, and a child
    keeps the encoder's CPU off this process's event loop. For ``srt://`` the child writes MPEG-TS to a
    pipe and this process sends it with our SRT caller (or, for ``srt://...?mode=listener``, serves it
    to whoever calls the URL's address; ``on_listen`` learns the bound port, useful with port 0).
    Cancelling stops the child cleanly.
    Raises ``ValueError`` for a bad config and the SRT caller's errors when it cannot connect.
    """
    config = config or SignalConfig()
    config.validate()
    srt = urllib.parse.urlsplit(url).scheme == "srt"
    args = [
        sys.executable,
        "-m",
        "mediaplane.media",
        "signal",
        "-" if srt else url,
        "--config",
        json.dumps(_config_dict(config)),
    ]
    if duration_s is not None:
        args += ["--duration", repr(duration_s)]
    if not srt:
        child = await asyncio.create_subprocess_exec(*args, stderr=asyncio.subprocess.PIPE, env=child_env())
        return await _finish_child(child, url, child.wait())
    from .srtio import open_srt_sender

    async with open_srt_sender(url, on_listen=on_listen) as send:
        child = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env()
        )
        assert child.stdout is not None
        stdout = child.stdout

        async def pump() -> None:
            # Forward whole 188-byte TS packets as soon as they come (the child flushes after every
            # frame), at most 1316 bytes per SRT payload; a partial packet waits for its rest.
            pending = b""
            while chunk := await stdout.read(65536):
                pending += chunk
                whole = len(pending) - len(pending) % TS_PACKET_BYTES
                for i in range(0, whole, TS_PAYLOAD_BYTES):
                    send(pending[i : min(i + TS_PAYLOAD_BYTES, whole)])
                pending = pending[whole:]
            if pending:
                send(pending)

        return await _finish_child(child, url, pump())


def _config_dict(config: SignalConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


async def _finish_child(child: asyncio.subprocess.Process, url: str, work: Awaitable[Any]) -> SignalReport:
    assert child.stderr is not None
    stderr_task = asyncio.ensure_future(child.stderr.read())
    try:
        await work
        await child.wait()
    except asyncio.CancelledError:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)  # the child stops at the next frame and closes its output
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.wait(), 5.0)
            if child.returncode is None:
                child.kill()
                await child.wait()
        stderr_task.cancel()
        raise
    err = await stderr_task
    return _parse_report(url, err.decode(errors="replace"), child.returncode)


REPORT_PREFIX = "SIGNAL-REPORT "


def _parse_report(url: str, stderr: str, returncode: int | None) -> SignalReport:
    for line in reversed(stderr.splitlines()):
        if line.startswith(REPORT_PREFIX):
            data = json.loads(line[len(REPORT_PREFIX) :])
            data["url"] = url
            data["send_ms"] = {int(k): v for k, v in data.get("send_ms", {}).items()}
            return SignalReport(**data)
    tail = stderr.strip().splitlines()[-3:]
    return SignalReport(url=url, error=f"signal process exited with {returncode}: {' | '.join(tail)}")


def main(argv: list[str] | None = None) -> int:
    """``python -m mediaplane.media signal URL|- [--duration S] [--config JSON]``: run the generator;
    ``-`` writes MPEG-TS to stdout. The report goes to stderr as one ``SIGNAL-REPORT {json}`` line."""
    parser = argparse.ArgumentParser(prog="python -m mediaplane.media signal")
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--config", default="{}")
    parser.add_argument("--no-realtime", action="store_true")
    args = parser.parse_args(argv)
    config = SignalConfig(**json.loads(args.config))
    # With logging on, PyAV's errors carry FFmpeg's last error log line: an RTMP server's refusal.
    av.logging.set_level(av.logging.ERROR)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sink = None
    url = args.url
    if url == "-":
        out = sys.stdout.buffer

        def sink(payload: bytes) -> None:
            try:
                out.write(payload)
                out.flush()
            except BrokenPipeError:
                stop.set()

        url = "srt://stdout"
    report = generate(
        url, config, duration_s=args.duration, stop=stop, ts_sink=sink, realtime=not args.no_realtime
    )
    data = dataclasses.asdict(report)
    data.pop("url")
    data["send_ms"] = {str(k): v for k, v in list(report.send_ms.items())[-2000:]}
    print(REPORT_PREFIX + json.dumps(data), file=sys.stderr, flush=True)
    return 0 if report.error is None else 1
