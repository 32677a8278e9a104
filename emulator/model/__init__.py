"""The control plane's model: flows and their rules, pure (no asyncio, no aiohttp, no sockets).

* :mod:`~emulator.model.flow`: :class:`Flow`, :class:`FlowInput`, :class:`FlowOutput` and the enums of
  their closed vocabularies (values are the wire values).
* :mod:`~emulator.model.rules`: which parameter applies to which protocol and role (tables, one
  :func:`refuse_inapplicable`), how each endpoint connects (:func:`listening`, :func:`dialing`), checks.
* :mod:`~emulator.model.manager`: :class:`FlowManager`, every API operation on flows.
* :mod:`~emulator.model.impairment`: impairments from their JSON form.
* :mod:`~emulator.model.lastmile`: a last-mile impairment's :class:`Direction` and :class:`LastMileSpec`.
"""

from .flow import (
    DEFAULT_MAX_BITRATE,
    DEFAULT_PLAYER_LIMIT,
    DEFAULT_SRT_LATENCY_MS,
    FLOW_NAME_MAX,
    INPUT_NAME_MAX,
    MAX_OUTPUTS,
    OUTPUT_NAME_MAX,
    Endpoint,
    Family,
    Flow,
    FlowInput,
    FlowOutput,
    FlowStatus,
    InputProtocol,
    InputStatus,
    OutputProtocol,
    Role,
    endpoint_fields,
    role_of,
)
from .impairment import impairment_from_body
from .lastmile import DIRECTIONS, Direction, LastMileSpec
from .manager import EventSink, FlowManager, FlowRuntime, SrtParams
from .rules import Connection, connection, dialing, listening, refuse_inapplicable

__all__ = [
    "DEFAULT_MAX_BITRATE",
    "DEFAULT_PLAYER_LIMIT",
    "DEFAULT_SRT_LATENCY_MS",
    "DIRECTIONS",
    "FLOW_NAME_MAX",
    "INPUT_NAME_MAX",
    "MAX_OUTPUTS",
    "OUTPUT_NAME_MAX",
    "Connection",
    "Direction",
    "Endpoint",
    "EventSink",
    "Family",
    "Flow",
    "FlowInput",
    "FlowManager",
    "FlowOutput",
    "FlowRuntime",
    "FlowStatus",
    "InputProtocol",
    "InputStatus",
    "LastMileSpec",
    "OutputProtocol",
    "Role",
    "SrtParams",
    "connection",
    "dialing",
    "endpoint_fields",
    "impairment_from_body",
    "listening",
    "refuse_inapplicable",
    "role_of",
]
