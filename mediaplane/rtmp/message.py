"""Typed RTMP messages on top of :class:`~mediaplane.rtmp.chunk.RawMessage` (RTMP spec sections 5.4, 6, 7).

:func:`parse_message` turns a raw message into one of the dataclasses below and :func:`serialize_payload`
does the reverse (golden tables test both ways). Media messages stay raw bytes: :class:`MediaMessage`
is what travels through a hub, classified once (:func:`classify_media`) and chunked once per
(chunk size, message stream id) however many players receive it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from .amf0 import decode_all, decode_amf3_command_values, encode_all, is_finite_number
from .chunk import RawMessage, encode_fmt0, fmt0_header_lengths
from .errors import ParseError

__all__ = [
    "Abort",
    "Acknowledgement",
    "AudioFourCC",
    "CommandMessage",
    "DataMessage",
    "MediaKind",
    "MediaMessage",
    "MessageType",
    "PeerBandwidthLimit",
    "RtmpMessage",
    "SetChunkSize",
    "SetPeerBandwidth",
    "UserControl",
    "UserControlEvent",
    "VideoFourCC",
    "WindowAckSize",
    "classify_media",
    "parse_message",
    "serialize_payload",
    "split_aggregate",
]


class MessageType(enum.IntEnum):
    """RTMP message type ids."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(enum.IntEnum):
    """User control event types (section 7.1.7)."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


class PeerBandwidthLimit(enum.IntEnum):
    HARD = 0
    SOFT = 1
    DYNAMIC = 2


class MediaKind(enum.IntEnum):
    """What a media message is for caching and keyframe skipping (values match ``UnitKind``)."""

    METADATA = 1
    AUDIO_CONFIG = 2
    VIDEO_CONFIG = 3
    KEYFRAME = 4
    FRAME = 5
    DATA = 6


class VideoFourCC(bytes, enum.Enum):
    """Enhanced RTMP video FourCCs (veovera enhanced-rtmp v1/v2)."""

    AVC = b"avc1"
    HEVC = b"hvc1"
    AV1 = b"av01"
    VP9 = b"vp09"
    VP8 = b"vp08"


class AudioFourCC(bytes, enum.Enum):
    """Enhanced RTMP audio FourCCs."""

    AAC = b"mp4a"
    OPUS = b"Opus"
    FLAC = b"fLaC"
    AC3 = b"ac-3"
    EAC3 = b"ec-3"
    MP3 = b".mp3"


MAX_SET_CHUNK_SIZE = 0x7FFFFFFF
AGGREGATE_TAG_HEADER_BYTES = 11
"""FLV tag header inside an aggregate message: type, size (3), timestamp (3 + 1 extended), stream id (3)."""
AGGREGATE_BACK_POINTER_BYTES = 4
_U32 = struct.Struct(">I")


@dataclass(frozen=True, slots=True, kw_only=True)
class SetChunkSize:
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Abort:
    csid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgement:
    sequence_number: int
    """Bytes received so far, modulo 2**32."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowAckSize:
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPeerBandwidth:
    size: int
    limit: PeerBandwidthLimit


@dataclass(frozen=True, slots=True, kw_only=True)
class UserControl:
    event: UserControlEvent
    stream_id: int = 0
    """Stream id (StreamBegin/EOF/Dry/IsRecorded/SetBufferLength) or timestamp (Ping)."""
    buffer_ms: int = 0
    """SetBufferLength only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandMessage:
    """A NetConnection / NetStream command: name, transaction id, command object, arguments."""

    name: str
    transaction_id: float
    command_object: Any = None
    args: tuple[Any, ...] = ()
    amf3: bool = False
    """Arrived as an AMF3 command (type 17); always written back as AMF0."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DataMessage:
    """An AMF0 data message (``@setDataFrame``, ``onMetaData``, ``onCuePoint``...) as values."""

    values: tuple[Any, ...]


