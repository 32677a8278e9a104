"""The RTMP chunk stream layer (RTMP specification section 5.3), sans-IO.

:class:`ChunkDecoder` turns a byte stream into complete :class:`RawMessage` objects;
:class:`ChunkEncoder` turns messages into chunks, compressing headers per chunk stream (formats 0-3);
:func:`encode_fmt0` chunks one message with a self-contained format-0 first chunk, so the bytes do not
depend on any connection's compression state and can be shared by every player.

Extended timestamps (section 5.3.1.3): a 24-bit timestamp or delta field of 0xFFFFFF means a 32-bit
value follows the message header. Like ffmpeg and the Adobe servers, the 32-bit field is repeated on
every format-3 chunk whose header in force used it: continuation chunks and format-3 starts of a new
message (which re-apply the previous delta). Timestamps wrap modulo 2**32.
"""

from __future__ import annotations

import enum
import logging
import struct
from dataclasses import dataclass

from .errors import LocalProtocolError, ParseError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MEDIA_LIMITS",
    "UNAUTHORISED_LIMITS",
    "ChunkDecoder",
    "ChunkEncoder",
    "ChunkLimits",
    "RawMessage",
    "encode_fmt0",
    "fmt0_header_lengths",
]

DEFAULT_CHUNK_SIZE = 128
"""Chunk payload size in bytes until a Set Chunk Size says otherwise (section 5.4.1)."""
MAX_CHUNK_SIZE = 0x7FFFFFFF
"""Largest chunk size in bytes: the 31 bits Set Chunk Size can carry."""
EXTENDED_TIMESTAMP = 0xFFFFFF
"""24-bit field value that announces a 32-bit extended timestamp."""
MAX_CSID = 65599
"""Largest chunk stream id (3-byte basic header)."""
TIMESTAMP_MODULUS = 1 << 32
MAX_MESSAGE_LENGTH = 0xFFFFFF
"""Largest message length in bytes the 24-bit length field can declare."""
MEDIA_TYPE_IDS = frozenset({8, 9, 15, 18, 22})
"""Message types held to ``max_media_message_bytes``: audio, video, data (AMF3, AMF0) and aggregate."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkLimits:
    """What one connection's chunk decoder may hold; every number on the wire is checked against it.

    Lengths are checked on the message header, before any payload is buffered: a header declaring more
    than the budget is refused at once, however slowly its payload would trickle in.
    """

    max_media_message_bytes: int
    """Longest audio, video, data or aggregate message, in bytes."""
    max_command_message_bytes: int
    """Longest message of any other type (commands, shared objects, protocol control), in bytes."""
    max_pending_bytes: int
    """Declared bytes of unfinished messages, summed over every chunk stream."""
    max_chunk_streams: int
    """Chunk streams a connection may open (each keeps a header for compression)."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name in (
            "max_media_message_bytes",
            "max_command_message_bytes",
            "max_pending_bytes",
            "max_chunk_streams",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    def max_message_bytes(self, type_id: int) -> int:
        """The length limit in bytes for a message of ``type_id``."""
        if type_id in MEDIA_TYPE_IDS:
            return self.max_media_message_bytes
        return self.max_command_message_bytes


UNAUTHORISED_LIMITS = ChunkLimits(
    max_media_message_bytes=16 * 1024,
    max_command_message_bytes=16 * 1024,
    max_pending_bytes=64 * 1024,
    max_chunk_streams=16,
)
"""Before publish or play is accepted: the handshake is done and only a few commands are due."""
MEDIA_LIMITS = ChunkLimits(
    max_media_message_bytes=8 * 1024 * 1024,
    max_command_message_bytes=64 * 1024,
    max_pending_bytes=16 * 1024 * 1024,
    max_chunk_streams=64,
)
"""While publishing or playing: room for a large keyframe (a 4K intra frame is a few MiB)."""

VIEW_MIN_CHUNK_BYTES = 1024
"""Chunks at least this large are kept as views of the received bytes until their message is whole."""
VIEW_MAX_BUFFER_RATIO = 4
"""A view is kept only when its buffer is at most this many times larger than the piece."""

