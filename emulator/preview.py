"""Media preview: what a hub carries, remuxed (never transcoded) to fragmented MP4, and JPEG thumbnails.

Why PyAV and not hand-written MP4 boxes: an RTMP hub carries FLV-shaped messages whose AVC
configuration and NAL units already fit MP4 almost as they are, but an SRT hub carries MPEG-TS: PES
reassembly, Annex B to length-prefixed NAL units, SPS/PPS extraction and ADTS stripping would all have
to be written and kept right for every encoder. FFmpeg's demuxers and its ``mov`` muxer already do all
of it, for H.264, HEVC and AAC alike, and a remux costs little CPU (no decode, no encode: 20 s of 720p30
at 3 Mbit/s took 0.19 s of CPU from FLV and 0.09 s from MPEG-TS here, about 1 % of a core per viewer, so a
hand-written muxer would save little and cover less). So both
families take one path: the units are framed as the byte stream FFmpeg reads (FLV tags for RTMP, the
MPEG-TS payloads as they are for SRT), demuxed by PyAV and muxed with
``movflags=frag_keyframe+empty_moov+default_base_moof`` (an init segment, then one ``moof``+``mdat``
fragment per keyframe), which Media Source Extensions play as they come. The only thing done by hand
is the AAC AudioSpecificConfig of an ADTS stream (MPEG-TS), which MP4 needs in its init segment before
the first packet would let FFmpeg's ``aac_adtstoasc`` find it.

Threads and backpressure: a :class:`MediaSession` subscribes to the hub with a small bounded queue (the
hub drops its backlog and skips to the next keyframe when the preview falls behind: the hub and the
other subscribers never wait for it), a pump task on the event loop hands the units to a worker thread
through a bounded :class:`queue.Queue` (when that is full the pump drops units up to the next keyframe:
the loop never blocks), and the worker's output comes back to the loop as chunks, with a bounded number
in flight (a reader that stops reading stalls only its own worker). Nothing runs while nobody watches:
a session exists only for the request that made it.

The one place that reads the runtime's live state is :func:`live_endpoint_hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import queue
import struct
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from mediaplane.relay import Hub, HubSignal, HubUnit, Subscription
from mediaplane.relay.hub import UnitKind
from mediaplane.rtmp.message import MessageType

from .errors import NotFound
from .model.flow import Flow, Role
from .runtime import Runtime

__all__ = [
    "MEDIA_TIMEOUT_S",
    "EndpointNotFound",
    "EndpointNotLive",
    "LiveEndpoint",
    "MediaSession",
    "NoMedia",
    "codecs_from_init",
    "live_endpoint_hub",
    "preview_role",
    "split_init",
]

logger = logging.getLogger(__name__)

MEDIA_TIMEOUT_S = 10.0
"""How long a preview waits for its init segment (the first keyframe, then FFmpeg's probe) and a
thumbnail for its first decoded picture before answering 409 "no media"."""

SUBSCRIPTION_QUEUE_BYTES = 4 * 1024 * 1024
"""The preview's hub queue: past it the hub drops the preview's backlog and resumes it at a keyframe."""

WORKER_QUEUE_UNITS = 1024
"""Units waiting for the worker thread (several seconds of media); past it the pump drops to a keyframe."""

OUTPUT_CHUNKS_IN_FLIGHT = 64
"""MP4 chunks (up to 32 KiB each) written by the worker and not yet sent to the HTTP client."""

PROBE_OPTIONS = {"probesize": "1000000", "analyzeduration": "1000000"}
"""FFmpeg's stream probe: at most 1 MB or 1 s of media before the streams are known."""

FRAGMENT_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}

ADTS_HOLD_PACKETS = 250
"""Video packets a preview holds while it waits for an ADTS stream's first audio packet (10 s at 25 fps)."""

_FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"
"""FLV file header (audio and video flags, header size 9) and the first PreviousTagSize (0)."""

_MEDIA_TYPES = (MessageType.AUDIO, MessageType.VIDEO)
_POLL_S = 0.25
"""How often a blocked worker looks whether its session was closed."""


