"""The server role of an RTMP session, sans-IO: a publisher or a player connected to us.

After :class:`PublishRequested` / :class:`PlayRequested` the owner answers with ``accept_*`` /
``reject_*``; see :mod:`~mediaplane.rtmp.base_session` for what both roles share.
"""

from __future__ import annotations

import enum
import logging
import random

from .amf0 import is_finite_number
from .base_session import (
    CAPABILITIES,
    DEFAULT_WINDOW_ACK_SIZE,
    FMS_VERSION,
    MAX_MESSAGE_STREAMS,
    RtmpSession,
    StatusCode,
    split_query,
    transitions_closing_anywhere,
    unwrap_data,
)
from .chunk import MEDIA_LIMITS, UNAUTHORISED_LIMITS, ChunkLimits
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    Connected,
    HandshakeCompleted,
    MediaReceived,
    PlayRequested,
    PlayStopped,
    PublishRequested,
    PublishStopped,
)
from .handshake import ServerHandshake
from .message import (
    CommandMessage,
    DataMessage,
    MediaMessage,
    MessageType,
    PeerBandwidthLimit,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
)

__all__ = ["RtmpServerSession", "ServerInput", "ServerSessionState"]


class ServerSessionState(enum.Enum):
    HANDSHAKE = "handshake"
    WAIT_CONNECT = "wait_connect"
    CONNECTED = "connected"
    PUBLISHING = "publishing"
    PLAYING = "playing"
    CLOSED = "closed"


class ServerInput(enum.Enum):
    """What moves a server session from one state to the next."""

    HANDSHAKE_DONE = "handshake_done"
    CONNECT = "connect"
    PUBLISH = "publish"
    """The owner accepted a publish request."""
    PLAY = "play"
    """The owner accepted a play request."""
    UNPUBLISH = "unpublish"
    STOP = "stop"
    """The player stopped playing (deleteStream / closeStream)."""
    CLOSE = "close"


_S = ServerSessionState
_I = ServerInput
SERVER_TRANSITIONS = transitions_closing_anywhere(
    {
        (_S.HANDSHAKE, _I.HANDSHAKE_DONE): _S.WAIT_CONNECT,
        (_S.WAIT_CONNECT, _I.CONNECT): _S.CONNECTED,
        (_S.CONNECTED, _I.PUBLISH): _S.PUBLISHING,
        (_S.CONNECTED, _I.PLAY): _S.PLAYING,
        (_S.PUBLISHING, _I.UNPUBLISH): _S.CONNECTED,
        (_S.PLAYING, _I.STOP): _S.CONNECTED,
    },
    _I.CLOSE,
    _S.CLOSED,
)
"""The server session's state machine; a missing pair is a protocol error."""


class RtmpServerSession(RtmpSession[ServerSessionState, ServerInput]):
    """The server side of one RTMP connection (a publisher or a player connected to us).

    After :class:`PublishRequested` / :class:`PlayRequested` the owner must answer with
    :meth:`accept_publish` / :meth:`reject_publish` or :meth:`accept_play` / :meth:`reject_play`.
    A player's media is queued with :meth:`send_media` (pre-chunked bytes shared between players).
    """

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
            initial=ServerSessionState.HANDSHAKE,
            transitions=SERVER_TRANSITIONS,
            close_input=ServerInput.CLOSE,
            chunk_size=chunk_size,
            window_ack_size=window_ack_size,
            limits=limits,
            media_limits=media_limits,
        )
        self._handshake: ServerHandshake | None = ServerHandshake(rng)
        self._peer_bandwidth = peer_bandwidth
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

    def _on_closed(self) -> None:
        self._handshake = None

    def _decoding_paused(self) -> bool:
        return self._pending_request is not None

    @property
    def authorised(self) -> bool:
        """True while publishing or playing (the owner accepted the request)."""
        return self.state in (ServerSessionState.PUBLISHING, ServerSessionState.PLAYING)

    # -- input -----------------------------------------------------------------------------------
    def _receive_handshake(self, data: bytes) -> bytes:
        hs = self._handshake
        if hs is None:
            return data
        reply = hs.receive_data(data)
        if reply:  # S0 S1 S2 go as soon as C0 C1 are in
            self._out.append(reply)
            self.bytes_sent += len(reply)
        if not hs.done:
            return b""
        self._handshake = None
        self._set_state(ServerInput.HANDSHAKE_DONE)
        self._events.append(HandshakeCompleted(digest=hs.digest_used))
        return hs.leftover

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
            if name == "deleteStream" and message.args and is_finite_number(message.args[0]):
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
        self._set_state(ServerInput.CONNECT)
        app = obj.get("app", "")
        self.app = split_query(app if isinstance(app, str) else "")[0].strip("/")
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
            "objectEncoding": float(encoding) if is_finite_number(encoding) else 0.0,
        }
        self._send_command("_result", message.transaction_id, props, info)
        self._send_command("onBWDone", 0.0, None, 8192.0)
        self._events.append(Connected(app=self.app, tc_url=self.tc_url, command_object=obj))

    def _stream_name(self, message: CommandMessage) -> tuple[str, str]:
        if not message.args or not isinstance(message.args[0], str) or not message.args[0]:
            raise RemoteProtocolError(f"{message.name} without a stream name")
        return split_query(message.args[0])

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
        start = message.args[1] if len(message.args) > 1 and is_finite_number(message.args[1]) else -2.0
        self.stream_key = key
        self._pending_request = stream_id
        self._events.append(PlayRequested(stream_id=stream_id, key=key, query=query, start=float(start)))

    def _handle_stream_end(self, stream_id: int) -> None:
        if self.state is ServerSessionState.PUBLISHING and stream_id == self.publish_stream_id:
            self._set_state(ServerInput.UNPUBLISH)
            self._authorise(False)
            self._send_status(stream_id, "status", StatusCode.UNPUBLISH_SUCCESS.value, "Stopped publishing.")
            self.publish_stream_id = 0
            self._events.append(PublishStopped(stream_id=stream_id))
        elif self.state is ServerSessionState.PLAYING and stream_id == self.play_stream_id:
            self._set_state(ServerInput.STOP)
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
        self._set_state(ServerInput.PUBLISH)
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
        self._set_state(ServerInput.PLAY)
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
