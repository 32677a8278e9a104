"""Flows, their inputs and outputs: the configuration the API reads and writes (pure data).

The closed vocabularies are ``StrEnum`` members whose values are the wire values (``"RTMP-PUSH"``,
``"online"``, ``"input"``), so JSON and the CLI see the same strings as before. The rules about which
values an operation accepts are in :mod:`emulator.model.rules`; the operations in
:mod:`emulator.model.manager`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..regions import Region

__all__ = [
    "DEFAULT_MAX_BITRATE",
    "DEFAULT_PLAYER_LIMIT",
    "DEFAULT_SRT_LATENCY_MS",
    "DEFAULT_SRT_PBKEYLEN",
    "FLOW_NAME_MAX",
    "INPUT_NAME_MAX",
    "MAX_BITRATE_MAX",
    "MAX_BITRATE_MIN",
    "MAX_OUTPUTS",
    "OUTPUT_NAME_MAX",
    "PASSPHRASE_MAX",
    "PASSPHRASE_MIN",
    "PLAYER_LIMIT_MAX",
    "PLAYER_LIMIT_MIN",
    "PROTOCOL_FAMILY",
    "RTMP_APP",
    "SRT_LATENCY_MAX_MS",
    "SRT_LATENCY_MIN_MS",
    "SRT_PBKEYLENS",
    "Endpoint",
    "Family",
    "Flow",
    "FlowInput",
    "FlowOutput",
    "FlowStatus",
    "InputProtocol",
    "InputStatus",
    "OutputProtocol",
    "Role",
    "endpoint_fields",
    "flow_view",
    "role_of",
]

FLOW_NAME_MAX = 64
INPUT_NAME_MAX = 128
OUTPUT_NAME_MAX = 128
MAX_OUTPUTS = 4
MAX_BITRATE_MIN = 100
MAX_BITRATE_MAX = 100_000_000
DEFAULT_MAX_BITRATE = MAX_BITRATE_MAX
SRT_LATENCY_MIN_MS = 20
SRT_LATENCY_MAX_MS = 8000
DEFAULT_SRT_LATENCY_MS = 120
SRT_PBKEYLENS = (0, 16, 24, 32)
DEFAULT_SRT_PBKEYLEN = 16
PASSPHRASE_MIN = 10
PASSPHRASE_MAX = 79
PLAYER_LIMIT_MIN = 1
PLAYER_LIMIT_MAX = 5
DEFAULT_PLAYER_LIMIT = PLAYER_LIMIT_MAX
RTMP_APP = "live"


class FlowStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class InputProtocol(StrEnum):
    RTMP_PUSH = "RTMP-PUSH"
    RTMP_PULL = "RTMP-PULL"
    SRT_LISTENER = "SRT-Listener"
    SRT_CALLER = "SRT-Caller"
    FLOW = "Flow"


class OutputProtocol(StrEnum):
    RTMP_PUSH = "RTMP-PUSH"
    RTMP_PULL = "RTMP-PULL"
    SRT_LISTENER = "SRT-Listener"
    SRT_CALLER = "SRT-Caller"
    FLOW = "Flow"


class Family(StrEnum):
    """The media family of an endpoint: what the stream hub carries."""

    RTMP = "RTMP"
    SRT = "SRT"


class InputStatus(StrEnum):
    """Values of ``InputStatus`` / ``BackupInputStatus``."""

    CONNECTED = "connected"
    """Media reached the input in the last 2 seconds."""
    DISCONNECTED = "disconnected"
    """The flow is online but no media arrived in the last 2 seconds."""
    OFFLINE = "offline"
    """The flow is offline."""


class Role(StrEnum):
    """Which side of a flow an endpoint is: its input (source) or one of its outputs."""

    INPUT = "input"
    OUTPUT = "output"


PROTOCOL_FAMILY: dict[str, Family] = {
    "RTMP-PUSH": Family.RTMP,
    "RTMP-PULL": Family.RTMP,
    "SRT-Listener": Family.SRT,
    "SRT-Caller": Family.SRT,
}
"""The family of every protocol but Flow (whose family is its pair's), for inputs and outputs alike."""


@dataclass(eq=False, kw_only=True)
class FlowInput:
    """An input (source) of a flow: the primary, or the backup once failover is open."""

    name: str
    protocol: InputProtocol
    url: str = ""
    """InputUrl: where a client pushes (RTMP-PUSH, SRT-Listener) or what is pulled (RTMP-PULL, SRT-Caller)."""
    inner_url: str = ""
    """InnerInputUrl (WithInternalVip=true on a push input), else empty."""
    from_url: str = ""
    """InputFromUrl (RTMP-PULL, SRT-Caller)."""
    max_bitrate: int = DEFAULT_MAX_BITRATE
    """MaxBitrate in bit/s."""
    cidrs: str = ""
    """Cidrs allow-list as given (empty: no access control); parse with ``mediaplane.relay.parse_cidrs``."""
    pair_flow_id: str = ""
    pair_output_name: str = ""
    srt_latency: int | None = None
    """SrtLatency in ms for SRT-family inputs (SRTO_LATENCY), None for RTMP."""
    srt_passphrase: str = ""
    """SRTO_PASSPHRASE; empty: no encryption."""
    srt_pbkeylen: int = 0
    """SRTO_PBKEYLEN in bytes (16 when a passphrase is set and none was given)."""
    srt_port: int | None = None
    """UDP port of an SRT-Listener input (from the region's range), else None."""
    stream_key: str = ""
    """RTMP-PUSH: the path part after ``live/`` of the InputUrl (``<InputName>_<32 hex>``)."""
    create_time: str = ""
    backup: bool = False
    family: Family = Family.RTMP
    """RTMP or SRT: from the protocol, or for protocol Flow from the paired output."""

    def __repr__(self) -> str:
        kind = "backup" if self.backup else "primary"
        return f"<FlowInput {self.name} {self.protocol} {kind} {self.url}>"


@dataclass(eq=False, kw_only=True)
class FlowOutput:
    """An output of a flow."""

    name: str
    protocol: OutputProtocol
    url: str = ""
    """OutputUrl: where players pull (RTMP-PULL, SRT-Listener) or where the flow pushes."""
    to_url: str = ""
    """OutputToUrl (RTMP-PUSH, SRT-Caller)."""
    pair_flow_id: str = ""
    pair_input_name: str = ""
    player_limit: int | None = None
    """PlayerLimit (RTMP-PULL, SRT-Listener): concurrent viewers allowed."""
    cidrs: str = ""
    srt_latency: int | None = None
    srt_passphrase: str = ""
    srt_pbkeylen: int = 0
    srt_port: int | None = None
    """UDP port of an SRT-Listener output, else None."""
    stream_key: str = ""
    """RTMP-PULL: the path part after ``live/`` of the OutputUrl (``<OutputName>_<32 hex>``)."""
    forbid: bool = False
    """True after ForbidMediaConnectFlowOutput: nothing is delivered until resumed."""
    create_time: str = ""
    family: Family = Family.RTMP

    def __repr__(self) -> str:
        return f"<FlowOutput {self.name} {self.protocol} {self.url}{' forbidden' if self.forbid else ''}>"


@dataclass(eq=False, kw_only=True)
class Flow:
    """A flow: one region, one input (plus a backup with failover), up to four outputs."""

    id: str
    name: str
    region: Region
    status: FlowStatus = FlowStatus.OFFLINE
    create_time: str = ""
    start_time: str = ""
    """Set while online, empty while offline."""
    failover_open: bool = False
    inputs: list[FlowInput] = field(default_factory=list)
    """Primary first, then the backup."""
    outputs: dict[str, FlowOutput] = field(default_factory=dict)
    """By name, in insertion order."""

    @property
    def online(self) -> bool:
        return self.status is FlowStatus.ONLINE

    @property
    def primary_input(self) -> FlowInput | None:
        return self.inputs[0] if self.inputs else None

    @property
    def backup_input(self) -> FlowInput | None:
        return self.inputs[1] if len(self.inputs) > 1 else None

    @property
    def family(self) -> Family | None:
        """The flow's media family (its input's), None while it has no input."""
        return self.inputs[0].family if self.inputs else None

    @property
    def endpoints(self) -> list[FlowInput | FlowOutput]:
        """The inputs, then the outputs."""
        return [*self.inputs, *self.outputs.values()]

    def input_named(self, name: str) -> FlowInput | None:
        return next((i for i in self.inputs if i.name == name), None)

    def __repr__(self) -> str:
        return f"<Flow {self.id} {self.name!r} {self.region.id} {self.status}>"


Endpoint = FlowInput | FlowOutput
"""An input or an output of a flow."""


def role_of(endpoint: Endpoint) -> Role:
    return Role.INPUT if isinstance(endpoint, FlowInput) else Role.OUTPUT


_INPUT_FIELDS = (
    "name", "protocol", "backup", "url", "inner_url", "from_url", "max_bitrate", "cidrs", "pair_flow_id",
    "pair_output_name", "srt_latency", "srt_passphrase", "srt_pbkeylen", "srt_port", "stream_key",
    "create_time",
)  # fmt: skip
_OUTPUT_FIELDS = (
    "name", "protocol", "url", "to_url", "pair_flow_id", "pair_input_name", "player_limit", "cidrs",
    "srt_latency", "srt_passphrase", "srt_pbkeylen", "srt_port", "stream_key", "forbid", "create_time",
)  # fmt: skip


def endpoint_fields(endpoint: Endpoint) -> dict[str, Any]:
    """Every configured field of an input or output by its attribute name, enums as their wire values
    (JSON-ready): the one serialisation both the state view (``/_emulator/state``, which adds live
    status and hides the passphrase) and the state document (:mod:`emulator.state_io`) start from."""
    names = _INPUT_FIELDS if isinstance(endpoint, FlowInput) else _OUTPUT_FIELDS
    doc = {name: getattr(endpoint, name) for name in names}
    doc["protocol"] = endpoint.protocol.value
    return doc


def flow_view(flow: Flow, input_status: Callable[[Flow, FlowInput], str]) -> dict[str, Any]:
    """A flow as ``/_emulator/state`` shows it: every field, each endpoint with its family and whether
    SRT encryption is on (never the passphrase), each input with its InputStatus."""

    def endpoint(ep: Endpoint) -> dict[str, Any]:
        view = endpoint_fields(ep)
        view["family"] = ep.family.value
        view["srt_encrypted"] = bool(view.pop("srt_passphrase"))
        if isinstance(ep, FlowInput):
            view["status"] = input_status(flow, ep)
        return view

    return {
        "id": flow.id,
        "name": flow.name,
        "region": flow.region.id,
        "status": flow.status.value,
        "create_time": flow.create_time,
        "start_time": flow.start_time,
        "failover_open": flow.failover_open,
        "inputs": [endpoint(i) for i in flow.inputs],
        "outputs": [endpoint(o) for o in flow.outputs.values()],
    }
