"""The link relays, as they were imported before the UDP and TCP relays got their own modules.

:mod:`mediaplane.netem.udp_link` (:class:`UdpLink`), :mod:`mediaplane.netem.tcp_link` (:class:`TcpLink`),
and what they share: :mod:`mediaplane.netem.schedule` (sans-IO: directions, counters, the delivery queue)
and :mod:`mediaplane.netem.link_base` (the delivery timer and the timeline runner).
"""

from __future__ import annotations

from .schedule import (
    BOTH,
    DELIVER_AHEAD_S,
    DIRECTIONS,
    EARLY_WAKE_S,
    FORWARD,
    REVERSE,
    DirectionCounters,
)
from .tcp_link import TcpLink
from .udp_link import UDP_MAX_DATAGRAM_BYTES, UDP_READ_BATCH, UDP_SOCKET_BUFFER_BYTES, Delivery, UdpLink

__all__ = [
    "BOTH",
    "DELIVER_AHEAD_S",
    "DIRECTIONS",
    "EARLY_WAKE_S",
    "FORWARD",
    "REVERSE",
    "UDP_MAX_DATAGRAM_BYTES",
    "UDP_READ_BATCH",
    "UDP_SOCKET_BUFFER_BYTES",
    "Delivery",
    "DirectionCounters",
    "TcpLink",
    "UdpLink",
]
