"""RTMP sessions, server and client roles, sans-IO (TCP-shaped: ``receive_data`` / ``next_event`` /
``data_to_send`` plus command methods).

Layers stack: handshake bytes -> :class:`ChunkDecoder` -> :class:`RawMessage` -> typed message
(:func:`parse_message`) -> events. Protocol errors never escape ``receive_data``: the session queues a
:class:`ConnectionClosed` with a stable reason and stops; the adapter then closes the socket.

Memory follows authorisation: until publish or play is accepted (server) or started (client), the chunk
decoder holds a session to :data:`~mediaplane.rtmp.chunk.UNAUTHORISED_LIMITS` (a few command messages);
only then does it widen to the media limits, and it narrows again when publishing or playing stops. A
server session stops decoding while a publish or play request awaits the owner's answer, so whatever
the client pipelined behind it is read under the budget the answer grants.
"""

from __future__ import annotations

import collections
import enum
import logging
import random
from typing import Any

from . import amf0
from .chunk import MEDIA_LIMITS, UNAUTHORISED_LIMITS, ChunkDecoder, ChunkEncoder, ChunkLimits
from .errors import LocalProtocolError, ParseError, RemoteProtocolError
from .events import (
    Connected,
    ConnectionClosed,
    Event,
    HandshakeCompleted,
    MediaReceived,
    PlayRequested,
    PlayStarted,
    PlayStopped,
    PublishRequested,
    PublishStarted,
    PublishStopped,
    StatusReceived,
    StreamCreated,
)
from .handshake import ClientHandshake, ServerHandshake
from .message import (
    Abort,
    Acknowledgement,
    CommandMessage,
    DataMessage,
    MediaKind,
    MediaMessage,
    MessageType,
    PeerBandwidthLimit,
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

__all__ = [
    "DEFAULT_WINDOW_ACK_SIZE",
    "ClientSessionState",
    "RtmpClientSession",
    "RtmpServerSession",
    "ServerSessionState",
    "StatusCode",
]

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
_SET_DATA_FRAME_PREFIX = amf0.encode(SET_DATA_FRAME)
_SAMPLE_ACCESS_PREFIX = amf0.encode("|RtmpSampleAccess")
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


def _split_query(name: str) -> tuple[str, str]:
    base, _, query = name.partition("?")
    return base, query


def unwrap_data(payload: bytes) -> tuple[bytes, MediaKind]:
    """A data message payload without a leading ``@setDataFrame``, and whether it is metadata."""
    body = payload[len(_SET_DATA_FRAME_PREFIX) :] if payload.startswith(_SET_DATA_FRAME_PREFIX) else payload
    try:
        first, _ = amf0.decode(body)
    except RemoteProtocolError:
        return body, MediaKind.DATA
    return body, MediaKind.METADATA if first == ON_METADATA else MediaKind.DATA


class _Session:
    """What both roles share: handshake hand-off, chunk codec, protocol control, acknowledgements."""

    _role = "session"

    def __init__(
        self,
        *,
        chunk_size: int,
        window_ack_size: int,
        limits: ChunkLimits = UNAUTHORISED_LIMITS,
        media_limits: ChunkLimits = MEDIA_LIMITS,
    ) -> None:
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
    def _close(self, reason: str, *, error: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._decoder.clear()  # nothing more is parsed: give the buffers back now
        self._on_closed()
        (self.log.info if error else self.log.debug)("session closed: %s", reason)
        self._events.append(ConnectionClosed(reason=reason, error=error))

    def _on_closed(self) -> None:
        pass

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

    def _handle_media(self, message: MediaMessage, stream_id: int) -> None:
        """Audio or video arrived (each role decides whether it is welcome)."""

    def _handle_data(self, payload: bytes, stream_id: int, timestamp: int) -> None:
        """An AMF0 data message arrived, raw."""

    def _handle_command(self, message: CommandMessage, stream_id: int) -> None:
        """A command arrived."""


class ServerSessionState(enum.Enum):
    HANDSHAKE = "handshake"
    WAIT_CONNECT = "wait_connect"
    CONNECTED = "connected"
    PUBLISHING = "publishing"
    PLAYING = "playing"
    CLOSED = "closed"


_S = ServerSessionState
_SERVER_TRANSITIONS: dict[tuple[ServerSessionState, str], ServerSessionState] = {
    (_S.HANDSHAKE, "handshake_done"): _S.WAIT_CONNECT,
    (_S.WAIT_CONNECT, "connect"): _S.CONNECTED,
    (_S.CONNECTED, "publish"): _S.PUBLISHING,
    (_S.CONNECTED, "play"): _S.PLAYING,
    (_S.PUBLISHING, "unpublish"): _S.CONNECTED,
    (_S.PLAYING, "stop"): _S.CONNECTED,
    **{(state, "close"): _S.CLOSED for state in _S},
}


class RtmpServerSession(_Session):
    """The server side of one RTMP connection (a publisher or a player connected to us).

    After :class:`PublishRequested` / :class:`PlayRequested` the owner must answer with
    :meth:`accept_publish` / :meth:`reject_publish` or :meth:`accept_play` / :meth:`reject_play`.
    A player's media is queued with :meth:`send_media` (pre-chunked bytes shared between players).
    """

    _role = "server"

    def __init__(
        self,
        rng: random.Random,
        *,
        chunk_size: int = 4096,
        window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE,
        peer_bandwidth: int = DEFAULT_WINDOW_ACK_SIZE,
        limits: ChunkLimits = UNAUTHORISED_LIMITS,
        media_limits: ChunkLimits = MEDIA_LIMITS,
    ) -> None:
        """``limits`` hold the connection until publish or play is accepted, ``media_limits`` after."""
        super().__init__(
            chunk_size=chunk_size, window_ack_size=window_ack_size, limits=limits, media_limits=media_limits
        )
        self._handshake: ServerHandshake | None = ServerHandshake(rng)
        self._peer_bandwidth = peer_bandwidth
        self.state = ServerSessionState.HANDSHAKE
        self.app = ""
        self.tc_url = ""
        self.stream_key = ""
        self._next_stream_id = 1
        self._streams: set[int] = set()
        self.publish_stream_id = 0
        self.play_stream_id = 0
        self._pending_request: int | None = None
        """Message stream id of a publish/play awaiting the owner's answer."""
        self.buffer_length_ms = 0

    def __repr__(self) -> str:
        return f"<RtmpServerSession {self.state.value} app={self.app!r} key={self.stream_key!r}>"

    def _set_state(self, transition: str) -> None:
        new = _SERVER_TRANSITIONS.get((self.state, transition))
        if new is None:
            raise RemoteProtocolError(f"unexpected {transition} in state {self.state.value}")
        if new is not self.state:
            self.log.debug("state %s -> %s", self.state.value, new.value)
            self.state = new

    def _on_closed(self) -> None:
        self.state = ServerSessionState.CLOSED
        self._handshake = None

    def _decoding_paused(self) -> bool:
        return self._pending_request is not None

    @property
    def authorised(self) -> bool:
        """True while publishing or playing (the owner accepted the request)."""
        return self.state in (ServerSessionState.PUBLISHING, ServerSessionState.PLAYING)

    # -- input -----------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; protocol errors end the session with :class:`ConnectionClosed`."""
        if self.closed or not data:
            return
        self.bytes_received += len(data)
        try:
            hs = self._handshake
            if hs is not None:
                reply = hs.receive_data(data)
                if reply:
                    self._out.append(reply)
                    self.bytes_sent += len(reply)
                if not hs.done:
                    return
                self._handshake = None
                self._set_state("handshake_done")
                self._events.append(HandshakeCompleted(digest=hs.digest_used))
                data = hs.leftover
                if not data:
                    return
            self._feed_chunks(data)
        except RemoteProtocolError as exc:
            self._close(str(exc), error=True)

    def _handle_media(self, message: MediaMessage, stream_id: int) -> None:
        if self.state is not ServerSessionState.PUBLISHING or stream_id != self.publish_stream_id:
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug("dropped media on stream %d while %s", stream_id, self.state.value)
            return
        self._events.append(MediaReceived(stream_id=stream_id, message=message))

    def _handle_data(self, payload: bytes, stream_id: int, timestamp: int) -> None:
        if self.state is not ServerSessionState.PUBLISHING or stream_id != self.publish_stream_id:
            return
        body, kind = unwrap_data(payload)
        message = MediaMessage(type_id=MessageType.DATA_AMF0, timestamp=timestamp, payload=body, kind=kind)
        self._events.append(MediaReceived(stream_id=stream_id, message=message))

    def _handle_user_control(self, message: UserControl) -> None:
        if message.event == UserControlEvent.SET_BUFFER_LENGTH:
            self.buffer_length_ms = message.buffer_ms
        super()._handle_user_control(message)

    def _handle_command(self, message: CommandMessage, stream_id: int) -> None:
        name = message.name
        txn = message.transaction_id
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("command %s txn=%s args=%r", name, txn, message.args)
        if name == "connect":
            self._handle_connect(message)
        elif self.state is ServerSessionState.WAIT_CONNECT:
            raise RemoteProtocolError(f"command {name} before connect")
        elif name == "createStream":
            if len(self._streams) >= MAX_MESSAGE_STREAMS:
                raise RemoteProtocolError("too many message streams")
            stream = self._next_stream_id
            self._next_stream_id += 1
            self._streams.add(stream)
            self._send_command("_result", txn, None, float(stream))
        elif name == "publish":
            self._handle_publish(message, stream_id)
        elif name == "play":
            self._handle_play(message, stream_id)
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            target = stream_id
            if name == "deleteStream" and message.args and amf0.is_finite_number(message.args[0]):
                target = int(message.args[0])
            if name == "FCUnpublish":
                target = self.publish_stream_id
            self._handle_stream_end(target)
            if name == "deleteStream":
                self._streams.discard(target)
        elif name == "getStreamLength":
            self._send_command("_result", txn, None, 0.0)
        elif name == "FCPublish" and message.args and isinstance(message.args[0], str):
            # Flash-era clients wait for onFCPublish before publishing; ffmpeg and OBS ignore it.
            self._send_command(
                "onFCPublish",
                0.0,
                None,
                {"code": StatusCode.PUBLISH_START.value, "description": str(message.args[0])},
            )
        # releaseStream, _checkbw, receiveAudio/Video, pause... need no answer.

    def _handle_connect(self, message: CommandMessage) -> None:
        obj = message.command_object if isinstance(message.command_object, dict) else {}
        self._set_state("connect")
        app = obj.get("app", "")
        self.app = _split_query(app if isinstance(app, str) else "")[0].strip("/")
        tc_url = obj.get("tcUrl", "")
        self.tc_url = tc_url if isinstance(tc_url, str) else ""
        encoding = obj.get("objectEncoding", 0.0)
        self._send(WindowAckSize(size=self._window_ack_size))
        self._send(SetPeerBandwidth(size=self._peer_bandwidth, limit=PeerBandwidthLimit.DYNAMIC))
        self._set_out_chunk_size(self._out_chunk_size)
        props = {"fmsVer": FMS_VERSION, "capabilities": CAPABILITIES, "mode": 1.0}
        info = {
            "level": "status",
            "code": StatusCode.CONNECT_SUCCESS.value,
            "description": "Connection succeeded.",
            "objectEncoding": float(encoding) if amf0.is_finite_number(encoding) else 0.0,
        }
        self._send_command("_result", message.transaction_id, props, info)
        self._send_command("onBWDone", 0.0, None, 8192.0)
        self._events.append(Connected(app=self.app, tc_url=self.tc_url, command_object=obj))

    def _stream_name(self, message: CommandMessage) -> tuple[str, str]:
        if not message.args or not isinstance(message.args[0], str) or not message.args[0]:
            raise RemoteProtocolError(f"{message.name} without a stream name")
        return _split_query(message.args[0])

    def _handle_publish(self, message: CommandMessage, stream_id: int) -> None:
        if self.state is not ServerSessionState.CONNECTED or self._pending_request is not None:
            raise RemoteProtocolError(f"unexpected publish in state {self.state.value}")
        key, query = self._stream_name(message)
        kind = message.args[1] if len(message.args) > 1 and isinstance(message.args[1], str) else "live"
        self.stream_key = key
        self._pending_request = stream_id
        self._events.append(PublishRequested(stream_id=stream_id, key=key, query=query, publish_type=kind))

    def _handle_play(self, message: CommandMessage, stream_id: int) -> None:
        if self.state is not ServerSessionState.CONNECTED or self._pending_request is not None:
            raise RemoteProtocolError(f"unexpected play in state {self.state.value}")
        key, query = self._stream_name(message)
        start = message.args[1] if len(message.args) > 1 and amf0.is_finite_number(message.args[1]) else -2.0
        self.stream_key = key
        self._pending_request = stream_id
        self._events.append(PlayRequested(stream_id=stream_id, key=key, query=query, start=float(start)))

    def _handle_stream_end(self, stream_id: int) -> None:
        if self.state is ServerSessionState.PUBLISHING and stream_id == self.publish_stream_id:
            self._set_state("unpublish")
            self._authorise(False)
            self._send_status(stream_id, "status", StatusCode.UNPUBLISH_SUCCESS.value, "Stopped publishing.")
            self.publish_stream_id = 0
            self._events.append(PublishStopped(stream_id=stream_id))
        elif self.state is ServerSessionState.PLAYING and stream_id == self.play_stream_id:
            self._set_state("stop")
            self._authorise(False)
            self.play_stream_id = 0
            self._events.append(PlayStopped(stream_id=stream_id))

    # -- answers from the owner --------------------------------------------------------------------
    def _take_pending(self, stream_id: int) -> None:
        if self._pending_request != stream_id:
            raise LocalProtocolError(f"no publish/play request pending on stream {stream_id}")
        self._pending_request = None

    def accept_publish(self, stream_id: int) -> None:
        """Answer NetStream.Publish.Start; media on ``stream_id`` now raises MediaReceived."""
        self._take_pending(stream_id)
        if self.closed:
            return
        self._set_state("publish")
        self._authorise(True)
        self.publish_stream_id = stream_id
        self._send(UserControl(event=UserControlEvent.STREAM_BEGIN, stream_id=stream_id))
        self._send_status(
            stream_id, "status", StatusCode.PUBLISH_START.value, f"{self.stream_key} is now published."
        )
        self._resume_decoding()

    def reject_publish(
        self, stream_id: int, description: str, *, code: str = StatusCode.PUBLISH_BAD_NAME.value
    ) -> None:
        """Answer an error onStatus (NetStream.Publish.BadName by default); the session stays connected."""
        self._take_pending(stream_id)
        self._send_status(stream_id, "error", code, description)
        self._resume_decoding()

    def accept_play(self, stream_id: int, *, reset: bool = True) -> None:
        """Answer StreamBegin, NetStream.Play.Reset and NetStream.Play.Start; queue media with send_media."""
        self._take_pending(stream_id)
        if self.closed:
            return
        self._set_state("play")
        self._authorise(True)
        self.play_stream_id = stream_id
        self._send(UserControl(event=UserControlEvent.STREAM_BEGIN, stream_id=stream_id))
        if reset:
            self._send_status(
                stream_id, "status", StatusCode.PLAY_RESET.value, f"Playing and resetting {self.stream_key}."
            )
        self._send_status(
            stream_id, "status", StatusCode.PLAY_START.value, f"Started playing {self.stream_key}."
        )
        self._send(DataMessage(values=("|RtmpSampleAccess", True, True)), stream_id=stream_id)
        self._resume_decoding()

    def reject_play(
        self, stream_id: int, description: str, *, code: str = StatusCode.PLAY_STREAM_NOT_FOUND.value
    ) -> None:
        """Answer an error onStatus (NetStream.Play.StreamNotFound by default)."""
        self._take_pending(stream_id)
        self._send_status(stream_id, "error", code, description)
        self._resume_decoding()

    def send_media(self, message: MediaMessage) -> None:
        """Queue one media message to the player, pre-chunked (shared bytes) at our chunk size."""
        if self.closed or self.state is not ServerSessionState.PLAYING:
            return
        data = message.chunked(self._out_chunk_size, self.play_stream_id)
        self._out.append(data)
        self.bytes_sent += len(data)

    def notify_unpublished(self) -> None:
        """The player's publisher left: StreamEOF and NetStream.Play.UnpublishNotify."""
        if self.state is not ServerSessionState.PLAYING:
            return
        sid = self.play_stream_id
        self._send(UserControl(event=UserControlEvent.STREAM_EOF, stream_id=sid))
        self._send_status(
            sid, "status", StatusCode.PLAY_UNPUBLISH_NOTIFY.value, f"{self.stream_key} is now unpublished."
        )

    def notify_published(self) -> None:
        """A publisher (re)appeared: StreamBegin, NetStream.Play.PublishNotify and NetStream.Play.Start."""
        if self.state is not ServerSessionState.PLAYING:
            return
        sid = self.play_stream_id
        self._send(UserControl(event=UserControlEvent.STREAM_BEGIN, stream_id=sid))
        self._send_status(
            sid, "status", StatusCode.PLAY_PUBLISH_NOTIFY.value, f"{self.stream_key} is now published."
        )
        self._send_status(sid, "status", StatusCode.PLAY_START.value, f"Started playing {self.stream_key}.")


class ClientSessionState(enum.Enum):
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"
    CREATING_STREAM = "creating_stream"
    STARTING = "starting"
    PUBLISHING = "publishing"
    PLAYING = "playing"
    CLOSED = "closed"


_C = ClientSessionState
_CLIENT_TRANSITIONS: dict[tuple[ClientSessionState, str], ClientSessionState] = {
    (_C.HANDSHAKE, "handshake_done"): _C.CONNECTING,
    (_C.CONNECTING, "connected"): _C.CREATING_STREAM,
    (_C.CREATING_STREAM, "stream_created"): _C.STARTING,
    (_C.STARTING, "publish_started"): _C.PUBLISHING,
    (_C.STARTING, "play_started"): _C.PLAYING,
    (_C.PLAYING, "play_started"): _C.PLAYING,
    **{(state, "close"): _C.CLOSED for state in _C},
}


class ClientMode(enum.StrEnum):
    PUBLISH = "publish"
    PLAY = "play"


class RtmpClientSession(_Session):
    """The client side: handshake, connect, createStream, then publish or play ``key`` on its own.

    Call :meth:`initiate` first; then feed bytes. Events: Connected, StreamCreated, PublishStarted or
    PlayStarted, StatusReceived for every onStatus, MediaReceived while playing, ConnectionClosed
    (also when the server refuses: an ``error``-level onStatus or a connect ``_error``).
    """

    _role = "client"

    def __init__(
        self,
        rng: random.Random,
        *,
        app: str,
        key: str,
        mode: ClientMode | str,
        tc_url: str = "",
        chunk_size: int = 4096,
        window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE,
        flash_version: str = "FMLE/3.0 (compatible; mcemu)",
        limits: ChunkLimits = UNAUTHORISED_LIMITS,
        media_limits: ChunkLimits = MEDIA_LIMITS,
    ) -> None:
        """``limits`` hold what the server sends until publish or play starts, ``media_limits`` after."""
        super().__init__(
            chunk_size=chunk_size, window_ack_size=window_ack_size, limits=limits, media_limits=media_limits
        )
        self._handshake = ClientHandshake(rng)
        self.app = app
        self.key = key
        self.mode = ClientMode(mode)
        self.tc_url = tc_url
        self._flash_version = flash_version
        self.state = ClientSessionState.HANDSHAKE
        self.stream_id = 0
        self._txn = 0.0
        self._pending: dict[float, str] = {}

    def __repr__(self) -> str:
        return f"<RtmpClientSession {self.mode.value} {self.state.value} app={self.app!r} key={self.key!r}>"

    def _set_state(self, transition: str) -> None:
        new = _CLIENT_TRANSITIONS.get((self.state, transition))
        if new is None:
            raise RemoteProtocolError(f"unexpected {transition} in state {self.state.value}")
        if new is not self.state:
            self.log.debug("state %s -> %s", self.state.value, new.value)
            self.state = new

    def _on_closed(self) -> None:
        self.state = ClientSessionState.CLOSED

    def _command(self, name: str, obj: Any = None, *args: Any, stream_id: int = 0) -> None:
        self._txn += 1
        self._pending[self._txn] = name
        self._send_command(name, self._txn, obj, *args, stream_id=stream_id)

    def initiate(self) -> None:
        """Queue C0+C1."""
        data = self._handshake.initiate()
        self._out.append(data)
        self.bytes_sent += len(data)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; protocol errors end the session with :class:`ConnectionClosed`."""
        if self.closed or not data:
            return
        self.bytes_received += len(data)
        try:
            hs = self._handshake
            if not hs.done:
                reply = hs.receive_data(data)
                if not hs.done:
                    return
                self._out.append(reply)
                self.bytes_sent += len(reply)
                self._set_state("handshake_done")
                self._events.append(HandshakeCompleted(digest=hs.server_digest_valid))
                self._start_connect()
                data = hs.leftover
                if not data:
                    return
            self._feed_chunks(data)
        except RemoteProtocolError as exc:
            self._close(str(exc), error=True)

    def _start_connect(self) -> None:
        # ffmpeg's listen mode accepts only an optional Set Chunk Size before connect; the Window
        # Acknowledgement Size follows the connect answer.
        self._set_out_chunk_size(self._out_chunk_size)
        obj: dict[str, Any] = {"app": self.app, "type": "nonprivate", "flashVer": self._flash_version}
        obj["tcUrl"] = self.tc_url
        if self.mode is ClientMode.PLAY:
            obj.update(
                {
                    "fpad": False,
                    "capabilities": 15.0,
                    "audioCodecs": 4071.0,
                    "videoCodecs": 252.0,
                    "videoFunction": 1.0,
                }
            )
        self._command("connect", obj)

    def _handle_command(self, message: CommandMessage, stream_id: int) -> None:
        name = message.name
        if name in ("_result", "_error"):
            method = self._pending.pop(message.transaction_id, "")
            if method == "connect":
                if name == "_error":
                    self._close(f"connect refused: {_status_text(message.args)}", error=True)
                    return
                self._set_state("connected")
                self._send(WindowAckSize(size=self._window_ack_size))
                self._events.append(
                    Connected(app=self.app, tc_url=self.tc_url, command_object=message.command_object)
                )
                if self.mode is ClientMode.PUBLISH:
                    self._command("releaseStream", None, self.key)
                    self._command("FCPublish", None, self.key)
                self._command("createStream")
            elif method == "createStream":
                if name == "_error":
                    self._close("createStream failed", error=True)
                    return
                self.stream_id = _stream_id_from(message.args)
                self._set_state("stream_created")
                self._events.append(StreamCreated(stream_id=self.stream_id))
                if self.mode is ClientMode.PUBLISH:
                    self._command("publish", None, self.key, "live", stream_id=self.stream_id)
                else:
                    self._command("getStreamLength", None, self.key)
                    self._command("play", None, self.key, -2.0, stream_id=self.stream_id)
                    self._send(
                        UserControl(
                            event=UserControlEvent.SET_BUFFER_LENGTH, stream_id=self.stream_id, buffer_ms=3000
                        )
                    )
        elif name == "onStatus":
            self._handle_status(message, stream_id)
        # onBWDone, onFCPublish, |RtmpSampleAccess and friends need nothing.

    def _handle_status(self, message: CommandMessage, stream_id: int) -> None:
        info = message.args[0] if message.args and isinstance(message.args[0], dict) else {}
        level, code, desc = (_peer_text(info.get(k, "")) for k in ("level", "code", "description"))
        self._events.append(StatusReceived(stream_id=stream_id, level=level, code=code, description=desc))
        if code == StatusCode.PUBLISH_START and self.state is ClientSessionState.STARTING:
            self._set_state("publish_started")
            self._authorise(True)
            self._events.append(PublishStarted(stream_id=stream_id))
        elif code == StatusCode.PLAY_START and self.state in (
            ClientSessionState.STARTING,
            ClientSessionState.PLAYING,
        ):
            first = self.state is ClientSessionState.STARTING
            self._set_state("play_started")
            self._authorise(True)
            if first:
                self._events.append(PlayStarted(stream_id=stream_id))
        elif level == "error":
            self._close(f"{code}: {desc}" if desc else code, error=True)

    def _handle_media(self, message: MediaMessage, stream_id: int) -> None:
        if self.state is ClientSessionState.PLAYING:
            self._events.append(MediaReceived(stream_id=stream_id, message=message))

    def _handle_data(self, payload: bytes, stream_id: int, timestamp: int) -> None:
        if self.state is not ClientSessionState.PLAYING or payload.startswith(_SAMPLE_ACCESS_PREFIX):
            return
        body, kind = unwrap_data(payload)
        media = MediaMessage(type_id=MessageType.DATA_AMF0, timestamp=timestamp, payload=body, kind=kind)
        self._events.append(MediaReceived(stream_id=stream_id, message=media))

    # -- publishing ------------------------------------------------------------------------------
    def send_media(self, message: MediaMessage) -> None:
        """Publish one media message (metadata is wrapped in ``@setDataFrame``). Needs PUBLISHING."""
        if self.closed:
            return
        if self.state is not ClientSessionState.PUBLISHING:
            raise LocalProtocolError(f"send_media in state {self.state.value}")
        if message.kind is MediaKind.METADATA:
            # Publishers send metadata as @setDataFrame (what nginx-rtmp, SRS and ffmpeg expect); the
            # wrapper is a new object, so the shared hub message keeps its own chunk cache.
            message = MediaMessage(
                type_id=MessageType.DATA_AMF0,
                timestamp=message.timestamp,
                payload=_SET_DATA_FRAME_PREFIX + message.payload,
                kind=message.kind,
            )
        data = message.chunked(self._out_chunk_size, self.stream_id)
        self._out.append(data)
        self.bytes_sent += len(data)

    def stop(self) -> None:
        """Leave politely (FCUnpublish when publishing, then deleteStream), then close."""
        if self.closed:
            return
        if self.stream_id:
            if self.mode is ClientMode.PUBLISH:
                self._command("FCUnpublish", None, self.key)
            self._command("deleteStream", None, float(self.stream_id))
        self._close("stopped by us", error=False)


def _stream_id_from(args: tuple[Any, ...]) -> int:
    """The message stream id of a createStream ``_result``: a whole number in 1..2**32 - 1.

    Raises :class:`RemoteProtocolError` ``"createStream result has no valid stream id"`` for anything
    else (missing, not a number, NaN, infinite, fractional, zero, negative or beyond 32 bits), which
    the chunk header could not carry.
    """
    value: Any = args[0] if args else None
    if (
        not amf0.is_finite_number(value)
        or not float(value).is_integer()
        or not 1 <= value <= MAX_MESSAGE_STREAM_ID
    ):
        raise RemoteProtocolError("createStream result has no valid stream id")
    return int(value)


def _peer_text(value: Any) -> str:
    """A value the peer sent, as one printable line of at most :data:`MAX_REASON_CHARS` characters."""
    text = value if isinstance(value, str) else ""
    if len(text) > MAX_REASON_CHARS:
        text = text[:MAX_REASON_CHARS] + "..."
    return "".join(c if c.isprintable() else "?" for c in text)


def _status_text(args: tuple[Any, ...]) -> str:
    info = args[0] if args and isinstance(args[0], dict) else {}
    code = _peer_text(info.get("code", ""))
    desc = _peer_text(info.get("description", ""))
    return f"{code} {desc}".strip() or "no reason given"