_TS_LEN = struct.Struct(">I")


class ChunkFormat(enum.IntEnum):
    """The 2-bit ``fmt`` field of the basic header: which message header follows."""

    FULL = 0
    """11 bytes: timestamp, length, type id, message stream id."""
    SAME_STREAM = 1
    """7 bytes: timestamp delta, length, type id."""
    DELTA_ONLY = 2
    """3 bytes: timestamp delta."""
    CONTINUATION = 3
    """No message header."""


class RawMessage:
    """One complete message as the chunk layer sees it.

    A plain slots class, not a frozen dataclass: one is built per received message and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) costs twice as much. Equal and hashed by
    value as before; treat it as immutable.
    """

    __slots__ = ("csid", "payload", "stream_id", "timestamp", "type_id")

    csid: int
    """Chunk stream id it travelled on."""
    timestamp: int
    """Absolute timestamp in milliseconds, modulo 2**32."""
    type_id: int
    stream_id: int
    """Message stream id."""
    payload: bytes

    def __init__(self, *, csid: int, timestamp: int, type_id: int, stream_id: int, payload: bytes) -> None:
        self.csid = csid
        self.timestamp = timestamp
        self.type_id = type_id
        self.stream_id = stream_id
        self.payload = payload

    def _key(self) -> tuple[int, int, int, int, bytes]:
        return (self.csid, self.timestamp, self.type_id, self.stream_id, bytes(self.payload))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawMessage):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"RawMessage(csid={self.csid}, timestamp={self.timestamp}, type_id={self.type_id}, "
            f"stream_id={self.stream_id}, payload=<{len(self.payload)} bytes>)"
        )


def _basic_header(fmt: int, csid: int) -> bytes:
    if csid < 2 or csid > MAX_CSID:
        raise LocalProtocolError(f"chunk stream id {csid} out of range")
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    rest = csid - 64
    return bytes([(fmt << 6) | 1, rest & 0xFF, rest >> 8])


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "big")


def encode_fmt0(
    *, csid: int, timestamp: int, type_id: int, stream_id: int, payload: bytes, chunk_size: int
) -> bytes:
    """Chunk one message with a format-0 first chunk and format-3 continuations.

    The result is independent of any previous message, so it can be written to any connection whose
    outgoing chunk size is ``chunk_size``. Raises :class:`LocalProtocolError` for a bad chunk size.
    """
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise LocalProtocolError(f"chunk size {chunk_size} out of range")
    timestamp %= TIMESTAMP_MODULUS
    extended = timestamp >= EXTENDED_TIMESTAMP
    header = bytearray(_basic_header(0, csid))
    header += _u24(EXTENDED_TIMESTAMP if extended else timestamp)
    header += _u24(len(payload))
    header.append(type_id)
    header += stream_id.to_bytes(4, "little")
    if extended:
        header += _TS_LEN.pack(timestamp)
    if len(payload) <= chunk_size:
        header += payload
        return bytes(header)
    cont = _basic_header(3, csid)
    if extended:
        cont += _TS_LEN.pack(timestamp)
    return _join_chunks(header, cont, payload, chunk_size)


def _join_chunks(header: bytearray, cont: bytes, payload: bytes, chunk_size: int) -> bytes:
    """``header``, then ``payload`` in pieces of ``chunk_size`` with ``cont`` between them, copied once."""
    view = memoryview(payload)
    parts: list[bytes | bytearray | memoryview] = [header, view[:chunk_size]]
    for start in range(chunk_size, len(payload), chunk_size):
        parts.append(cont)
        parts.append(view[start : start + chunk_size])
    return b"".join(parts)


def fmt0_header_lengths(*, csid: int, timestamp: int) -> tuple[int, int]:
    """Lengths in bytes of the first chunk header and of each continuation header that
    :func:`encode_fmt0` writes for a message on ``csid`` at ``timestamp``."""
    basic = 1 if csid < 64 else 2 if csid < 320 else 3
    extended = 4 if timestamp % TIMESTAMP_MODULUS >= EXTENDED_TIMESTAMP else 0
    return basic + 11 + extended, basic + extended