class MediaMessage:
    """An audio, video or data message that passes through byte for byte.

    ``chunked()`` caches the chunked bytes per (chunk size, message stream id): a hub fans one object
    out to every player, so a message is chunked once whatever the number of players. Once chunked,
    the message keeps only those bytes (they hold the payload between their chunk headers) and
    ``payload`` is joined from them again when asked for, so a hub's cache holds each message once.
    """

    __slots__ = ("_chunked", "_layout", "_length", "_payload", "kind", "timestamp", "type_id")

    CSID_BY_TYPE: ClassVar[dict[int, int]] = {
        MessageType.AUDIO: 4,
        MessageType.VIDEO: 6,
        MessageType.DATA_AMF0: 5,
    }
    """Fixed chunk stream per kind for pre-chunked bytes (nginx-rtmp and ffmpeg use the same split)."""

    def __init__(self, *, type_id: int, timestamp: int, payload: bytes, kind: MediaKind) -> None:
        self.type_id = type_id
        self.timestamp = timestamp
        self.kind = kind
        self._payload: bytes | None = payload
        self._length = len(payload)
        self._chunked: dict[tuple[int, int], bytes] = {}
        self._layout: tuple[bytes, int, int, int] | None = None
        """(chunked bytes, first header length, chunk size, continuation header length) of the
        chunking the payload can be joined from once it was let go."""

    @property
    def payload(self) -> bytes:
        """The message body (joined from the chunked bytes again if the message was chunked)."""
        payload = self._payload
        if payload is not None:
            return payload
        assert self._layout is not None
        data, first, size, cont = self._layout
        view = memoryview(data)
        pieces = [view[first : first + size]]
        pos = first + size + cont
        while pos < len(data):
            pieces.append(view[pos : pos + size])
            pos += size + cont
        return b"".join(pieces)

    @property
    def size(self) -> int:
        """Length of the payload in bytes."""
        return self._length

    def chunked(self, chunk_size: int, stream_id: int) -> bytes:
        """This message as format-0-first chunks on its fixed chunk stream, cached."""
        key = (chunk_size, stream_id)
        data = self._chunked.get(key)
        if data is None:
            csid = self.CSID_BY_TYPE.get(self.type_id, 7)
            data = self._chunked[key] = encode_fmt0(
                csid=csid,
                timestamp=self.timestamp,
                type_id=self.type_id,
                stream_id=stream_id,
                payload=self.payload,
                chunk_size=chunk_size,
            )
            if self._payload is not None:
                first, cont = fmt0_header_lengths(csid=csid, timestamp=self.timestamp)
                self._layout = (data, first, chunk_size, cont)
                self._payload = None
        return data

    def __repr__(self) -> str:
        return (
            f"MediaMessage(type_id={self.type_id}, timestamp={self.timestamp}, kind={self.kind.name}, "
            f"payload=<{self._length} bytes>)"
        )


RtmpMessage: TypeAlias = (
    SetChunkSize
    | Abort
    | Acknowledgement
    | WindowAckSize
    | SetPeerBandwidth
    | UserControl
    | CommandMessage
    | DataMessage
    | MediaMessage
)

ENHANCED_VIDEO_FLAG = 0x80
"""Enhanced RTMP: the IsExHeader bit of the first video byte."""
ENHANCED_AUDIO_FORMAT = 9
"""Enhanced RTMP: SoundFormat value announcing an extended audio header."""
FRAME_TYPE_KEY = 1
FRAME_TYPE_COMMAND = 5
AVC_CODEC_IDS = (7, 12)
"""Legacy FLV codec ids whose second byte is an AVCPacketType (7 = AVC, 12 = HEVC as some encoders use)."""
AAC_SOUND_FORMAT = 10
EX_VIDEO_SEQUENCE_START = 0
EX_VIDEO_SEQUENCE_END = 2
AVC_SEQUENCE_HEADER = 0
AVC_END_OF_SEQUENCE = 2
EX_VIDEO_MULTITRACK = 6
EX_AUDIO_SEQUENCE_START = 0


