"""RTMP: sans-IO protocol core (handshake, chunk stream, AMF0, messages, sessions) and asyncio adapters
(:class:`RtmpServer`, :class:`RtmpPuller`, :class:`RtmpPusher`)."""

from .chunk import ChunkDecoder, ChunkEncoder, ChunkLimits, RawMessage, encode_fmt0
from .client import RtmpClientConfig, RtmpPuller, RtmpPusher, RtmpUrl, parse_rtmp_url
from .errors import LocalProtocolError, ParseError, RemoteProtocolError, RtmpError
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
from .message import MediaKind, MediaMessage, MessageType, classify_media
from .server import HubFeeder, RtmpServer, RtmpServerConfig, RtmpServerConnection
from .session import ClientMode, RtmpClientSession, RtmpServerSession, StatusCode
from .synthetic import synthetic_stream

__all__ = [
    "ChunkDecoder",
    "ChunkEncoder",
    "ChunkLimits",
    "ClientMode",
    "Connected",
    "ConnectionClosed",
    "Event",
    "HandshakeCompleted",
    "HubFeeder",
    "LocalProtocolError",
    "MediaKind",
    "MediaMessage",
    "MediaReceived",
    "MessageType",
    "ParseError",
    "PlayRequested",
    "PlayStarted",
    "PlayStopped",
    "PublishRequested",
    "PublishStarted",
    "PublishStopped",
    "RawMessage",
    "RemoteProtocolError",
    "RtmpClientConfig",
    "RtmpClientSession",
    "RtmpError",
    "RtmpPuller",
    "RtmpPusher",
    "RtmpServer",
    "RtmpServerConfig",
    "RtmpServerConnection",
    "RtmpServerSession",
    "RtmpUrl",
    "StatusCode",
    "StatusReceived",
    "StreamCreated",
    "classify_media",
    "encode_fmt0",
    "parse_rtmp_url",
    "synthetic_stream",
]