@dataclass(slots=True)
class _StreamState:
    """What a chunk stream remembers from its last header (for compression)."""

    timestamp: int = 0
    delta: int = 0
    """The value of the last 24/32-bit timestamp field (absolute after format 0, per section 5.3.1.2.4)."""
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    """The header in force used an extended timestamp, so format-3 chunks repeat it."""
    pending: list[memoryview | bytes] | bytearray | None = None
    """Payload of the unfinished message on this chunk stream: its pieces (views of the received
    bytes) when chunks are large, else the bytes themselves (many small pieces would cost more)."""
    have: int = 0
    """Bytes in ``pending``."""
    delta_known: bool = False
    """Encoder only: a format-1/2 header set ``delta``, so a format-3 new message can reuse it."""


class ChunkDecoder:
    """Incremental chunk stream parser.

    Feed bytes with :meth:`receive_data`, take complete messages with :meth:`next_message`. The caller
    (the session) applies Set Chunk Size and Abort through :meth:`set_chunk_size` and :meth:`abort`,
    because they are messages, not chunk-layer syntax, and widens or narrows the budget with
    :meth:`set_limits` as the connection is authorised.

    Memory is bounded by the limits, never by a number on the wire: a declared length is checked on its
    header, and a chunk is never larger than the message it carries, so even a chunk size of 2**31 - 1
    buffers at most one message.
    """

    def __init__(self, *, limits: ChunkLimits = MEDIA_LIMITS) -> None:
        limits.validate()
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.limits = limits
        # Unparsed input is ``_buffer[_pos:]``: received bytes are parsed in place (through ``_view``)
        # and only an incomplete chunk at the end is carried over to the next ``receive_data``.
        self._buffer: bytes = b""
        self._view = memoryview(self._buffer)
        self._pos = 0
        self._streams: dict[int, _StreamState] = {}
        self._pending_bytes = 0
        """Declared lengths of the unfinished messages, summed (what they will hold once complete)."""
        self.bytes_received = 0

    def __repr__(self) -> str:
        return (
            f"<ChunkDecoder chunk_size={self.chunk_size} streams={len(self._streams)} "
            f"pending={self._pending_bytes} buffered={self.buffered_bytes}>"
        )

    @property
    def pending_bytes(self) -> int:
        """Declared bytes of unfinished messages over every chunk stream."""
        return self._pending_bytes

    @property
    def buffered_bytes(self) -> int:
        """Received bytes not parsed yet (at most one incomplete chunk after :meth:`next_message`)."""
        return len(self._buffer) - self._pos

    def set_limits(self, limits: ChunkLimits) -> None:
        """Apply a new budget to the headers that follow (unfinished messages keep their reservation)."""
        limits.validate()
        self.limits = limits

    def set_chunk_size(self, size: int) -> None:
        """Apply the peer's Set Chunk Size. Raises ParseError ``"invalid chunk size"``."""
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise ParseError("invalid chunk size")
        self.chunk_size = size

    def abort(self, csid: int) -> None:
        """Drop the unfinished message on ``csid`` (Abort Message, section 5.4.2)."""
        state = self._streams.get(csid)
        if state is not None and state.pending is not None:
            self._pending_bytes -= state.length
            state.pending = None
            state.have = 0

    def clear(self) -> None:
        """Release every buffer (the connection ended); later input is parsed from a clean state."""
        self._set_buffer(b"")
        self._streams.clear()
        self._pending_bytes = 0

    def _set_buffer(self, data: bytes) -> None:
        self._buffer = data
        self._view = memoryview(data)
        self._pos = 0

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the stream (not copied when nothing is left over from the last call)."""
        self.bytes_received += len(data)
        if not data:
            return
        if self._pos >= len(self._buffer):
            self._set_buffer(data if type(data) is bytes else bytes(data))
        else:
            self._set_buffer(self._view[self._pos :].tobytes() + data)

    def next_message(self) -> RawMessage | None:
        """The next complete message, or None when more bytes are needed.

        Raises :class:`ParseError` with a stable message: ``"chunk stream N has no previous header"``,
        ``"message header interrupts an unfinished message"``, ``"too many chunk streams"``,
        ``"message of N bytes exceeds the limit of M bytes"``, ``"too many unfinished message bytes"``.
        """
        while True:
            result = self._parse_chunk()
            if result is None:
                if self._pos and self._pos >= len(self._buffer):
                    self._set_buffer(b"")  # let go of the parsed input
                return None
            if isinstance(result, RawMessage):
                return result

    def _parse_chunk(self) -> RawMessage | bool | None:
        """Parse one chunk: None = need bytes, True = partial message consumed, or a complete message."""
        buf = self._buffer
        start = self._pos
        size = len(buf)
        if size <= start:
            return None
        first = buf[start]
        fmt = first >> 6
        csid = first & 0x3F
        pos = start + 1
        if csid == 0:
            if size < start + 2:
                return None
            csid = 64 + buf[start + 1]
            pos = start + 2
        elif csid == 1:
            if size < start + 3:
                return None
            csid = 64 + buf[start + 1] + (buf[start + 2] << 8)
            pos = start + 3
        state = self._streams.get(csid)
        if fmt == 0:
            if size < pos + 11:
                return None
            field = int.from_bytes(buf[pos : pos + 3], "big")
            length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
            type_id = buf[pos + 6]
            stream_id = int.from_bytes(buf[pos + 7 : pos + 11], "little")
            pos += 11
            if state is None and len(self._streams) >= self.limits.max_chunk_streams:
                raise ParseError("too many chunk streams")
        elif fmt == 1:
            if state is None:
                raise ParseError(f"chunk stream {csid} has no previous header")
            if size < pos + 7:
                return None
            field = int.from_bytes(buf[pos : pos + 3], "big")
            length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
            type_id = buf[pos + 6]
            stream_id = state.stream_id
            pos += 7
        elif fmt == 2:
            if state is None:
                raise ParseError(f"chunk stream {csid} has no previous header")
            if size < pos + 3:
                return None
            field = int.from_bytes(buf[pos : pos + 3], "big")
            length, type_id, stream_id = state.length, state.type_id, state.stream_id
            pos += 3
        else:
            if state is None:
                raise ParseError(f"chunk stream {csid} has no previous header")
            field = -1
            length, type_id, stream_id = state.length, state.type_id, state.stream_id
        if fmt != 3:
            extended = field == EXTENDED_TIMESTAMP
            if extended:
                if size < pos + 4:
                    return None
                field = _TS_LEN.unpack_from(buf, pos)[0]
                pos += 4
        else:
            extended = state.extended  # type: ignore[union-attr]
            if extended:
                if size < pos + 4:
                    return None
                # The repeated field is not re-read as a new value: some encoders put the absolute
                # time there, others the delta; the header in force is what counts.
                pos += 4
        # How much payload this chunk carries.
        if fmt == 3 and state is not None and state.pending is not None:
            new_message = False
            have = state.have
        else:
            new_message = True
            have = 0
            if state is not None and state.pending is not None:
                raise ParseError("message header interrupts an unfinished message")
            # Refuse on the header, before any payload is buffered (fmt 2 and 3 repeat a length that
            # passed when its header came, but the limits may have narrowed since).
            limit = self.limits.max_message_bytes(type_id)
            if length > limit:
                raise ParseError(f"message of {length} bytes exceeds the limit of {limit} bytes")
            if length > self.chunk_size and self._pending_bytes + length > self.limits.max_pending_bytes:
                raise ParseError("too many unfinished message bytes")
        take = min(self.chunk_size, length - have)
        end = pos + take
        if size < end:
            return None
        # -- the whole chunk is present: commit ---------------------------------------------------
        self._pos = end
        if state is None:
            state = self._streams[csid] = _StreamState()
        if new_message:
            if fmt == 0:
                state.timestamp = field
                state.delta = field
            elif fmt == 3:
                state.timestamp = (state.timestamp + state.delta) % TIMESTAMP_MODULUS
            else:
                state.delta = field
                state.timestamp = (state.timestamp + field) % TIMESTAMP_MODULUS
            if fmt != 3:
                state.extended = extended
            state.length, state.type_id, state.stream_id = length, type_id, stream_id
            if take == length:
                return RawMessage(
                    csid=csid,
                    timestamp=state.timestamp,
                    type_id=type_id,
                    stream_id=stream_id,
                    payload=buf[pos:end],
                )
            state.pending = [] if take >= VIEW_MIN_CHUNK_BYTES else bytearray()
            self._pending_bytes += length
        pending = state.pending
        assert pending is not None
        if isinstance(pending, list):
            # A piece stays a view of the received bytes until the message is joined, once; a view
            # keeps its whole buffer alive, so a piece much smaller than its buffer is copied instead.
            pending.append(self._view[pos:end] if take * VIEW_MAX_BUFFER_RATIO >= size else buf[pos:end])
        else:
            pending += self._view[pos:end]
        state.have = have = have + take
        if have < length:
            return True
        state.pending = None
        state.have = 0
        self._pending_bytes -= length
        return RawMessage(
            csid=csid,
            timestamp=state.timestamp,
            type_id=type_id,
            stream_id=stream_id,
            payload=b"".join(pending) if isinstance(pending, list) else bytes(pending),
        )


class ChunkEncoder:
    """Chunks messages for one connection, compressing headers per chunk stream (section 5.3.1.2).

    Format 0 is used for the first message on a chunk stream, a change of message stream or a
    timestamp going backwards; format 1 when length or type change; format 3 when the delta repeats a
    known delta; format 2 otherwise.
    """

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _StreamState] = {}

    def set_chunk_size(self, size: int) -> None:
        """Our own outgoing chunk size (send a Set Chunk Size first). Raises LocalProtocolError."""
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise LocalProtocolError(f"chunk size {size} out of range")
        self.chunk_size = size

    def forget(self, csid: int) -> None:
        """Forget a chunk stream's header, e.g. after writing pre-chunked format-0 bytes on it."""
        self._streams.pop(csid, None)

    def encode(self, *, csid: int, timestamp: int, type_id: int, stream_id: int, payload: bytes) -> bytes:
        """The chunks of one message. Raises :class:`LocalProtocolError` for a bad chunk stream id."""
        timestamp %= TIMESTAMP_MODULUS
        state = self._streams.get(csid)
        length = len(payload)
        if state is None or state.stream_id != stream_id or timestamp < state.timestamp:
            fmt, field = 0, timestamp
        else:
            delta = timestamp - state.timestamp
            if state.length != length or state.type_id != type_id:
                fmt, field = 1, delta
            elif state.delta_known and delta == state.delta:
                fmt, field = 3, delta
            else:
                fmt, field = 2, delta
        extended = field >= EXTENDED_TIMESTAMP if fmt != 3 else state.extended  # type: ignore[union-attr]
        header = bytearray(_basic_header(fmt, csid))
        if fmt != 3:
            header += _u24(EXTENDED_TIMESTAMP if extended else field)
        if fmt in (0, 1):
            header += _u24(length)
            header.append(type_id)
        if fmt == 0:
            header += stream_id.to_bytes(4, "little")
        if extended:
            header += _TS_LEN.pack(field)
        if state is None:
            state = self._streams[csid] = _StreamState()
        state.timestamp = timestamp
        state.length, state.type_id, state.stream_id = length, type_id, stream_id
        if fmt != 3:
            state.delta = field
            state.extended = extended
            state.delta_known = fmt in (1, 2)
        size = self.chunk_size
        if length <= size:
            header += payload
            return bytes(header)
        cont = _basic_header(3, csid)
        if extended:
            cont += _TS_LEN.pack(field)
        return _join_chunks(header, cont, payload, size)
