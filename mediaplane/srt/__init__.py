"""SRT live mode (HSv5, as libsrt 1.5 speaks it): sans-IO cores and asyncio adapters.

The cores (:mod:`.packet`, :mod:`.handshake`, the HSv5 :mod:`.negotiation`, :mod:`.keymaterial` and
the connection's key exchange in :mod:`.keying`, :mod:`.buffers`, the live :mod:`.sender` and
:mod:`.receiver`, :mod:`.connection`, the listener's :mod:`.acceptor` and the :mod:`.stats`) never
touch sockets or clocks; :mod:`.endpoint` holds the asyncio :class:`SrtListener` and (from
:mod:`.caller`, over :mod:`.socket_driver`) :class:`SrtCaller` that feed and drain the relay hubs.
Both take an :class:`SrtDirection`: what the caller of each connection does (publish or play).

Typical use::

    host, port, config, mode = parse_srt_url("srt://0.0.0.0:9000?mode=listener&latency=200000")
    async with SrtListener(router, host=host, port=port, config=config,
                           direction=SrtDirection.PUBLISH, accept_hook=hook) as listener:
        ...  # listener.port, listener.connections, listener.close_path(path, reason)

    async with SrtCaller("10.0.0.2", 9000, config=config, hub=hub, direction=SrtDirection.PUBLISH,
                         reconnect=True) as caller:
        ...  # caller.connected, caller.stats

    probe = SrtCaller(host, port, config=config)  # no hub: play into a private hub
    async with probe:
        async for payload in probe.payloads():
            ...
"""

from __future__ import annotations

from .acceptor import AcceptorStats, SrtAcceptor
from .config import HandshakeLimits, SrtConfig, SrtDirection, SrtMode, parse_srt_url
from .connection import ConnectionState, SrtConnection
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
from .receiver import LiveReceiver
from .sender import LiveSender
from .stats import RttEstimate, SrtStats
from .streamid import StreamId, StreamMode, parse_stream_id

__all__ = [
    "REFUSED_CODES",
    "AcceptHook",
    "AcceptorStats",
    "ConfigError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionEstablished",
    "ConnectionRejected",
    "ConnectionState",
    "Event",
    "HandshakeLimits",
    "KeysRefreshed",
    "LiveReceiver",
    "LiveSender",
    "LocalProtocolError",
    "PacketsDropped",
    "ParseError",
    "PayloadReceived",
    "RejectReason",
    "RemoteProtocolError",
    "RttEstimate",
    "SrtAcceptor",
    "SrtCaller",
    "SrtConfig",
    "SrtConnection",
    "SrtDirection",
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
