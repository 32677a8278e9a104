"""Backbone and last-mile impairment: sans-IO models, named profiles, timelines, and the link relays.

Cores (sans-IO): ``models`` (the impairment, the UDP model), ``tcp_model``, ``profiles``, ``timeline``,
``schedule`` (what the relays share: :class:`LinkDirection`, counters, the delivery queue). Adapters:
``udp_link`` (:class:`UdpLink`), ``tcp_link`` (:class:`TcpLink`), ``link_base`` (their delivery timer
and timeline runner); ``link`` re-exports both relays.
"""

from typing import TYPE_CHECKING

from .models import (
    JITTER_DISTRIBUTIONS,
    LOSS_MODELS,
    OUTAGE_MODES,
    Impairment,
    ImpairmentError,
    JitterProcess,
    LossProcess,
    NetemError,
    OutageMode,
    UdpCounters,
    UdpModel,
)
from .profiles import profile, profile_description, profile_names
from .schedule import LinkDirection
from .tcp_model import TcpCounters, TcpModel, TcpOutage
from .timeline import Timeline, TimelineStep

if TYPE_CHECKING:
    from .tcp_link import TcpLink
    from .udp_link import UdpLink

__all__ = [
    "JITTER_DISTRIBUTIONS",
    "LOSS_MODELS",
    "OUTAGE_MODES",
    "Impairment",
    "ImpairmentError",
    "JitterProcess",
    "LinkDirection",
    "LossProcess",
    "NetemError",
    "OutageMode",
    "TcpCounters",
    "TcpLink",
    "TcpModel",
    "TcpOutage",
    "Timeline",
    "TimelineStep",
    "UdpCounters",
    "UdpLink",
    "UdpModel",
    "profile",
    "profile_description",
    "profile_names",
]


def __getattr__(name: str) -> object:
    # The asyncio relays load on first use, so `import mediaplane.netem` stays free of asyncio.
    if name == "UdpLink":
        from .udp_link import UdpLink

        return UdpLink
    if name == "TcpLink":
        from .tcp_link import TcpLink

        return TcpLink
    raise AttributeError(name)