class EndpointNotFound(Exception):
    """No such flow, role or endpoint name (HTTP 404)."""


class EndpointNotLive(Exception):
    """The flow (or this endpoint of it) is not online (HTTP 409)."""


class NoMedia(Exception):
    """No media came within the timeout, or what came could not be read (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class LiveEndpoint:
    """What a preview reads: the hub, its family and the RTMP sequence headers in force."""

    hub: Hub
    rtmp: bool
    configs: Callable[[], list[HubUnit]]
    """The configuration units (RTMP sequence headers) to start with: the hub's own, or, for an input
    hub that keeps no cache, the flow hub's while that input is the one it forwards."""


def _flow(runtime: Runtime, flow_id: str) -> Flow:
    try:
        return runtime.manager.get_flow(flow_id)
    except NotFound:
        raise EndpointNotFound(f"no flow with id {flow_id!r}") from None


def preview_role(runtime: Runtime, flow_id: str, value: str) -> Role:
    """The role a preview URL names. Raises EndpointNotFound: for an unknown flow first, whatever the
    role (the order the answers have always had), then for anything but ``input`` or ``output``."""
    try:
        return Role(value)
    except ValueError:
        _flow(runtime, flow_id)
        raise EndpointNotFound(f"unknown role {value!r}: input or output") from None


def live_endpoint_hub(runtime: Runtime, flow_id: str, role: Role, name: str) -> LiveEndpoint:
    """The hub a preview of ``role`` ``name`` of flow ``flow_id`` reads.

    ``input``: that input's own hub; ``output``: the flow hub (what the output's players get). The only
    function that reads the runtime's live objects (``Runtime.live``: ``.inputs[i].config / .hub``,
    ``.outputs``, ``.hub``, ``.rtmp``, ``.active``). Raises EndpointNotFound, EndpointNotLive.
    """
    flow = _flow(runtime, flow_id)
    if role is Role.INPUT:
        if flow.input_named(name) is None:
            raise EndpointNotFound(f"flow {flow.name} has no input named {name!r}")
    elif name not in flow.outputs:
        raise EndpointNotFound(f"flow {flow.name} has no output named {name!r}")
    live = runtime.live.get(flow_id)
    if live is None or live.hub.closed:
        raise EndpointNotLive(f"flow {flow.name} is not online")
    if role is Role.OUTPUT:
        if name not in live.outputs:
            raise EndpointNotLive(f"output {name} of flow {flow.name} is not live")
        return LiveEndpoint(live.hub, live.rtmp, live.hub.config_units)
    li = next((i for i in live.inputs if i.config.name == name), None)
    if li is None or li.hub.closed:
        raise EndpointNotLive(f"input {name} of flow {flow.name} is not live")

    def configs() -> list[HubUnit]:
        own = li.hub.config_units()
        if own or live.active is not li:
            return own
        return live.hub.config_units()

    return LiveEndpoint(li.hub, live.rtmp, configs)


# -- framing --------------------------------------------------------------------------------------
def flv_tag(type_id: int, timestamp_ms: int, payload: bytes) -> bytes:
    """One FLV tag (E.4.1 of the FLV spec) and its PreviousTagSize, for an RTMP audio or video message."""
    size = len(payload)
    ts = timestamp_ms & 0xFFFFFFFF
    header = struct.pack(">B3s3sB3s", type_id, size.to_bytes(3, "big"), (ts & 0xFFFFFF).to_bytes(3, "big"),
                         ts >> 24, b"\x00\x00\x00")  # fmt: skip
    return header + payload + struct.pack(">I", size + 11)


def _unit_bytes(unit: HubUnit, rtmp: bool) -> bytes | None:
    """What the worker reads for ``unit``: an FLV tag (RTMP media), the TS payload (SRT), or None."""
    if not rtmp:
        payload = unit.payload
        return bytes(payload) if isinstance(payload, (bytes, bytearray, memoryview)) else None
    message = unit.payload
    type_id = getattr(message, "type_id", None)
    if type_id not in _MEDIA_TYPES:
        return None  # metadata and data messages: FFmpeg needs neither
    return flv_tag(int(type_id), int(message.timestamp), bytes(message.payload))


