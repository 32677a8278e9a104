"""Events an RTMP session emits (``session.next_event()``), named for what already happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .message import MediaMessage

__all__ = [
    "Connected",
    "ConnectionClosed",
    "Event",
    "HandshakeCompleted",
    "MediaReceived",
    "PlayRequested",
    "PlayStarted",
    "PlayStopped",
    "PublishRequested",
    "PublishStarted",
    "PublishStopped",
    "StatusReceived",
    "StreamCreated",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeCompleted:
    digest: bool
    """The digest (FP9) handshake was used rather than the simple one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """Server: the client's ``connect`` was accepted. Client: the server answered ``_result``."""

    app: str
    tc_url: str
    command_object: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamCreated:
    """Client: ``createStream`` answered with a message stream id."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRequested:
    """Server: the client wants to publish; answer with ``accept_publish`` or ``reject_publish``."""

    stream_id: int
    key: str
    """Stream name without its ``?query``."""
    query: str
    publish_type: str
    """``live``, ``record`` or ``append`` as the client sent it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayRequested:
    """Server: the client wants to play; answer with ``accept_play`` or ``reject_play``."""

    stream_id: int
    key: str
    query: str
    start: float
    """The ``start`` argument (-2 live or recorded, -1 live only, >= 0 recorded from that second)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishStarted:
    """Client: the server answered ``NetStream.Publish.Start``."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayStarted:
    """Client: the server answered ``NetStream.Play.Start``."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishStopped:
    """Server: the publisher sent FCUnpublish, closeStream or deleteStream."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayStopped:
    """Server: the player sent closeStream or deleteStream."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReceived:
    """Client: an ``onStatus`` from the server (every one, also those that raise other events)."""

    stream_id: int
    level: str
    code: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaReceived:
    """Audio, video or data for the stream. Metadata sent as ``@setDataFrame`` arrives unwrapped."""

    stream_id: int
    message: MediaMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The session ended; nothing more will be sent or received. ``reason`` is stable text."""

    reason: str
    error: bool = False
    """True when a protocol error (ours or the peer's) ended it."""


Event = (
    HandshakeCompleted
    | Connected
    | StreamCreated
    | PublishRequested
    | PlayRequested
    | PublishStarted
    | PlayStarted
    | PublishStopped
    | PlayStopped
    | StatusReceived
    | MediaReceived
    | ConnectionClosed
)
