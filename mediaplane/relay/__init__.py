"""Stream hubs and the routing interface between the data plane and the control plane."""

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

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_QUEUE_BYTES",
    "Hub",
    "HubClosed",
    "HubCounters",
    "HubSignal",
    "HubUnit",
    "OpenRouter",
    "Peer",
    "PublisherBusy",
    "Refused",
    "StreamPath",
    "StreamRouter",
    "Subscription",
    "UnitKind",
    "check_cidrs",
    "parse_cidrs",
]
