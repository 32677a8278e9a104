"""Backbone and last-mile impairment: sans-IO models, named profiles, timelines, and the link relays."""

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
    TcpCounters,
    TcpModel,
    TcpOutage,
    UdpCounters,
    UdpModel,
)
from .profiles import profile, profile_description, profile_names
from .timeline import Timeline, TimelineStep

if TYPE_CHECKING:
    from .link import TcpLink, UdpLink

__all__ = [
    "JITTER_DISTRIBUTIONS",
    "LOSS_MODELS",
    "OUTAGE_MODES",
    "Impairment",
    "ImpairmentError",
    "JitterProcess",
    "LossProcess",
    "NetemError",
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
    if name in ("UdpLink", "TcpLink"):
        from . import link

        return getattr(link, name)
    raise AttributeError(name)