def classify_media(type_id: int, payload: bytes) -> MediaKind:
    """The :class:`MediaKind` of an audio, video or (already unwrapped) data message payload.

    Understands legacy FLV tags (AVC/HEVC/AAC) and enhanced RTMP extended headers (FourCC video and
    audio). End-of-sequence markers are plain frames even when flagged "key". Never raises: what it
    cannot read is an ordinary FRAME (or DATA for data messages).
    """
    if type_id == MessageType.VIDEO:
        if not payload:
            return MediaKind.FRAME
        first = payload[0]
        if first & ENHANCED_VIDEO_FLAG:
            frame_type = (first >> 4) & 0x07
            packet_type = first & 0x0F
            if packet_type == EX_VIDEO_SEQUENCE_START:
                return MediaKind.VIDEO_CONFIG
            if frame_type == FRAME_TYPE_KEY and packet_type != EX_VIDEO_SEQUENCE_END:
                return MediaKind.KEYFRAME
            return MediaKind.FRAME
        frame_type, codec_id = first >> 4, first & 0x0F
        if codec_id in AVC_CODEC_IDS and len(payload) > 1:
            if payload[1] == AVC_SEQUENCE_HEADER:
                return MediaKind.VIDEO_CONFIG
            if payload[1] == AVC_END_OF_SEQUENCE:
                return MediaKind.FRAME  # flagged "key" by muxers, but nothing can be decoded from it
        if frame_type == FRAME_TYPE_KEY:
            return MediaKind.KEYFRAME
        return MediaKind.FRAME
    if type_id == MessageType.AUDIO:
        if len(payload) < 2:
            return MediaKind.FRAME
        sound_format = payload[0] >> 4
        if sound_format == AAC_SOUND_FORMAT and payload[1] == 0:
            return MediaKind.AUDIO_CONFIG
        if sound_format == ENHANCED_AUDIO_FORMAT and payload[0] & 0x0F == EX_AUDIO_SEQUENCE_START:
            return MediaKind.AUDIO_CONFIG
        return MediaKind.FRAME
    return MediaKind.DATA


# -- parsing -----------------------------------------------------------------------------------
def _need(payload: bytes, count: int, what: str) -> None:
    if len(payload) < count:
        raise ParseError(f"truncated {what} message")


def _command_from_values(values: list[Any], *, amf3: bool) -> CommandMessage:
    if not values or not isinstance(values[0], str):
        raise ParseError("malformed command message")
    # ffmpeg's listen mode sends onFCPublish with no transaction id: tolerate a missing one.
    has_txn = len(values) > 1 and is_finite_number(values[1])
    rest = values[2:] if has_txn else values[1:]
    return CommandMessage(
        name=values[0],
        transaction_id=float(values[1]) if has_txn else 0.0,
        command_object=rest[0] if rest else None,
        args=tuple(rest[1:]),
        amf3=amf3,
    )


def parse_message(raw: RawMessage) -> RtmpMessage | None:
    """The typed form of ``raw``; None for message types we ignore (shared objects, aggregates).

    Raises :class:`ParseError` with a stable message (``"truncated <kind> message"``,
    ``"invalid chunk size"``, ``"malformed command message"``, or an AMF0 error).
    """
    t = raw.type_id
    p = raw.payload
    if t == MessageType.AUDIO or t == MessageType.VIDEO:
        return MediaMessage(type_id=t, timestamp=raw.timestamp, payload=p, kind=classify_media(t, p))
    if t == MessageType.COMMAND_AMF0:
        return _command_from_values(decode_all(p), amf3=False)
    if t == MessageType.COMMAND_AMF3:
        return _command_from_values(decode_amf3_command_values(p), amf3=True)
    if t == MessageType.DATA_AMF0 or t == MessageType.DATA_AMF3:
        values = decode_all(p) if t == MessageType.DATA_AMF0 else decode_amf3_command_values(p)
        return DataMessage(values=tuple(values))
    if t == MessageType.SET_CHUNK_SIZE:
        _need(p, 4, "set chunk size")
        size = _U32.unpack_from(p)[0]
        if not 1 <= size <= MAX_SET_CHUNK_SIZE:
            raise ParseError("invalid chunk size")
        return SetChunkSize(size=size)
    if t == MessageType.ABORT:
        _need(p, 4, "abort")
        return Abort(csid=_U32.unpack_from(p)[0])
    if t == MessageType.ACKNOWLEDGEMENT:
        _need(p, 4, "acknowledgement")
        return Acknowledgement(sequence_number=_U32.unpack_from(p)[0])
    if t == MessageType.WINDOW_ACK_SIZE:
        _need(p, 4, "window acknowledgement size")
        return WindowAckSize(size=_U32.unpack_from(p)[0])
    if t == MessageType.SET_PEER_BANDWIDTH:
        _need(p, 5, "set peer bandwidth")
        try:
            limit = PeerBandwidthLimit(p[4])
        except ValueError as exc:
            raise ParseError("invalid peer bandwidth limit type") from exc
        return SetPeerBandwidth(size=_U32.unpack_from(p)[0], limit=limit)
    if t == MessageType.USER_CONTROL:
        _need(p, 2, "user control")
        try:
            event = UserControlEvent(int.from_bytes(p[:2], "big"))
        except ValueError:
            return None  # unknown user control events are ignored, as every server does
        if event == UserControlEvent.SET_BUFFER_LENGTH:
            _need(p, 10, "user control")
            return UserControl(
                event=event, stream_id=_U32.unpack_from(p, 2)[0], buffer_ms=_U32.unpack_from(p, 6)[0]
            )
        _need(p, 6, "user control")
        return UserControl(event=event, stream_id=_U32.unpack_from(p, 2)[0])
    return None


