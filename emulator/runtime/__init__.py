"""The runtime: online flows as live RTMP and SRT endpoints, relayed across regions (see
:mod:`emulator.runtime.core`). Modules: ``core`` (Runtime), ``live`` (online flows), ``routers``,
``clients`` (dialing clients), ``backbone``, ``lastmile``, ``view`` (the read of live state)."""

from mediaplane.relay import PublisherBusy
from mediaplane.relay.shaper import MaxBitrateShaper

from .backbone import Backbone, LinkKind
from .core import Runtime
from .live import INPUT_ACTIVE_WINDOW_S, INPUT_HOLD_S, STALE_PUBLISHER_S

__all__ = [
    "INPUT_ACTIVE_WINDOW_S",
    "INPUT_HOLD_S",
    "STALE_PUBLISHER_S",
    "Backbone",
    "LinkKind",
    "MaxBitrateShaper",
    "PublisherBusy",
    "Runtime",
]
