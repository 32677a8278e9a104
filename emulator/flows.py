"""Flows and the :class:`FlowManager`: the names other modules have always imported from here.

The code lives in :mod:`emulator.model` (:mod:`~emulator.model.flow` the data and enums,
:mod:`~emulator.model.rules` the rule tables and checks, :mod:`~emulator.model.manager` the operations
and the list of every rule of the API); this module re-exports it unchanged.
"""

from __future__ import annotations

from .errors import FlowStartError
from .model.flow import (
    DEFAULT_MAX_BITRATE,
    DEFAULT_PLAYER_LIMIT,
    DEFAULT_SRT_LATENCY_MS,
    FLOW_NAME_MAX,
    INPUT_NAME_MAX,
    MAX_OUTPUTS,
    OUTPUT_NAME_MAX,
    Family,
    Flow,
    FlowInput,
    FlowOutput,
    FlowStatus,
    InputProtocol,
    InputStatus,
    OutputProtocol,
    Role,
)
from .model.manager import EventSink, FlowManager, FlowRuntime
from .model.rules import dialing, listening

__all__ = [
    "DEFAULT_MAX_BITRATE",
    "DEFAULT_PLAYER_LIMIT",
    "DEFAULT_SRT_LATENCY_MS",
    "FLOW_NAME_MAX",
    "INPUT_NAME_MAX",
    "MAX_OUTPUTS",
    "OUTPUT_NAME_MAX",
    "EventSink",
    "Family",
    "Flow",
    "FlowInput",
    "FlowManager",
    "FlowOutput",
    "FlowRuntime",
    "FlowStartError",
    "FlowStatus",
    "InputProtocol",
    "InputStatus",
    "OutputProtocol",
    "Role",
    "dialing",
    "listening",
]
