"""What the RTMP server and client sessions share, sans-IO (TCP-shaped: ``receive_data`` /
``next_event`` / ``data_to_send`` plus command methods); the roles are
:mod:`~mediaplane.rtmp.server_session` and :mod:`~mediaplane.rtmp.client_session`.

Layers stack: handshake bytes -> :class:`ChunkDecoder` -> :class:`RawMessage` -> typed message
(:func:`parse_message`) -> events. Protocol errors never escape ``receive_data``: the session queues a
:class:`ConnectionClosed` with a stable reason and stops; the adapter then closes the socket.

Each role is one state machine: an Enum of states, an Enum of inputs, a table
``{(state, input): new_state}`` (a missing pair is a protocol error) and one :meth:`RtmpSession._set_state`
that every change goes through, closing included.

Memory follows authorisation: until publish or play is accepted (server) or started (client), the chunk
decoder holds a session to :data:`~mediaplane.rtmp.chunk.UNAUTHORISED_LIMITS` (a few command messages);
only then does it widen to the media limits, and it narrows again when publishing or playing stops. A
server session stops decoding while a publish or play request awaits the owner's answer, so whatever
the client pipelined behind it is read under the budget the answer grants.
"""

from __future__ import annotations

import abc
import collections
import enum
import logging
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from .amf0 import decode as amf0_decode
from .amf0 import encode as amf0_encode
from .chunk import MEDIA_LIMITS, UNAUTHORISED_LIMITS, ChunkDecoder, ChunkEncoder, ChunkLimits
from .errors import ParseError, RemoteProtocolError
from .events import (
    ConnectionClosed,
    Event,
)
from .message import (
    Abort,
    Acknowledgement,
    CommandMessage,
    DataMessage,
    MediaKind,
    MediaMessage,
    MessageType,
    RtmpMessage,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
    classify_media,
    parse_message,
    serialize_payload,
    split_aggregate,
)

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_WINDOW_ACK_SIZE", "RtmpSession", "StatusCode", "unwrap_data"]

StateT = TypeVar("StateT", bound=enum.Enum)
InputT = TypeVar("InputT", bound=enum.Enum)

DEFAULT_WINDOW_ACK_SIZE = 2_500_000
"""Bytes between acknowledgements we ask the peer for (what nginx-rtmp and ffmpeg use)."""
CSID_PROTOCOL = 2
"""Chunk stream for protocol control and user control messages (section 5.4)."""
CSID_COMMAND = 3
"""Chunk stream for everything the session encodes itself; 4-7 are reserved for pre-chunked media."""
FMS_VERSION = "FMS/3,5,7,7009"
CAPABILITIES = 31.0
SET_DATA_FRAME = "@setDataFrame"
ON_METADATA = "onMetaData"
SET_DATA_FRAME_PREFIX = amf0_encode(SET_DATA_FRAME)
SAMPLE_ACCESS_PREFIX = amf0_encode("|RtmpSampleAccess")
ACK_SEQUENCE_MODULUS = 1 << 32
MAX_MESSAGE_STREAM_ID = 0xFFFFFFFF
"""Largest message stream id: the 32-bit field of a format-0 chunk header."""
MAX_MESSAGE_STREAMS = 16
"""Message streams a client may hold open at once (createStream without deleteStream); ffmpeg and OBS
use one."""
MAX_REASON_CHARS = 200
"""Longest peer-supplied text (an onStatus description) put into a close reason and so into the log."""


class StatusCode(enum.StrEnum):
    """``onStatus`` / ``_result`` info codes we send or react to."""

    CONNECT_SUCCESS = "NetConnection.Connect.Success"
    CONNECT_REJECTED = "NetConnection.Connect.Rejected"
    PUBLISH_START = "NetStream.Publish.Start"
    PUBLISH_BAD_NAME = "NetStream.Publish.BadName"
    UNPUBLISH_SUCCESS = "NetStream.Unpublish.Success"
    PLAY_START = "NetStream.Play.Start"
    PLAY_RESET = "NetStream.Play.Reset"
    PLAY_STOP = "NetStream.Play.Stop"
    PLAY_STREAM_NOT_FOUND = "NetStream.Play.StreamNotFound"
    PLAY_UNPUBLISH_NOTIFY = "NetStream.Play.UnpublishNotify"
    PLAY_PUBLISH_NOTIFY = "NetStream.Play.PublishNotify"


def transitions_closing_anywhere(
    moves: Mapping[tuple[StateT, InputT], StateT], close: InputT, closed: StateT
) -> dict[tuple[StateT, InputT], StateT]:
    """A role's transition table: ``moves`` plus ``close`` from every state but ``closed`` into ``closed``
    (a session may be closed whatever state it is in; nothing leaves ``closed``)."""
    return {**moves, **{(state, close): closed for state in type(closed) if state is not closed}}


def split_query(name: str) -> tuple[str, str]:
    base, _, query = name.partition("?")
    return base, query