def split_aggregate(raw: RawMessage) -> list[RawMessage]:
    """The audio, video and data messages inside an aggregate message (type 22, RTMP spec 7.1.6).

    Each sub-message is an FLV tag (11-byte header, body, 4-byte back pointer); its timestamp is
    rebased so the first sub-message gets the aggregate's own timestamp. Raises :class:`ParseError`
    ``"truncated aggregate message"``.
    """
    out = []
    pos = 0
    payload = raw.payload
    first_ts: int | None = None
    while pos < len(payload):
        if pos + AGGREGATE_TAG_HEADER_BYTES > len(payload):
            raise ParseError("truncated aggregate message")
        type_id = payload[pos]
        size = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(payload[pos + 4 : pos + 7], "big") | (payload[pos + 7] << 24)
        body_start = pos + AGGREGATE_TAG_HEADER_BYTES
        end = body_start + size + AGGREGATE_BACK_POINTER_BYTES
        if end > len(payload):
            raise ParseError("truncated aggregate message")
        if first_ts is None:
            first_ts = ts
        out.append(
            RawMessage(
                csid=raw.csid,
                timestamp=(raw.timestamp + ts - first_ts) % (1 << 32),
                type_id=type_id,
                stream_id=raw.stream_id,
                payload=payload[body_start : body_start + size],
            )
        )
        pos = end
    return out


# -- serialising -------------------------------------------------------------------------------
def serialize_payload(message: RtmpMessage) -> tuple[int, bytes]:
    """(type id, payload) of a typed message; commands and data are always written as AMF0."""
    if isinstance(message, MediaMessage):
        return message.type_id, message.payload
    if isinstance(message, CommandMessage):
        values = [message.name, message.transaction_id, message.command_object, *message.args]
        return MessageType.COMMAND_AMF0, encode_all(values)
    if isinstance(message, DataMessage):
        return MessageType.DATA_AMF0, encode_all(message.values)
    if isinstance(message, SetChunkSize):
        return MessageType.SET_CHUNK_SIZE, _U32.pack(message.size)
    if isinstance(message, Abort):
        return MessageType.ABORT, _U32.pack(message.csid)
    if isinstance(message, Acknowledgement):
        return MessageType.ACKNOWLEDGEMENT, _U32.pack(message.sequence_number)
    if isinstance(message, WindowAckSize):
        return MessageType.WINDOW_ACK_SIZE, _U32.pack(message.size)
    if isinstance(message, SetPeerBandwidth):
        return MessageType.SET_PEER_BANDWIDTH, _U32.pack(message.size) + bytes([message.limit])
    if message.event == UserControlEvent.SET_BUFFER_LENGTH:
        body = _U32.pack(message.stream_id) + _U32.pack(message.buffer_ms)
    else:
        body = _U32.pack(message.stream_id)
    return MessageType.USER_CONTROL, message.event.to_bytes(2, "big") + body