# -- MP4 boxes ------------------------------------------------------------------------------------
def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, body start, box end) of the boxes in ``data[start:end]`` (ISO/IEC 14496-12, 4.2)."""
    end = len(data) if end is None else end
    out = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            break
        out.append((kind, body, pos + size))
        pos += size
    return out


def split_init(data: bytes) -> int | None:
    """Length of the init segment (``ftyp`` and ``moov``) at the start of ``data``; None while incomplete."""
    for kind, _body, end in _boxes(data):
        if kind == b"moov":
            return end
    return None


def _descriptor(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, body start, body end) of an MPEG-4 descriptor (ISO/IEC 14496-1, 8.3.3)."""
    tag = data[pos]
    pos += 1
    length = 0
    for _ in range(4):
        b = data[pos]
        pos += 1
        length = (length << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    return tag, pos, pos + length


def _mp4a_codec(esds: bytes) -> str:
    """``mp4a.40.<audio object type>`` from an ``esds`` body (version and flags first)."""
    tag, pos, end = _descriptor(esds, 4)
    if tag != 0x03:
        return "mp4a.40.2"
    flags = esds[pos + 2]
    pos += 3
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        pos += 1 + esds[pos]
    if flags & 0x20:
        pos += 2
    tag, pos, end = _descriptor(esds, pos)
    if tag != 0x04:
        return "mp4a.40.2"
    oti = esds[pos]
    info = pos + 13
    if oti != 0x40 or info >= end:
        return f"mp4a.{oti:02X}"
    tag, pos, _ = _descriptor(esds, info)
    aot = esds[pos] >> 3
    if aot == 31:  # escape: 32 + the next six bits
        aot = 32 + (((esds[pos] & 0x07) << 3) | (esds[pos + 1] >> 5))
    return f"mp4a.40.{aot}"


def _hevc_codec(entry: str, hvcc: bytes) -> str:
    """RFC 6381 / ISO/IEC 14496-15 E.3 string of an ``hvcC`` box body."""
    general = hvcc[1]
    space = "ABC"[(general >> 6) - 1] if general >> 6 else ""
    profile = general & 0x1F
    compat = int.from_bytes(hvcc[2:6], "big")
    compat_rev = int(f"{compat:032b}"[::-1], 2)
    tier = "H" if general & 0x20 else "L"
    level = hvcc[12]
    constraints = bytes(hvcc[6:12]).rstrip(b"\x00")
    tail = "".join(f".{b:X}" for b in constraints)
    return f"{entry}.{space}{profile}.{compat_rev:X}.{tier}{level}{tail}"


def codecs_from_init(init: bytes) -> str:
    """The MSE codec string (RFC 6381) of an MP4 init segment: ``avc1.PPCCLL`` from its ``avcC``
    (profile, constraints and level of the real SPS), ``mp4a.40.N`` from its ``esds`` (the AAC audio
    object type), ``hvc1...`` from ``hvcC``; the tracks in their order, joined by commas."""
    codecs: list[str] = []

    def walk(start: int, end: int) -> None:
        for kind, body, box_end in _boxes(init, start, end):
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
                walk(body, box_end)
            elif kind == b"stsd":
                for entry, ebody, eend in _boxes(init, body + 8, box_end):
                    name = entry.decode("latin-1")
                    if entry in (b"avc1", b"avc3", b"hvc1", b"hev1"):
                        children = dict((k, (b, e)) for k, b, e in _boxes(init, ebody + 78, eend))
                        if b"avcC" in children:
                            b, _e = children[b"avcC"]
                            codecs.append(f"{name}.{init[b + 1 : b + 4].hex()}")
                        elif b"hvcC" in children:
                            b, e = children[b"hvcC"]
                            codecs.append(_hevc_codec(name, init[b:e]))
                        else:
                            codecs.append(name)
                    elif entry == b"mp4a":
                        children = dict((k, (b, e)) for k, b, e in _boxes(init, ebody + 28, eend))
                        if b"esds" in children:
                            b, e = children[b"esds"]
                            codecs.append(_mp4a_codec(init[b:e]))
                        else:
                            codecs.append("mp4a.40.2")
                    else:
                        codecs.append(name)

    walk(0, len(init))
    return ",".join(codecs)


# -- the worker's IO ------------------------------------------------------------------------------
class _Stopped(Exception):
    """The session was closed while its worker waited."""


class _UnitReader:
    """The worker's input: a file-like ``read(n)`` over the chunks the pump queues (b"" at the end)."""

    def __init__(self, chunks: queue.Queue[bytes | None], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._left = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._left and not self._ended:
            if self._stop.is_set():
                raise _Stopped
            try:
                chunk = self._chunks.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if chunk is None:
                self._ended = True
            else:
                self._left = chunk
        if size < 0 or size >= len(self._left):
            out, self._left = self._left, b""
        else:
            out, self._left = self._left[:size], self._left[size:]
        return out


class _ChunkWriter:
    """The worker's output: a file-like ``write`` that hands each chunk to the loop, at most
    OUTPUT_CHUNKS_IN_FLIGHT unsent at a time (the worker waits for the HTTP client, never the loop)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, out: asyncio.Queue[bytes | None], stop: threading.Event
    ) -> None:
        self._loop = loop
        self._out = out
        self._stop = stop
        self.credit = threading.Semaphore(OUTPUT_CHUNKS_IN_FLIGHT)

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        while not self.credit.acquire(timeout=_POLL_S):
            if self._stop.is_set():
                raise _Stopped
        self._loop.call_soon_threadsafe(self._out.put_nowait, chunk)
        return len(chunk)


# -- the workers (in a thread) ------------------------------------------------------------------
def _adts_config(packet: bytes) -> tuple[bytes, int] | None:
    """(AudioSpecificConfig, header length) of an ADTS frame (ISO/IEC 13818-7, 6.2), or None."""
    if len(packet) < 7 or packet[0] != 0xFF or packet[1] & 0xF6 != 0xF0:
        return None
    aot = (packet[2] >> 6) + 1
    freq = (packet[2] >> 2) & 0x0F
    channels = ((packet[2] & 0x01) << 2) | (packet[3] >> 6)
    asc = bytes([(aot << 3) | (freq >> 1), ((freq & 1) << 7) | (channels << 3)])
    return asc, 7 if packet[1] & 0x01 else 9


def _open_input(reader: _UnitReader, rtmp: bool) -> Any:
    import av

    return av.open(reader, format="flv" if rtmp else "mpegts", options=dict(PROBE_OPTIONS))


def remux_worker(reader: _UnitReader, writer: _ChunkWriter, rtmp: bool) -> None:
    """Demux what ``reader`` gives and mux it to fragmented MP4 into ``writer``, from the first video
    keyframe (audio-only: from the first packet). Packets are copied, never decoded. Raises NoMedia,
    av.FFmpegError (unreadable input) and _Stopped."""
    import av

    with contextlib.closing(_open_input(reader, rtmp)) as inp:
        video = next((s for s in inp.streams.video), None)
        audio = next((s for s in inp.streams.audio), None)
        sources = [s for s in (video, audio) if s is not None]
        if not sources:
            raise NoMedia("no audio or video stream in the source")
        adts = audio is not None and not audio.codec_context.extradata and audio.codec_context.name == "aac"
        asc: bytes | None = None
        out = av.open(writer, mode="w", format="mp4", options=dict(FRAGMENT_OPTIONS))
        targets: dict[bool, Any] | None = None  # is_audio -> output stream, made at the first packet
        pending: list[tuple[bool, Any]] = []

        def mux(is_audio: bool, packet: Any) -> None:
            assert targets is not None
            target = targets.get(is_audio)
            if target is None:
                return
            packet.stream = target
            try:
                out.mux(packet)
            except av.FFmpegError as exc:  # a timestamp going back, a broken packet: skip it
                logger.debug("preview: packet dropped: %s", exc)

        try:
            started = False
            for packet in inp.demux(sources):
                if packet.dts is None:
                    continue
                is_audio = audio is not None and packet.stream is audio
                if is_audio and adts:
                    raw = bytes(packet)
                    found = _adts_config(raw)
                    if found is None:
                        continue
                    asc = asc or found[0]
                    stripped = av.Packet(raw[found[1] :])
                    stripped.pts, stripped.dts = packet.pts, packet.dts
                    stripped.duration, stripped.time_base = packet.duration, packet.time_base
                    packet = stripped
                if not started:
                    if video is not None and (is_audio or not packet.is_keyframe):
                        continue  # start at a keyframe: the first fragment must be decodable
                    started = True
                if targets is None:
                    # MP4 writes its init segment at the first packet: an ADTS stream's AudioSpecificConfig
                    # must be known by then (a stream that never sends audio goes on without it).
                    pending.append((is_audio, packet))
                    if adts and asc is None and len(pending) < ADTS_HOLD_PACKETS:
                        continue
                    targets = {}
                    if video is not None:
                        targets[False] = out.add_stream_from_template(video)
                    if audio is not None and (not adts or asc is not None):
                        targets[True] = out.add_stream_from_template(audio)
                        if adts:
                            targets[True].codec_context.extradata = asc
                    for held in pending:
                        mux(*held)
                    pending.clear()
                    continue
                mux(is_audio, packet)
        finally:
            with contextlib.suppress(av.FFmpegError, _Stopped):
                if targets is not None:
                    out.close()


def jpeg_worker(reader: _UnitReader, rtmp: bool) -> tuple[bytes, int, int]:
    """Decode the first video picture ``reader`` gives and encode it as JPEG: (jpeg, width, height).
    Raises NoMedia, av.FFmpegError and _Stopped."""
    import av

    with contextlib.closing(_open_input(reader, rtmp)) as inp:
        video = next((s for s in inp.streams.video), None)
        if video is None:
            raise NoMedia("the source has no video stream")
        for frame in inp.decode(video):
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height = frame.width, frame.height
            encoder.pix_fmt = "yuvj420p"
            encoder.time_base = fractions.Fraction(1, 25)
            picture = frame.reformat(format="yuvj420p")
            picture.pts = 0
            data = b"".join(bytes(p) for p in [*encoder.encode(picture), *encoder.encode(None)])
            return data, frame.width, frame.height
    raise NoMedia("the source ended before a picture")


# -- a session: subscription, pump, worker --------------------------------------------------------
@dataclass(slots=True)
class _Result:
    value: Any = None
    error: BaseException | None = None


class MediaSession:
    """One preview or thumbnail reader of a hub: a bounded subscription, a pump task, a worker thread.

    ``async with MediaSession(hub, rtmp, name) as s:`` then :meth:`stream` (fragmented MP4 chunks until
    the source ends) or :meth:`thumbnail`. The stream ends when the hub closes (the flow stops) or its
    publisher leaves or changes (the viewer asks again for the new stream).
    """

    def __init__(self, endpoint: LiveEndpoint, name: str) -> None:
        self.endpoint = endpoint
        self.hub = endpoint.hub
        self.rtmp = endpoint.rtmp
        self.name = name
        self.units_dropped = 0
        self._stop = threading.Event()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=WORKER_QUEUE_UNITS)
        self._sub: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<MediaSession {self.name!r} on {self.hub.name!r}>"

    @property
    def dropped(self) -> int:
        """Units this viewer lost by falling behind: in the hub's queue or the worker's."""
        return self.units_dropped + (self._sub.units_dropped if self._sub is not None else 0)

    async def __aenter__(self) -> MediaSession:
        self._sub = self.hub.subscribe(f"preview {self.name}", max_queue_bytes=SUBSCRIPTION_QUEUE_BYTES)
        if self.rtmp:
            self._chunks.put_nowait(_FLV_HEADER)
            if not self.hub.config_units():  # a hub without a cache: prime with the headers in force
                for unit in self.endpoint.configs():
                    data = _unit_bytes(unit, True)
                    if data is not None:
                        self._chunks.put_nowait(data)
        self._pump = asyncio.get_running_loop().create_task(self._run_pump(self._sub), name=repr(self))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    def close(self) -> None:
        """Leave the hub and stop the worker (it notices within _POLL_S)."""
        self._stop.set()
        if self._sub is not None:
            self._sub.close()

    async def _run_pump(self, sub: Subscription) -> None:
        """Hub units -> the worker's queue, never waiting on the worker: when its queue is full the
        units up to the next keyframe are dropped (a decodable stream resumes there)."""
        to_keyframe = self.rtmp  # an RTMP stream starts at configs and a keyframe; MPEG-TS as it comes
        fed = False
        try:
            while True:
                item = await sub.get()
                if isinstance(item, HubSignal):
                    if item is HubSignal.CLOSED or fed:
                        break  # the flow stopped, or the stream fed so far is over (a new one starts)
                    continue  # a publisher arriving before any media: wait for its stream
                data = _unit_bytes(item, self.rtmp)
                if data is None:
                    continue
                config = item.kind in (UnitKind.AUDIO_CONFIG, UnitKind.VIDEO_CONFIG)
                if to_keyframe and not config:
                    if item.kind is not UnitKind.KEYFRAME:
                        self.units_dropped += 1
                        continue
                    to_keyframe = False
                try:
                    self._chunks.put_nowait(data)
                    fed = fed or not config
                except queue.Full:
                    self.units_dropped += 1
                    to_keyframe = True
        finally:
            self._end_input()

    def _end_input(self) -> None:
        while True:
            try:
                self._chunks.put_nowait(None)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._chunks.get_nowait()  # the worker is behind anyway: it ends a bit earlier

    def _start_worker(self, target: Callable[[], Any], done: Callable[[_Result], None]) -> None:
        def run() -> None:
            result = _Result()
            try:
                result.value = target()
            except _Stopped:
                pass
            except BaseException as exc:  # handed to the loop
                result.error = exc
            done(result)

        self._thread = threading.Thread(target=run, name=f"mcemu preview {self.name}", daemon=True)
        self._thread.start()

    async def stream(self) -> AsyncIterator[bytes]:
        """Fragmented MP4 as the worker writes it (the init segment first); ends with the source."""
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[bytes | None] = asyncio.Queue()
        writer = _ChunkWriter(loop, out, self._stop)
        reader = _UnitReader(self._chunks, self._stop)
        failed: list[BaseException] = []

        def done(result: _Result) -> None:
            if result.error is not None:
                failed.append(result.error)
            with contextlib.suppress(RuntimeError):  # the loop closed first
                loop.call_soon_threadsafe(out.put_nowait, None)

        self._start_worker(lambda: remux_worker(reader, writer, self.rtmp), done)
        while True:
            chunk = await out.get()
            if chunk is None:
                break
            writer.credit.release()
            yield chunk
        if failed and not isinstance(failed[0], EOFError):  # EOF: the source ended while probed
            logger.info("%r ended: %s", self, failed[0])

    async def thumbnail(self) -> tuple[bytes, int, int]:
        """The first picture of the stream as JPEG: (jpeg, width, height). Raises NoMedia."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Result] = loop.create_future()
        reader = _UnitReader(self._chunks, self._stop)

        def settle(result: _Result) -> None:
            if not fut.done():
                fut.set_result(result)

        def done(result: _Result) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, result)

        self._start_worker(lambda: jpeg_worker(reader, self.rtmp), done)
        result = await fut
        if result.error is not None:
            if isinstance(result.error, NoMedia):
                raise result.error
            raise NoMedia(f"the source could not be decoded: {result.error}") from result.error
        if result.value is None:
            raise NoMedia("the preview was stopped")
        value: tuple[bytes, int, int] = result.value
        return value