def unwrap_data(payload: bytes) -> tuple[bytes, MediaKind]:
    """A data message payload without a leading ``@setDataFrame``, and whether it is metadata."""
    body = payload[len(SET_DATA_FRAME_PREFIX) :] if payload.startswith(SET_DATA_FRAME_PREFIX) else payload
    try:
        first, _ = amf0_decode(body)
    except RemoteProtocolError:
        return body, MediaKind.DATA
    return body, MediaKind.METADATA if first == ON_METADATA else MediaKind.DATA


class RtmpSession(abc.ABC, Generic[StateT, InputT]):
    """What both roles share: the state machine, chunk codec, protocol control, acknowledgements."""

    def __init__(
        self,
        *,
        initial: StateT,
        transitions: Mapping[tuple[StateT, InputT], StateT],
        close_input: InputT,
        chunk_size: int,
        window_ack_size: int,
        limits: ChunkLimits = UNAUTHORISED_LIMITS,
        media_limits: ChunkLimits = MEDIA_LIMITS,
    ) -> None:
        self.state: StateT = initial
        self._transitions = transitions
        self._close_input = close_input
        self._limits = limits
        self._media_limits = media_limits
        self._decoder = ChunkDecoder(limits=limits)
        self._encoder = ChunkEncoder()
        self._events: collections.deque[Event] = collections.deque()
        self._out: list[bytes] = []
        self._out_chunk_size = chunk_size
        self._window_ack_size = window_ack_size
        self._peer_window_ack_size = 0
        """The peer asked for an Acknowledgement every this many bytes (0: never asked)."""
        self._last_ack_sent = 0
        self.peer_acknowledged = 0
        """Last sequence number the peer acknowledged."""
        self.bytes_received = 0
        self.bytes_sent = 0
        self.closed = False
        self.close_reason = ""
        self.log: logging.LoggerAdapter[logging.Logger] | logging.Logger = logger

    # -- public API shared by both roles ---------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; protocol errors end the session with :class:`ConnectionClosed`."""
        if self.closed or not data:
            return
        self.bytes_received += len(data)
        try:
            data = self._receive_handshake(data)
            if data:
                self._feed_chunks(data)
        except RemoteProtocolError as exc:
            self._close(str(exc), error=True)

    def next_event(self) -> Event | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Bytes to write to the socket, in order; empty when nothing is pending."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    @property
    def out_chunk_size(self) -> int:
        """Our outgoing chunk size in bytes (pre-chunked media must use it)."""
        return self._out_chunk_size

    def send_prechunked(self, data: bytes) -> None:
        """Queue bytes already chunked with format-0 headers at :attr:`out_chunk_size`."""
        if self.closed:
            return
        self._out.append(data)
        self.bytes_sent += len(data)

    def close(self, reason: str = "closed by us") -> None:
        """End the session locally; a :class:`ConnectionClosed` follows. Idempotent."""
        self._close(reason, error=False)

    def ping(self, timestamp_ms: int) -> None:
        """Send a PingRequest carrying ``timestamp_ms`` (modulo 2**32)."""
        self._send(UserControl(event=UserControlEvent.PING_REQUEST, stream_id=timestamp_ms % (1 << 32)))

    # -- plumbing --------------------------------------------------------------------------------
    def _set_state(self, event: InputT) -> None:
        """Apply ``event`` through the transition table; log ``old -> new`` at DEBUG.

        Raises :class:`RemoteProtocolError` ``"unexpected <input> in state <state>"`` for a pair the
        table does not have.
        """
        new = self._transitions.get((self.state, event))
        if new is None:
            raise RemoteProtocolError(f"unexpected {event.value} in state {self.state.value}")
        if new is not self.state:
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug("state %s -> %s", self.state.value, new.value)
            self.state = new

    def _close(self, reason: str, *, error: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._set_state(self._close_input)
        self._decoder.clear()  # nothing more is parsed: give the buffers back now
        self._on_closed()
        (self.log.info if error else self.log.debug)("session closed: %s", reason)
        self._events.append(ConnectionClosed(reason=reason, error=error))

    def _on_closed(self) -> None:
        """Release what the role holds (the session is closed already)."""

    def _authorise(self, authorised: bool) -> None:
        """Widen the decoder's budget to the media limits, or narrow it back."""
        self._decoder.set_limits(self._media_limits if authorised else self._limits)

    def _decoding_paused(self) -> bool:
        """True while input must wait (a server's publish/play request awaiting its answer)."""
        return False

    def _resume_decoding(self) -> None:
        """Decode what waited while :meth:`_decoding_paused`; protocol errors close the session."""
        if self.closed:
            return
        try:
            self._feed_chunks(b"")
        except RemoteProtocolError as exc:
            self._close(str(exc), error=True)

    def _send(self, message: RtmpMessage, *, stream_id: int = 0, timestamp: int = 0) -> None:
        if self.closed:
            return
        type_id, payload = serialize_payload(message)
        csid = CSID_PROTOCOL if type_id <= MessageType.SET_PEER_BANDWIDTH else CSID_COMMAND
        data = self._encoder.encode(
            csid=csid, timestamp=timestamp, type_id=type_id, stream_id=stream_id, payload=payload
        )
        self._out.append(data)
        self.bytes_sent += len(data)

    def _send_command(self, name: str, txn: float, obj: Any = None, *args: Any, stream_id: int = 0) -> None:
        self._send(
            CommandMessage(name=name, transaction_id=txn, command_object=obj, args=args), stream_id=stream_id
        )

    def _send_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        info = {"level": level, "code": code, "description": description}
        self._send_command("onStatus", 0.0, None, info, stream_id=stream_id)

    def _set_out_chunk_size(self, size: int) -> None:
        self._send(SetChunkSize(size=size))
        self._encoder.set_chunk_size(size)
        self._out_chunk_size = size

    def _feed_chunks(self, data: bytes) -> None:
        decoder = self._decoder
        decoder.receive_data(data)
        while not self.closed and not self._decoding_paused():
            raw = decoder.next_message()
            if raw is None:
                break
            if raw.type_id == MessageType.AGGREGATE:
                for inner in split_aggregate(raw):
                    if inner.type_id in (MessageType.AUDIO, MessageType.VIDEO):
                        self._handle_media(
                            MediaMessage(
                                type_id=inner.type_id,
                                timestamp=inner.timestamp,
                                payload=inner.payload,
                                kind=classify_media(inner.type_id, inner.payload),
                            ),
                            inner.stream_id,
                        )
                    elif inner.type_id == MessageType.DATA_AMF0:
                        self._handle_data(inner.payload, inner.stream_id, inner.timestamp)
                continue
            if raw.type_id == MessageType.DATA_AMF0:
                # Data messages pass through byte for byte: no decode/re-encode round trip.
                self._handle_data(raw.payload, raw.stream_id, raw.timestamp)
                continue
            message = parse_message(raw)
            if message is None:
                if self.log.isEnabledFor(logging.DEBUG):
                    self.log.debug("ignored message type %d", raw.type_id)
                continue
            self._dispatch(message, raw.stream_id, raw.timestamp)
        if (
            not self.closed
            and self._decoding_paused()
            and decoder.buffered_bytes > decoder.limits.max_pending_bytes
        ):
            # A client that floods behind its publish/play request while it awaits the answer.
            raise ParseError("too many bytes before publish or play was answered")
        if (
            self._peer_window_ack_size
            and self.bytes_received - self._last_ack_sent >= self._peer_window_ack_size
        ):
            self._last_ack_sent = self.bytes_received
            self._send(Acknowledgement(sequence_number=self.bytes_received % ACK_SEQUENCE_MODULUS))

    def _dispatch(self, message: RtmpMessage, stream_id: int, timestamp: int) -> None:
        if isinstance(message, MediaMessage):
            self._handle_media(message, stream_id)
        elif isinstance(message, CommandMessage):
            self._handle_command(message, stream_id)
        elif isinstance(message, DataMessage):
            pass  # AMF3 data (type 15): tolerated, not forwarded
        elif isinstance(message, SetChunkSize):
            self._decoder.set_chunk_size(message.size)
        elif isinstance(message, Abort):
            self._decoder.abort(message.csid)
        elif isinstance(message, Acknowledgement):
            self.peer_acknowledged = message.sequence_number
        elif isinstance(message, WindowAckSize):
            self._peer_window_ack_size = message.size
        elif isinstance(message, SetPeerBandwidth):
            # Section 5.4.5: answer with our Window Acknowledgement Size when it differs (a zero
            # bandwidth is meaningless and ignored).
            if message.size and message.size != self._window_ack_size:
                self._window_ack_size = message.size
                self._send(WindowAckSize(size=message.size))
        elif isinstance(message, UserControl):
            self._handle_user_control(message)

    def _handle_user_control(self, message: UserControl) -> None:
        if message.event == UserControlEvent.PING_REQUEST:
            self._send(UserControl(event=UserControlEvent.PING_RESPONSE, stream_id=message.stream_id))

    @abc.abstractmethod
    def _receive_handshake(self, data: bytes) -> bytes:
        """Feed ``data`` to the role's handshake while it lasts; returns what is left for the chunk
        stream (``data`` itself once the handshake is done, empty while it goes on). Each role
        (server_session, client_session) runs its own side of the handshake."""

    def _handle_media(self, message: MediaMessage, stream_id: int) -> None:
        """Audio or video arrived (each role decides whether it is welcome)."""

    def _handle_data(self, payload: bytes, stream_id: int, timestamp: int) -> None:
        """An AMF0 data message arrived, raw."""

    def _handle_command(self, message: CommandMessage, stream_id: int) -> None:
        """A command arrived."""


def peer_text(value: Any) -> str:
    """A value the peer sent, as one printable line of at most :data:`MAX_REASON_CHARS` characters."""
    text = value if isinstance(value, str) else ""
    if len(text) > MAX_REASON_CHARS:
        text = text[:MAX_REASON_CHARS] + "..."
    return "".join(c if c.isprintable() else "?" for c in text)
