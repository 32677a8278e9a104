"""SRT live mode (HSv5, as libsrt 1.5 speaks it): sans-IO cores and asyncio adapters.

The cores (:mod:`.packet`, :mod:`.handshake`, :mod:`.keymaterial`, :mod:`.buffers`,
:mod:`.connection`) never touch sockets or clocks; :mod:`.endpoint` holds the asyncio
:class:`SrtListener` and :class:`SrtCaller` that feed and drain the relay hubs.
"""

from __future__ import annotations

from .config import SrtConfig, SrtMode, parse_srt_url
from .connection import ConnectionState, SrtAcceptor, SrtConnection, SrtStats
from .endpoint import REFUSED_CODES, AcceptHook, SrtCaller, SrtListener, SrtSession
from .errors import (
    ConfigError,
    ConnectionRejected,
    ConnectTimeout,
    LocalProtocolError,
    ParseError,
    RejectReason,
    RemoteProtocolError,
    SrtError,
    reject_reason_name,
)
from .events import (
    ConnectionClosed,
    ConnectionEstablished,
    Event,
    KeysRefreshed,
    PacketsDropped,
    PayloadReceived,
)
from .streamid import StreamId, StreamMode, parse_stream_id

__all__ = [
    "REFUSED_CODES",
    "AcceptHook",
    "ConfigError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionEstablished",
    "ConnectionRejected",
    "ConnectionState",
    "Event",
    "KeysRefreshed",
    "LocalProtocolError",
    "PacketsDropped",
    "ParseError",
    "PayloadReceived",
    "RejectReason",
    "RemoteProtocolError",
    "SrtAcceptor",
    "SrtCaller",
    "SrtConfig",
    "SrtConnection",
    "SrtError",
    "SrtListener",
    "SrtMode",
    "SrtSession",
    "SrtStats",
    "StreamId",
    "StreamMode",
    "parse_srt_url",
    "parse_stream_id",
    "reject_reason_name",
]
