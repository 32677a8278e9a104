"""Stream hubs, the failover input switch, the MaxBitrate shaper and the routing interface between the
data plane and the control plane."""

from .failover import InputSwitch, SwitchInput
from .hub import (
    DEFAULT_CACHE_BYTES,
    DEFAULT_QUEUE_BYTES,
    Hub,
    HubClosed,
    HubCounters,
    HubSignal,
    HubUnit,
    PublisherBusy,
    Subscription,
    UnitKind,
)
from .routing import OpenRouter, Peer, Refused, StreamPath, StreamRouter, check_cidrs, parse_cidrs
from .shaper import MaxBitrateShaper

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_QUEUE_BYTES",
    "Hub",
    "HubClosed",
    "HubCounters",
    "HubSignal",
    "HubUnit",
    "InputSwitch",
    "MaxBitrateShaper",
    "OpenRouter",
    "Peer",
    "PublisherBusy",
    "Refused",
    "StreamPath",
    "StreamRouter",
    "Subscription",
    "SwitchInput",
    "UnitKind",
    "check_cidrs",
    "parse_cidrs",
]
