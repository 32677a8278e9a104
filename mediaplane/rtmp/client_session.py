"""The client role of an RTMP session, sans-IO: handshake, connect, createStream, then publish or play.

See :mod:`~mediaplane.rtmp.base_session` for what both roles share.
"""

from __future__ import annotations

import enum
import random
from typing import Any

from .amf0 import is_finite_number
from .base_session import (
    DEFAULT_WINDOW_ACK_SIZE,
    MAX_MESSAGE_STREAM_ID,
    SAMPLE_ACCESS_PREFIX,
    SET_DATA_FRAME_PREFIX,
    RtmpSession,
    StatusCode,
    peer_text,
    transitions_closing_anywhere,
    unwrap_data,
)
from .chunk import MEDIA_LIMITS, UNAUTHORISED_LIMITS, ChunkLimits
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    Connected,
    HandshakeCompleted,
    MediaReceived,
    PlayStarted,
    PublishStarted,
    StatusReceived,
    StreamCreated,
)
from .handshake import ClientHandshake
from .message import (
    CommandMessage,
    MediaKind,
    MediaMessage,
    MessageType,
    UserControl,
    UserControlEvent,
    WindowAckSize,
)

__all__ = ["ClientInput", "ClientMode", "ClientSessionState", "RtmpClientSession"]


class ClientSessionState(enum.Enum):
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"
    CREATING_STREAM = "creating_stream"
    STARTING = "starting"
    PUBLISHING = "publishing"
    PLAYING = "playing"
    CLOSED = "closed"


class ClientInput(enum.Enum):
    """What moves a client session from one state to the next."""

    HANDSHAKE_DONE = "handshake_done"
    CONNECTED = "connected"
    """The server answered connect with _result."""
    STREAM_CREATED = "stream_created"
    PUBLISH_STARTED = "publish_started"
    PLAY_STARTED = "play_started"
    """NetStream.Play.Start (again after a PublishNotify while playing)."""
    CLOSE = "close"


_C = ClientSessionState
_I = ClientInput
CLIENT_TRANSITIONS = transitions_closing_anywhere(
    {
        (_C.HANDSHAKE, _I.HANDSHAKE_DONE): _C.CONNECTING,
        (_C.CONNECTING, _I.CONNECTED): _C.CREATING_STREAM,
        (_C.CREATING_STREAM, _I.STREAM_CREATED): _C.STARTING,
        (_C.STARTING, _I.PUBLISH_STARTED): _C.PUBLISHING,
        (_C.STARTING, _I.PLAY_STARTED): _C.PLAYING,
        (_C.PLAYING, _I.PLAY_STARTED): _C.PLAYING,
    },
    _I.CLOSE,
    _C.CLOSED,
)
"""The client session's state machine; a missing pair is a protocol error."""


class ClientMode(enum.StrEnum):
    PUBLISH = "publish"
    PLAY = "play"


class RtmpClientSession(RtmpSession[ClientSessionState, ClientInput]):
    """The client side: handshake, connect, createStream, then publish or play ``key`` on its own.

    Call :meth:`initiate` first; then feed bytes. Events: Connected, StreamCreated, PublishStarted or
    PlayStarted, StatusReceived for every onStatus, MediaReceived while playing, ConnectionClosed
    (also when the server refuses: an ``error``-level onStatus or a connect ``_error``).
    """

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
            initial=ClientSessionState.HANDSHAKE,
            transitions=CLIENT_TRANSITIONS,
            close_input=ClientInput.CLOSE,
            chunk_size=chunk_size,
            window_ack_size=window_ack_size,
            limits=limits,
            media_limits=media_limits,
        )
        self._handshake = ClientHandshake(rng)
        self.app = app
        self.key = key
        self.mode = ClientMode(mode)
        self.tc_url = tc_url
        self._flash_version = flash_version
        self.stream_id = 0
        self._txn = 0.0
        self._pending: dict[float, str] = {}

    def __repr__(self) -> str:
        return f"<RtmpClientSession {self.mode.value} {self.state.value} app={self.app!r} key={self.key!r}>"

    def _command(self, name: str, obj: Any = None, *args: Any, stream_id: int = 0) -> None:
        self._txn += 1
        self._pending[self._txn] = name
        self._send_command(name, self._txn, obj, *args, stream_id=stream_id)

    def initiate(self) -> None:
        """Queue C0+C1."""
        data = self._handshake.initiate()
        self._out.append(data)
        self.bytes_sent += len(data)

    def _receive_handshake(self, data: bytes) -> bytes:
        hs = self._handshake
        if hs.done:
            return data
        reply = hs.receive_data(data)
        if not hs.done:
            return b""
        self._out.append(reply)  # C2 goes once S0 S1 S2 are in
        self.bytes_sent += len(reply)
        self._set_state(ClientInput.HANDSHAKE_DONE)
        self._events.append(HandshakeCompleted(digest=hs.server_digest_valid))
        self._start_connect()
        return hs.leftover

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
                self._set_state(ClientInput.CONNECTED)
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
                self._set_state(ClientInput.STREAM_CREATED)
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
        level, code, desc = (peer_text(info.get(k, "")) for k in ("level", "code", "description"))
        self._events.append(StatusReceived(stream_id=stream_id, level=level, code=code, description=desc))
        if code == StatusCode.PUBLISH_START and self.state is ClientSessionState.STARTING:
            self._set_state(ClientInput.PUBLISH_STARTED)
            self._authorise(True)
            self._events.append(PublishStarted(stream_id=stream_id))
        elif code == StatusCode.PLAY_START and self.state in (
            ClientSessionState.STARTING,
            ClientSessionState.PLAYING,
        ):
            first = self.state is ClientSessionState.STARTING
            self._set_state(ClientInput.PLAY_STARTED)
            self._authorise(True)
            if first:
                self._events.append(PlayStarted(stream_id=stream_id))
        elif level == "error":
            self._close(f"{code}: {desc}" if desc else code, error=True)

    def _handle_media(self, message: MediaMessage, stream_id: int) -> None:
        if self.state is ClientSessionState.PLAYING:
            self._events.append(MediaReceived(stream_id=stream_id, message=message))

    def _handle_data(self, payload: bytes, stream_id: int, timestamp: int) -> None:
        if self.state is not ClientSessionState.PLAYING or payload.startswith(SAMPLE_ACCESS_PREFIX):
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
                payload=SET_DATA_FRAME_PREFIX + message.payload,
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
        not is_finite_number(value)
        or not float(value).is_integer()
        or not 1 <= value <= MAX_MESSAGE_STREAM_ID
    ):
        raise RemoteProtocolError("createStream result has no valid stream id")
    return int(value)


def _status_text(args: tuple[Any, ...]) -> str:
    info = args[0] if args and isinstance(args[0], dict) else {}
    code = peer_text(info.get("code", ""))
    desc = peer_text(info.get("description", ""))
    return f"{code} {desc}".strip() or "no reason given"
