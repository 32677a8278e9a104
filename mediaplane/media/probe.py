"""The stream probe: reads an ``rtmp://`` or ``srt://`` URL (or a file) and reports what arrived.

Reports codecs, frames received, and for our test signal (see :mod:`mediaplane.media.framecode`)
frames lost, duplicated and out of order, the end-to-end delay of every frame (sender wall clock in
the picture vs the probe's wall clock when the frame is decoded, so it includes encoding, transport,
relays, demuxing and decoding), bitrate, and for SRT the MPEG-TS continuity errors.

``rtmp://`` is read by FFmpeg's RTMP client through PyAV; ``srt://`` by our own SRT caller, whose
payloads go through a continuity checker and into PyAV's MPEG-TS demuxer. Entry points: :func:`probe`
(asyncio; demuxes and decodes in a child process) and :func:`probe_blocking` (in this process: fine for
files, but for ``rtmp://`` never in a thread of a process that serves that URL, since PyAV holds the
GIL during FFmpeg's network I/O). ``python -m mediaplane.media probe URL`` prints the report from a
shell. An instrument, never on the relay path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import queue
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import av
import av.logging

from .framecode import delay_ms, read_luma
from .signal import child_env

logger = logging.getLogger(__name__)

TS_PACKET_BYTES = 188
TS_SYNC_BYTE = 0x47
TS_NULL_PID = 0x1FFF


# -- pure analysis ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceStats:
    """What a sequence of received frame numbers says about the stream."""

    received: int
    first: int | None
    last: int | None
    lost: int
    """Numbers between the lowest and highest received that never arrived."""
    duplicated: int
    """Arrivals of a number already received."""
    out_of_order: int
    """First arrivals of a number lower than one received before it."""


def analyse_sequence(numbers: Iterable[int]) -> SequenceStats:
    """Count losses, duplicates and reordering in frame numbers in order of arrival."""
    seen: set[int] = set()
    duplicated = out_of_order = received = 0
    highest: int | None = None
    lowest: int | None = None
    first: int | None = None
    for n in numbers:
        received += 1
        if first is None:
            first = n
        if n in seen:
            duplicated += 1
            continue
        if highest is not None and n < highest:
            out_of_order += 1
        seen.add(n)
        highest = n if highest is None else max(highest, n)
        lowest = n if lowest is None else min(lowest, n)
    lost = 0 if highest is None or lowest is None else (highest - lowest + 1) - len(seen)
    return SequenceStats(
        received=received,
        first=first,
        last=highest,
        lost=lost,
        duplicated=duplicated,
        out_of_order=out_of_order,
    )


class TsContinuityChecker:
    """Counts MPEG-TS continuity-counter errors per PID (ISO/IEC 13818-1 section 2.4.3.3).

    Feed it payloads as they arrive (any multiple of 188 bytes, or not: a partial packet is kept).
    A packet whose counter is neither the previous + 1 (payload present) nor equal to it (a legal
    single duplicate, or no payload) counts as one error; the discontinuity indicator resets the PID.
    """

    def __init__(self) -> None:
        self._cc: dict[int, int] = {}
        self._dup: dict[int, bool] = {}
        self._partial = b""
        self.packets = 0
        self.errors = 0
        self.sync_errors = 0

    def feed(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
            self._partial = b""
        offset = 0
        end = len(data)
        while end - offset >= TS_PACKET_BYTES:
            if data[offset] != TS_SYNC_BYTE:
                self.sync_errors += 1
                nxt = data.find(bytes([TS_SYNC_BYTE]), offset + 1)
                if nxt < 0:
                    return
                offset = nxt
                continue
            self._packet(data, offset)
            offset += TS_PACKET_BYTES
        self._partial = data[offset:]

    def _packet(self, data: bytes, i: int) -> None:
        self.packets += 1
        pid = ((data[i + 1] & 0x1F) << 8) | data[i + 2]
        if pid == TS_NULL_PID:
            return
        afc = (data[i + 3] >> 4) & 0x3
        cc = data[i + 3] & 0x0F
        has_payload = bool(afc & 0x1)
        discontinuity = afc & 0x2 and data[i + 4] > 0 and bool(data[i + 5] & 0x80)
        prev = self._cc.get(pid)
        self._cc[pid] = cc
        if prev is None or discontinuity:
            self._dup[pid] = False
            return
        if not has_payload:
            if cc != prev:
                self.errors += 1
            return
        if cc == prev:
            if self._dup.get(pid):
                self.errors += 1  # only one duplicate is allowed
            self._dup[pid] = True
            return
        self._dup[pid] = False
        if cc != (prev + 1) % 16:
            self.errors += 1


def _percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100.0 * len(ordered)) - 1))]


# -- result ----------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class StreamInfo:
    """One elementary stream as the probe saw it."""

    index: int
    kind: str
    """``video``, ``audio`` or ``data``."""
    codec: str
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0

    def describe(self) -> str:
        if self.kind == "video":
            return f"#{self.index} video {self.codec} {self.width}x{self.height}"
        if self.kind == "audio":
            return f"#{self.index} audio {self.codec} {self.sample_rate} Hz {self.channels} ch"
        return f"#{self.index} {self.kind} {self.codec}"


@dataclass(slots=True, kw_only=True)
class ProbeResult:
    """What :func:`probe` measured."""

    url: str
    duration_s: float = 0.0
    """Time from the first to the last packet received, seconds."""
    error: str | None = None
    """Why reading ended early or failed (``None`` if it ran its full duration or to the stream's end)."""
    streams: list[StreamInfo] = field(default_factory=list)
    frames_received: int = 0
    """Video frames decoded."""
    frames_numbered: int = 0
    """Decoded frames with a readable test-signal code."""
    first_frame: int | None = None
    last_frame: int | None = None
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    audio_frames: int = 0
    """Audio packets received."""
    decode_errors: int = 0
    """Video packets the decoder refused (joining before a keyframe, damaged data)."""
    bytes_received: int = 0
    """Elementary-stream bytes (demuxed packets)."""
    ts_packets: int | None = None
    """MPEG-TS packets received (srt:// only)."""
    ts_continuity_errors: int | None = None
    """MPEG-TS continuity-counter errors (srt:// only)."""
    pts_offset_changes: int = 0
    """Frames whose ``pts`` (as a frame number) moved relative to the picture code: timestamp jumps."""
    delays_ms: list[int] = field(default_factory=list)
    """End-to-end delay of each numbered frame, milliseconds, in order of arrival."""
    frame_numbers: list[int] = field(default_factory=list)
    """Numbers of the numbered frames, in order of arrival."""
    recv_s: list[float] = field(default_factory=list)
    """When each numbered frame was decoded, seconds after the first one."""
    warmup_s: float = 0.5
    """Frames decoded this soon after the first one are the join burst (a GOP cache, the demuxer's
    stream analysis): :meth:`delay_percentile` leaves them out unless asked."""

    @property
    def video_codec(self) -> str | None:
        return next((s.codec for s in self.streams if s.kind == "video"), None)

    @property
    def audio_codec(self) -> str | None:
        return next((s.codec for s in self.streams if s.kind == "audio"), None)

    @property
    def bitrate_kbps(self) -> float:
        """Mean elementary-stream bitrate over :attr:`duration_s`, kilobits per second."""
        return self.bytes_received * 8 / self.duration_s / 1000.0 if self.duration_s > 0 else 0.0

    def live_delays_ms(self) -> list[int]:
        """Delays of the frames decoded after the join burst (see :attr:`warmup_s`)."""
        return [d for d, t in zip(self.delays_ms, self.recv_s, strict=False) if t >= self.warmup_s]

    def delay_percentile(self, p: float, *, include_join: bool = False) -> float | None:
        """The ``p``-th percentile (nearest rank) of the end-to-end delays in milliseconds, over the frames
        after the join burst (or over all with ``include_join``); ``None`` without any."""
        delays = self.delays_ms if include_join else self.live_delays_ms()
        if not delays:
            return None
        return _percentile(sorted(delays), p)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for JSON."""
        return {
            "url": self.url,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "streams": [s.describe() for s in self.streams],
            "frames_received": self.frames_received,
            "frames_numbered": self.frames_numbered,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "audio_frames": self.audio_frames,
            "decode_errors": self.decode_errors,
            "bytes_received": self.bytes_received,
            "bitrate_kbps": round(self.bitrate_kbps, 1),
            "ts_packets": self.ts_packets,
            "ts_continuity_errors": self.ts_continuity_errors,
            "pts_offset_changes": self.pts_offset_changes,
            "delay_ms": {
                name: self.delay_percentile(p)
                for name, p in (("min", 0), ("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
            },
            "join_delay_ms_max": self.delay_percentile(100, include_join=True),
        }

    def to_wire(self) -> dict[str, Any]:
        """Every field (including per-frame delays) as plain types; :meth:`from_wire` reverses it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ProbeResult:
        data = dict(data)
        data["streams"] = [StreamInfo(**s) for s in data.get("streams", [])]
        return cls(**data)

    def format(self) -> str:
        """A human-readable report (what ``mcemu probe`` prints)."""
        lines = [f"probe {self.url}"]
        lines.append(
            f"  duration      {self.duration_s:.2f} s" + (f"  (ended: {self.error})" if self.error else "")
        )
        for s in self.streams:
            lines.append(f"  stream        {s.describe()}  {s.packets} packets")
        lines.append(f"  bitrate       {self.bitrate_kbps:.0f} kbit/s ({self.bytes_received} bytes)")
        lines.append(f"  video frames  {self.frames_received} decoded, {self.frames_numbered} numbered")
        if self.frames_numbered:
            lines.append(f"  numbers       {self.first_frame} .. {self.last_frame}")
            lines.append(
                f"  lost {self.lost}  duplicated {self.duplicated}  out of order {self.out_of_order}"
                f"  pts jumps {self.pts_offset_changes}"
            )
        lines.append(f"  audio frames  {self.audio_frames}  decode errors {self.decode_errors}")
        if self.ts_continuity_errors is not None:
            lines.append(
                f"  mpeg-ts       {self.ts_packets} packets, {self.ts_continuity_errors} continuity errors"
            )
        if self.delays_ms and not self.live_delays_ms():
            lines.append(
                f"  delay ms      only join-burst frames (first {self.warmup_s:g} s): max"
                f" {self.delay_percentile(100, include_join=True)}"
            )
        elif self.delays_ms:
            d = self.to_dict()
            live = d["delay_ms"]
            lines.append(
                f"  delay ms      min {live['min']}  p50 {live['p50']}  p90 {live['p90']}  p99 {live['p99']}"
                f"  max {live['max']}  (after the first {self.warmup_s:g} s; join burst max"
                f" {d['join_delay_ms_max']})"
            )
        return "\n".join(lines)


# -- reading ---------------------------------------------------------------------------------------


class _PayloadReader:
    """A blocking file-like object fed from another thread (SRT payloads -> PyAV's demuxer)."""

    def __init__(self, *, idle_timeout_s: float = 10.0, stall_timeout_s: float | None = None) -> None:
        self._q: queue.Queue[bytes | None] = queue.Queue()
        self._buf = b""
        self._eof = False
        self.idle_timeout_s = idle_timeout_s
        """How long to wait for the first payload."""
        self.stall_timeout_s = idle_timeout_s if stall_timeout_s is None else stall_timeout_s
        """How long to wait for more once payloads have flowed (a stalled stream ends the read)."""
        self._started = False
        self.deadline: float | None = None
        """``time.monotonic()`` past which reads report the end of the input (the probe's duration)."""
        self.stop = threading.Event()
        self.ended = False
        """Set once the demuxer has been told the input ended (frames decoded after it were flushed)."""
        self.checker = TsContinuityChecker()

    def put(self, data: bytes | None) -> None:
        if data is not None:
            self.checker.feed(data)
        self._q.put(data)

    def read(self, size: int = -1) -> bytes:
        idle_since = time.monotonic()
        while not self._buf and not self._eof:
            limit = self.stall_timeout_s if self._started else self.idle_timeout_s
            now = time.monotonic()
            late = self.deadline is not None and now > self.deadline
            if self.stop.is_set() or late or now - idle_since > limit:
                self.ended = True
                return b""  # end of stream for the demuxer
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                self._eof = self.ended = True
            else:
                self._buf = item
                self._started = True
        n = len(self._buf) if size < 0 else size
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def probe_blocking(
    url: str,
    duration_s: float = 5.0,
    *,
    timeout_s: float = 10.0,
    stop: threading.Event | None = None,
    source: Any = None,
    fps: float | None = None,
) -> ProbeResult:
    """Read ``url`` for ``duration_s`` seconds (blocking; run it in a thread).

    ``source`` replaces the URL as what PyAV opens (a file-like object, e.g. fed by an SRT receiver; it
    is then read as MPEG-TS). ``timeout_s`` bounds opening and each read. ``fps`` converts pts to frame
    numbers (default: the stream's frame rate). Never raises for stream problems: they end up in
    :attr:`ProbeResult.error`.
    """
    result = ProbeResult(url=url)
    options = {"analyzeduration": "1000000", "probesize": "1000000"}
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "rtmp":
        options["rtmp_live"] = "live"
    # A stream that stalls ends the probe about when its duration is up, not timeout_s later.
    timeouts = (timeout_s, min(timeout_s, duration_s + 1.0))
    try:
        if source is not None:
            container = av.open(source, "r", format="mpegts", options=options, timeout=timeouts)
        else:
            container = av.open(url, "r", options=options, timeout=timeouts)
    except (av.FFmpegError, OSError) as exc:
        result.error = f"cannot open: {exc}"
        return result
    numbers: list[int] = []
    first_decoded: float | None = None
    offset: int | None = None
    first_packet = last_packet = 0.0
    deadline = time.monotonic() + duration_s
    if isinstance(source, _PayloadReader):
        source.deadline = deadline  # a stalled input must not hold the probe past its duration
    infos: dict[int, StreamInfo] = {}
    try:
        for stream in container.streams:
            cc = stream.codec_context
            info = StreamInfo(index=stream.index, kind=stream.type, codec=cc.name if cc else "none")
            if stream.type == "video":
                info.width, info.height = cc.width, cc.height
            elif stream.type == "audio":
                info.sample_rate, info.channels = cc.sample_rate, cc.channels
            infos[stream.index] = info
            result.streams.append(info)
        video = next((s for s in container.streams if s.type == "video"), None)
        rate = fps or (float(video.average_rate) if video is not None and video.average_rate else 25.0)
        for packet in container.demux():
            now = time.monotonic()
            if packet.size == 0 and packet.pts is None:
                continue  # flush packet at the end
            if not first_packet:
                first_packet = now
            last_packet = now
            seen = infos.get(packet.stream.index)
            if seen is not None:
                seen.packets += 1
                seen.bytes += packet.size
                seen.keyframes += int(packet.is_keyframe)
            result.bytes_received += packet.size
            if packet.stream.type == "audio":
                result.audio_frames += 1
            elif packet.stream.type == "video":
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    # Joining mid-stream (no parameter sets or reference yet) or a damaged packet: the
                    # decoder recovers at the next keyframe.
                    result.decode_errors += 1
                    continue
                for frame in frames:
                    result.frames_received += 1
                    recv_ms = int(time.time() * 1000) % (1 << 32)
                    plane = frame.planes[0]
                    code = read_luma(memoryview(plane), frame.width, frame.height, plane.line_size)
                    if code is None:
                        continue
                    number, send_ms = code
                    numbers.append(number)
                    # A frame flushed out by the end of the input has a delay that says nothing.
                    if not getattr(source, "ended", False):
                        result.delays_ms.append(delay_ms(recv_ms, send_ms))
                        decoded_at = time.monotonic()
                        if first_decoded is None:
                            first_decoded = decoded_at
                        result.recv_s.append(round(decoded_at - first_decoded, 4))
                    if frame.pts is not None and frame.time_base is not None:
                        pts_number = round(float(frame.pts * frame.time_base) * rate)
                        if offset is None:
                            offset = number - pts_number
                        elif number - pts_number != offset:
                            result.pts_offset_changes += 1
                            offset = number - pts_number
            if now >= deadline or (stop is not None and stop.is_set()):
                break
    except (av.FFmpegError, OSError) as exc:
        result.error = f"read failed: {exc}"
    finally:
        with contextlib.suppress(av.FFmpegError, OSError):
            container.close()
    for info in result.streams:  # dimensions known once decoding started
        if info.kind == "video" and video is not None and not info.width:
            info.width, info.height = video.codec_context.width, video.codec_context.height
    stats = analyse_sequence(numbers)
    result.frame_numbers = numbers
    result.frames_numbered = stats.received
    result.first_frame, result.last_frame = stats.first, stats.last
    result.lost, result.duplicated, result.out_of_order = stats.lost, stats.duplicated, stats.out_of_order
    result.duration_s = last_packet - first_packet if first_packet else 0.0
    return result


async def probe(
    url: str,
    duration_s: float = 5.0,
    *,
    timeout_s: float = 10.0,
    fps: float | None = None,
    on_listen: Callable[[int], None] | None = None,
) -> ProbeResult:
    """Read ``url`` (``rtmp://``, ``srt://`` or a file) for ``duration_s`` seconds and report.

    Demuxing and decoding run in a child process (``python -m mediaplane.media probe``): PyAV holds the
    GIL during FFmpeg's network I/O, which would freeze a server in this process, and decoding in a child
    keeps its CPU off this event loop (and off the delay it measures). For ``srt://`` this process
    receives with our SRT caller (or, for ``?mode=listener``, accepts a caller on the URL's address;
    ``on_listen`` learns the bound port), counts MPEG-TS continuity errors and pipes the payloads to
    the child; ``timeout_s`` then also bounds the wait for the first payload.
    Never raises for stream problems: they end up in :attr:`ProbeResult.error`. Cancelling stops it.
    """
    srt = urllib.parse.urlsplit(url).scheme == "srt"
    args = [sys.executable, "-m", "mediaplane.media", "probe", url, "--duration", repr(duration_s),
            "--timeout", repr(timeout_s), "--json"]  # fmt: skip
    if fps is not None:
        args += ["--fps", repr(fps)]
    if srt:
        args.append("--stdin-ts")
    env = child_env()
    child = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if srt else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    checker = TsContinuityChecker() if srt else None
    # Drain both pipes from the start: a child blocked on a full stderr pipe would never finish.
    assert child.stdout is not None and child.stderr is not None
    out_task = asyncio.ensure_future(child.stdout.read())
    err_task = asyncio.ensure_future(child.stderr.read())
    try:
        if srt:
            assert checker is not None
            error = await _feed_srt(url, child, checker, duration_s + timeout_s, on_listen)
        else:
            error = None
        out, err = await out_task, await err_task
        await child.wait()
    except asyncio.CancelledError:
        out_task.cancel()
        err_task.cancel()
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    try:
        result = ProbeResult.from_wire(json.loads(out))
    except (ValueError, KeyError, TypeError):
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        result = ProbeResult(
            url=url, error=f"probe process exited with {child.returncode}: {' | '.join(tail)}"
        )
    if checker is not None:
        result.ts_packets = checker.packets
        result.ts_continuity_errors = checker.errors
        # The SRT connection's own failure says more than the child's "End of file" when nothing came.
        if error and (not result.error or not result.bytes_received):
            result.error = error
    return result


async def _feed_srt(
    url: str,
    child: asyncio.subprocess.Process,
    checker: TsContinuityChecker,
    limit_s: float,
    on_listen: Callable[[int], None] | None,
) -> str | None:
    """Receive ``url`` and pipe every payload to the child until it exits (or ``limit_s``)."""
    from .srtio import open_srt_receiver

    stdin = child.stdin
    assert stdin is not None

    def on_payload(payload: bytes) -> None:
        checker.feed(payload)
        if not stdin.is_closing():
            stdin.write(payload)

    error = None
    try:
        async with open_srt_receiver(url, on_payload, on_listen=on_listen) as ended:
            waiter: asyncio.Future[Any] = asyncio.ensure_future(child.wait())
            done, _ = await asyncio.wait(
                {waiter, ended}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED
            )
            if ended in done and waiter not in done:
                error = "srt connection ended"
            waiter.cancel()
    except Exception as exc:  # any connection failure is the probe's finding, not ours
        error = f"srt: {type(exc).__name__}: {exc}"
    with contextlib.suppress(ConnectionError, RuntimeError):
        stdin.close()
    return error


def main(argv: list[str] | None = None) -> int:
    """``python -m mediaplane.media probe URL [--duration S] [--json] [--stdin-ts]``."""
    parser = argparse.ArgumentParser(prog="python -m mediaplane.media probe")
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--stdin-ts", action="store_true", help="read MPEG-TS from stdin (URL is a label)")
    args = parser.parse_args(argv)
    # With logging on, PyAV's errors carry FFmpeg's last error log line ("last error log: [rtmp] Server
    # error: ..."): an RTMP server's refusal is there, not in the errno.
    av.logging.set_level(av.logging.ERROR)
    source = None
    if args.stdin_ts:
        # As for rtmp://: a stream that stalls ends the probe about when its duration is up.
        source = _PayloadReader(
            idle_timeout_s=args.timeout, stall_timeout_s=min(args.timeout, args.duration + 1.0)
        )
        stdin = sys.stdin.buffer

        def pump() -> None:
            while chunk := os.read(stdin.fileno(), 65536):
                source.put(chunk)
            source.put(None)

        threading.Thread(target=pump, daemon=True).start()
    result = probe_blocking(args.url, args.duration, timeout_s=args.timeout, source=source, fps=args.fps)
    if source is not None:
        result.ts_packets = source.checker.packets
        result.ts_continuity_errors = source.checker.errors
    print(json.dumps(result.to_wire()) if args.json else result.format(), flush=True)
    return 0
