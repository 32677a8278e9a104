"""Flows, their inputs and outputs, and every rule of the MediaConnect API (ICE 2020-11-09).

:class:`FlowManager` owns all flows. The API layer calls it with already-decoded values and turns its
errors (:mod:`emulator.errors`) into ICE error bodies; the data plane is reached only through the
:class:`FlowRuntime` protocol (status changes, ports, live input status, Forbid).

Rules enforced (ICE-API.md)
---------------------------
* Names: letters, digits, ``_`` and ``-``; FlowName at most 64 characters, InputName at most 128,
  OutputName at most 128 (decision: the same limit as inputs). Flow names are unique per region; output
  names unique within their flow; a backup input's name differs from the primary's.
* One input per flow; a second (backup) input only while failover is open, with the primary's protocol
  (and, for protocol Flow, the primary's family). At most 4 outputs per flow.
* No RTMP <-> SRT conversion: RTMP-PUSH / RTMP-PULL outputs need an RTMP-family input, SRT-Listener /
  SRT-Caller outputs an SRT-family input. A Flow input takes the family of its paired output (RTMP-PULL:
  RTMP, SRT-Listener: SRT); a Flow output the family of its paired input (RTMP-PUSH: RTMP, SRT-Listener:
  SRT). Therefore an output can only be added once the flow has an input.
* Flow pairing: a Flow input's PairFlowId must name another existing flow and PairOutputName one of its
  outputs, which must be RTMP-PULL or SRT-Listener. A Flow output's PairFlowId must name another existing
  flow and PairInputName one of its inputs, which must be RTMP-PUSH or SRT-Listener.
* RTMP-PULL / SRT-Caller inputs need InputFromUrl (``rtmp://host[:port]/app/key`` / ``srt://host:port``);
  RTMP-PUSH / SRT-Caller outputs need OutputToUrl likewise.
* MaxBitrate 100 - 100,000,000 bit/s; SrtPbkeyLen in {0, 16, 24, 32}; SrtPassphrase empty or 10 - 79
  characters (libsrt's SRTO_PASSPHRASE rule); Cidrs a comma-separated list of CIDRs or addresses.
* Status changes only through :meth:`FlowManager.set_status`. Every configuration change (add, update or
  delete of an input or output, failover open / close, flow delete) is refused while the flow is online;
  Forbid / Resume of an output work in both states. An input can be deleted only when the flow has no
  outputs (a backup input can always be deleted while offline, the primary still feeds the outputs).

Decisions where the public material is silent ("Not public")
------------------------------------------------------------
* **Refused operations are HTTP errors**, never 200 with a non-zero RetCode: bad or inapplicable values
  are 400 ``InvalidParameter``, absent required values 400 ``MissingParameter``, unknown FlowId /
  InputName / OutputName / PairFlowId / PairOutputName / PairInputName 404 ``ResourceNotFound``, a state
  that forbids the operation (online flow, 5th output, second input without failover, no input yet,
  delete of an input that still has outputs, close failover with two inputs) 403 ``OperationDenied``; the
  runtime refusing to start a flow is 403 ``OperationDenied`` with its reason; an exhausted SRT port range
  503 ``ServiceUnAvailable``. Messages of parameter errors start with the field name
  (``"PairOutputName: flow ... has no output named 'X'"``); state errors name the flow and the reason.
* **Idempotence**: setting the status a flow already has, forbidding a forbidden output, resuming a
  delivering one, opening an open failover and closing a closed one all succeed and change nothing.
* **InputStatus** (and BackupInputStatus): ``"offline"`` while the flow is offline; while online, the
  runtime reports ``"connected"`` when media reached the input in the last 2 seconds and
  ``"disconnected"`` otherwise. The value comes from real traffic, never from configuration.
* **RTMP URLs**: an RTMP-PUSH input's InputUrl is ``rtmp://<region host>:<rtmp port>/live/<InputName>_<32
  hex>``; an RTMP-PULL output's OutputUrl is ``rtmp://<region host>:<rtmp port>/live/<OutputName>_<32
  hex>``; the port is the region RTMP server's real bound port. ``stream_key`` is the part after
  ``live/``; the 32 hex digits are random (``secrets``), so a URL cannot be guessed from the name.
* **SRT ports**: every SRT-Listener input and output owns one UDP port of its region's range, allocated
  when it is added (so the URL is known at once, as with the real service) and released when it, or its
  flow, is deleted, or on reset. Its URL is ``srt://<region host>:<port>``. One stream per port, so a
  caller needs no streamid.
* **Pull / caller / Flow URLs**: for RTMP-PULL and SRT-Caller inputs InputUrl is InputFromUrl; for
  RTMP-PUSH and SRT-Caller outputs OutputUrl is OutputToUrl; a Flow input's InputUrl is its paired
  output's URL and a Flow output's OutputUrl its paired input's URL (where the backbone leg connects).
* **WithInternalVip / InnerInputUrl**: the emulator has one network, so the "internal VIP" is the region's
  own address: with ``WithInternalVip=true`` a push input (RTMP-PUSH, SRT-Listener) gets InnerInputUrl
  equal to its InputUrl; otherwise, and for other protocols, InnerInputUrl is empty (omitted).
* **SrtLatency**: 20 - 8000 ms (SRTO_LATENCY), default 120 ms (libsrt's default) for SRT-family
  endpoints. **SrtPbkeyLen**: with a passphrase, 0 or absent means 16 (AES-128, as libsrt); without a
  passphrase it is stored as given (encryption off).
* **MaxBitrate** default when absent: 100,000,000 bit/s (the maximum, i.e. no shaping).
  **PlayerLimit** applies to RTMP-PULL and SRT-Listener outputs: 1 - 5 ("each output supports up to five
  streams"), default 5.
* **Inapplicable parameters** are refused (400 ``InvalidParameter``) when non-empty: InputFromUrl except
  on RTMP-PULL / SRT-Caller inputs, OutputToUrl except on RTMP-PUSH / SRT-Caller outputs, Pair* except on
  Flow endpoints, Srt* on RTMP-family endpoints, PlayerLimit except on RTMP-PULL / SRT-Listener outputs,
  Cidrs except on listening endpoints (RTMP-PUSH / SRT-Listener inputs, RTMP-PULL / SRT-Listener outputs).
  Empty strings count as absent, as the console sends them.
* **InputName on Update / Delete input** selects the input (primary or backup); it may be omitted when the
  flow has one input. It never renames. Deleting the primary while a backup exists is refused.
* **Starting** needs an input (403 otherwise). Deleting an output or input that a Flow endpoint of another
  flow is paired with is allowed: the pair then points at nothing and that backbone leg carries nothing.
* Times (CreateTime, StartTime) are UTC ``YYYY-MM-DDTHH:MM:SSZ``; StartTime is omitted while offline.
  FlowId is a random UUID; FlowFailover and Forbid are ``"yes"`` / ``"no"``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from mediaplane.relay import parse_cidrs

from .errors import (
    FlowStartError,
    InvalidValue,
    MissingValue,
    NotFound,
    WrongState,
)
from .regions import Region, RegionCatalogue

__all__ = [
    "DEFAULT_MAX_BITRATE",
    "DEFAULT_PLAYER_LIMIT",
    "DEFAULT_SRT_LATENCY_MS",
    "FLOW_NAME_MAX",
    "INPUT_NAME_MAX",
    "MAX_OUTPUTS",
    "OUTPUT_NAME_MAX",
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
]

logger = logging.getLogger(__name__)

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

_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")


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


_PROTOCOL_FAMILY = {
    "RTMP-PUSH": Family.RTMP,
    "RTMP-PULL": Family.RTMP,
    "SRT-Listener": Family.SRT,
    "SRT-Caller": Family.SRT,
}


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

    def input_named(self, name: str) -> FlowInput | None:
        return next((i for i in self.inputs if i.name == name), None)

    def __repr__(self) -> str:
        return f"<Flow {self.id} {self.name!r} {self.region.id} {self.status}>"


class EventSink(Protocol):
    def emit(self, type: str, **fields: Any) -> Any: ...


class FlowRuntime(Protocol):
    def rtmp_address(self, region: Region) -> tuple[str, int]:
        """Host and real bound port of the region's RTMP server, for URLs."""
        ...

    def allocate_srt_port(self, region: Region) -> int:
        """A free UDP port for a new SRT listener of this region (kept until released)."""
        ...

    def release_srt_port(self, region: Region, port: int) -> None: ...

    async def start_flow(self, flow: Flow) -> None:
        """Bring the flow's input and outputs live. Raises FlowStartError(reason) to refuse."""
        ...

    async def stop_flow(self, flow: Flow) -> None:
        """Close every session of the flow and free its listeners."""
        ...

    def input_status(self, flow: Flow, input: FlowInput) -> str: ...

    def set_output_forbidden(self, flow: Flow, output: FlowOutput, forbidden: bool) -> None: ...


_E = TypeVar("_E", InputProtocol, OutputProtocol, FlowStatus)


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _given(value: object) -> bool:
    """A parameter counts as given when it is not None and not an empty string."""
    return value is not None and value != ""


def _check_name(field_name: str, value: str | None, limit: int) -> str:
    if not _given(value):
        raise MissingValue(field_name)
    assert value is not None
    if len(value) > limit:
        raise InvalidValue(field_name, f"{len(value)} characters; at most {limit} are allowed")
    if not _NAME_RE.fullmatch(value):
        raise InvalidValue(field_name, f"{value!r} may contain only letters, digits, '_' and '-'")
    return value


def _parse_enum(kind: type[_E], field_name: str, value: str | None) -> _E:
    if value is None or value == "":
        raise MissingValue(field_name)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidValue(field_name, f"{value!r} is not one of {allowed}") from None


def _check_range(field_name: str, value: int, lo: int, hi: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field_name, f"{value!r} is not an integer")
    if not lo <= value <= hi:
        raise InvalidValue(field_name, f"{value} is out of range {lo:,}-{hi:,}{unit}")
    return value


def _check_cidrs(field_name: str, value: str) -> str:
    try:
        parse_cidrs(value)
    except ValueError as exc:
        raise InvalidValue(field_name, f"{exc}; write comma-separated CIDRs such as 10.0.0.0/8") from None
    return ",".join(p.strip() for p in value.split(",") if p.strip())


def _check_url(field_name: str, value: str | None, family: Family, why: str) -> str:
    if not _given(value):
        raise MissingValue(field_name, why)
    assert value is not None
    parts = urlsplit(value)
    scheme = "rtmp" if family is Family.RTMP else "srt"
    if parts.scheme.lower() != scheme:
        raise InvalidValue(field_name, f"{value!r} must be a {scheme}:// URL")
    try:
        port = parts.port
    except ValueError:
        raise InvalidValue(field_name, f"{value!r} has an invalid port") from None
    if not parts.hostname:
        raise InvalidValue(field_name, f"{value!r} has no host")
    if family is Family.SRT and port is None:
        raise InvalidValue(field_name, f"{value!r} needs a port: srt://host:port")
    if family is Family.RTMP and len([p for p in parts.path.split("/") if p]) < 2:
        raise InvalidValue(field_name, f"{value!r} needs an app and a stream key: rtmp://host[:port]/app/key")
    return value


def _refuse_if_given(field_name: str, value: object, reason: str) -> None:
    if _given(value):
        raise InvalidValue(field_name, reason)


@dataclass(slots=True, kw_only=True)
class _Srt:
    latency: int | None
    passphrase: str
    pbkeylen: int


def _srt_settings(
    family: Family,
    *,
    latency: int | None,
    passphrase: str | None,
    pbkeylen: int | None,
    current: _Srt | None = None,
    what: str,
) -> _Srt:
    """Validate the Srt* parameters of an endpoint; ``current`` holds the values an update keeps."""
    if family is not Family.SRT:
        for name, value in (
            ("SrtLatency", latency),
            ("SrtPassphrase", passphrase),
            ("SrtPbkeyLen", pbkeylen),
        ):
            _refuse_if_given(name, value, f"applies only to SRT endpoints; {what} is RTMP")
        return _Srt(latency=None, passphrase="", pbkeylen=0)
    base = current or _Srt(latency=DEFAULT_SRT_LATENCY_MS, passphrase="", pbkeylen=0)
    new_latency = base.latency
    if latency is not None:
        new_latency = _check_range("SrtLatency", latency, SRT_LATENCY_MIN_MS, SRT_LATENCY_MAX_MS, " ms")
    new_pass = base.passphrase if passphrase is None else passphrase
    if new_pass and not PASSPHRASE_MIN <= len(new_pass) <= PASSPHRASE_MAX:
        raise InvalidValue(
            "SrtPassphrase", f"{len(new_pass)} characters; {PASSPHRASE_MIN}-{PASSPHRASE_MAX} are required"
        )
    new_len = base.pbkeylen
    if pbkeylen is not None:
        if isinstance(pbkeylen, bool) or pbkeylen not in SRT_PBKEYLENS:
            raise InvalidValue("SrtPbkeyLen", f"{pbkeylen!r} is not one of 0, 16, 24, 32")
        new_len = pbkeylen
    if new_pass and new_len == 0:
        new_len = DEFAULT_SRT_PBKEYLEN
    return _Srt(latency=new_latency, passphrase=new_pass, pbkeylen=new_len)


_LISTENING_INPUTS = (InputProtocol.RTMP_PUSH, InputProtocol.SRT_LISTENER)
_PULLING_INPUTS = (InputProtocol.RTMP_PULL, InputProtocol.SRT_CALLER)
_LISTENING_OUTPUTS = (OutputProtocol.RTMP_PULL, OutputProtocol.SRT_LISTENER)
_PUSHING_OUTPUTS = (OutputProtocol.RTMP_PUSH, OutputProtocol.SRT_CALLER)


class FlowManager:
    """Every flow of the emulator and every rule about them.

    ``regions`` is the catalogue; ``runtime`` brings flows live (see :class:`FlowRuntime`). ``clock``
    returns wall-clock seconds (CreateTime / StartTime); ``new_id`` makes FlowIds; ``new_token`` the 32
    hex digits of RTMP stream keys. Mutating methods raise :mod:`emulator.errors` ``FlowError``
    subclasses; :meth:`set_status` also raises :class:`FlowStartError` from the runtime.

    The runtime is called for: URLs and SRT ports when endpoints are added (``rtmp_address``,
    ``allocate_srt_port``), port release when they are deleted (``release_srt_port``), ``start_flow`` /
    ``stop_flow`` on status changes and reset, ``input_status`` only for online flows, and
    ``set_output_forbidden`` only for online flows (``start_flow`` reads ``FlowOutput.forbid``).
    """

    def __init__(
        self,
        regions: RegionCatalogue,
        runtime: FlowRuntime,
        *,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] | None = None,
        new_token: Callable[[], str] | None = None,
    ) -> None:
        self.regions = regions
        self.runtime = runtime
        self._clock = clock
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._new_token = new_token or (lambda: secrets.token_hex(16))
        self._flows: dict[str, Flow] = {}
        self._changing: set[str] = set()
        self.events: EventSink | None = None
        """Where ``flow.created``, ``flow.deleted`` and ``flow.status`` go (:mod:`emulator.events`)."""

    # --- queries -------------------------------------------------------------------------------------

    @property
    def flows(self) -> list[Flow]:
        """All flows in creation order."""
        return list(self._flows.values())

    def get_flow(self, flow_id: str | None) -> Flow:
        """The flow with this id. Raises MissingValue / NotFound (field ``FlowId``)."""
        if not _given(flow_id):
            raise MissingValue("FlowId")
        assert flow_id is not None
        flow = self._flows.get(flow_id)
        if flow is None:
            raise NotFound("FlowId", f"no flow with id {flow_id!r}")
        return flow

    def find_flow(self, region_id: str, name: str) -> Flow | None:
        """The flow of this region with this name, if any."""
        return next((f for f in self._flows.values() if f.region.id == region_id and f.name == name), None)

    def get_input(self, flow_id: str | None, name: str | None = None) -> FlowInput:
        """An input of the flow: the named one, or the only / primary one when ``name`` is empty."""
        flow = self.get_flow(flow_id)
        return self._select_input(flow, name, require_name=False)

    def get_output(self, flow_id: str | None, name: str | None) -> FlowOutput:
        flow = self.get_flow(flow_id)
        return self._output(flow, name)

    def output_names(self, flow_id: str | None) -> list[str]:
        return list(self.get_flow(flow_id).outputs)

    def input_status(self, flow: Flow, flow_input: FlowInput) -> str:
        """InputStatus: ``offline`` for an offline flow, else what the runtime measured."""
        if not flow.online:
            return InputStatus.OFFLINE.value
        return str(self.runtime.input_status(flow, flow_input))

    def endpoint_for_stream_key(
        self, region_id: str, stream_key: str
    ) -> tuple[Flow, FlowInput | FlowOutput] | None:
        """The RTMP-PUSH input or RTMP-PULL output of this region whose stream key this is."""
        for flow in self._flows.values():
            if flow.region.id != region_id:
                continue
            for inp in flow.inputs:
                if inp.stream_key and inp.stream_key == stream_key:
                    return flow, inp
            for out in flow.outputs.values():
                if out.stream_key and out.stream_key == stream_key:
                    return flow, out
        return None

    def endpoint_for_srt_port(self, region_id: str, port: int) -> tuple[Flow, FlowInput | FlowOutput] | None:
        """The SRT-Listener input or output of this region that owns this UDP port."""
        for flow in self._flows.values():
            if flow.region.id != region_id:
                continue
            for inp in flow.inputs:
                if inp.srt_port == port:
                    return flow, inp
            for out in flow.outputs.values():
                if out.srt_port == port:
                    return flow, out
        return None

    # --- flows ---------------------------------------------------------------------------------------

    def create_flow(self, *, name: str | None, region: str | None) -> Flow:
        """CreateMediaConnectFlow. Raises MissingValue / InvalidValue (FlowName, FlowRegion)."""
        name = _check_name("FlowName", name, FLOW_NAME_MAX)
        if not _given(region):
            raise MissingValue("FlowRegion")
        assert region is not None
        if region not in self.regions:
            raise InvalidValue(
                "FlowRegion",
                f"region {region!r} is not available; choose one of {', '.join(self.regions.ids)}",
            )
        reg = self.regions.get(region)
        if self.find_flow(reg.id, name) is not None:
            raise InvalidValue("FlowName", f"a flow named {name!r} already exists in region {reg.id}")
        flow_id = self._new_id()
        while flow_id in self._flows:
            flow_id = self._new_id()
        flow = Flow(id=flow_id, name=name, region=reg, create_time=_utc(self._clock()))
        self._flows[flow_id] = flow
        logger.info("[%s] flow %s %r created", reg.id, flow_id, name)
        self._emit("flow.created", flow)
        return flow

    def adopt(self, flow: Flow) -> None:
        """Take ``flow`` as it is (a state import builds flows with their ids, keys and ports). Its
        region must be one of this manager's, its id free, its SRT ports reserved with the runtime."""
        if flow.id in self._flows:
            raise InvalidValue("FlowId", f"a flow with id {flow.id!r} already exists")
        if self.find_flow(flow.region.id, flow.name) is not None:
            raise InvalidValue(
                "FlowName", f"a flow named {flow.name!r} already exists in region {flow.region.id}"
            )
        flow.region = self.regions.get(flow.region.id)
        self._flows[flow.id] = flow
        logger.info("[%s] flow %s %r restored", flow.region.id, flow.id, flow.name)
        self._emit("flow.created", flow)

    def delete_flow(self, flow_id: str | None) -> None:
        """DeleteMediaConnectFlow: refused while online; deletes the inputs and outputs too."""
        flow = self._flow_for_change(flow_id, "deleting it")
        for inp in flow.inputs:
            self._release(flow, inp.srt_port)
        for out in flow.outputs.values():
            self._release(flow, out.srt_port)
        del self._flows[flow.id]
        logger.info("[%s] flow %s %r deleted", flow.region.id, flow.id, flow.name)
        self._emit("flow.deleted", flow)

    async def set_status(self, flow_id: str | None, status: str | None) -> None:
        """UpdateMediaConnectFlowStatus: ``online`` starts the flow through the runtime, ``offline`` stops it.

        Raises MissingValue / InvalidValue (Status), NotFound (FlowId), WrongState (no input, change already
        in progress) and FlowStartError (the runtime refused; the flow stays offline).
        """
        flow = self.get_flow(flow_id)
        target = _parse_enum(FlowStatus, "Status", status)
        self._check_not_changing(flow)
        if flow.status is target:
            return
        if target is FlowStatus.ONLINE and not flow.inputs:
            raise WrongState(f"flow {flow.id} has no input; add one before starting it")
        self._changing.add(flow.id)
        try:
            if target is FlowStatus.ONLINE:
                await self.runtime.start_flow(flow)
            else:
                await self._stop(flow)
            self._set_status(flow, target)
        finally:
            self._changing.discard(flow.id)

    # --- inputs --------------------------------------------------------------------------------------

    def add_input(
        self,
        flow_id: str | None,
        *,
        name: str | None,
        protocol: str | None,
        cidrs: str | None = None,
        from_url: str | None = None,
        max_bitrate: int | None = None,
        pair_flow_id: str | None = None,
        pair_output_name: str | None = None,
        srt_latency: int | None = None,
        srt_passphrase: str | None = None,
        srt_pbkeylen: int | None = None,
        with_internal_vip: bool = False,
    ) -> FlowInput:
        """AddMediaConnectFlowInput: the primary input, or the backup while failover is open."""
        flow = self._flow_for_change(flow_id, "adding an input")
        name = _check_name("InputName", name, INPUT_NAME_MAX)
        proto = _parse_enum(InputProtocol, "InputProtocol", protocol)
        primary = flow.primary_input
        if primary is not None:
            if not flow.failover_open:
                raise WrongState(
                    f"flow {flow.id} already has input {primary.name!r}; a second (backup) input needs "
                    "failover open (OpenMediaConnectFlowFailover)"
                )
            if len(flow.inputs) >= 2:
                raise WrongState(f"flow {flow.id} already has a primary and a backup input")
            if proto is not primary.protocol:
                raise InvalidValue(
                    "InputProtocol",
                    f"the backup input must use the primary input's protocol {primary.protocol}",
                )
            if name == primary.name:
                raise InvalidValue("InputName", f"{name!r} is already the name of the primary input")
        inp = FlowInput(name=name, protocol=proto, backup=primary is not None)
        what = f"input protocol {proto}"

        # Parameters that belong to other protocols.
        if proto not in _PULLING_INPUTS:
            _refuse_if_given(
                "InputFromUrl", from_url, f"applies only to RTMP-PULL and SRT-Caller inputs, not {proto}"
            )
        if proto is not InputProtocol.FLOW:
            _refuse_if_given("PairFlowId", pair_flow_id, f"applies only to Flow inputs, not {proto}")
            _refuse_if_given("PairOutputName", pair_output_name, f"applies only to Flow inputs, not {proto}")
        if proto not in _LISTENING_INPUTS:
            _refuse_if_given(
                "Cidrs", cidrs, f"applies only to RTMP-PUSH and SRT-Listener inputs, not {proto}"
            )

        if proto is InputProtocol.FLOW:
            pair_flow, pair_out = self._paired_output(flow, pair_flow_id, pair_output_name)
            inp.family = pair_out.family
            inp.pair_flow_id, inp.pair_output_name = pair_flow.id, pair_out.name
            inp.url = pair_out.url
            what = f"the Flow input (paired with {pair_out.protocol} output {pair_out.name!r})"
        else:
            inp.family = _PROTOCOL_FAMILY[proto]
        if primary is not None and inp.family is not primary.family:
            raise InvalidValue(
                "PairOutputName",
                f"the backup input would carry {inp.family} but the primary input carries {primary.family}",
            )
        if proto in _PULLING_INPUTS:
            inp.from_url = inp.url = _check_url("InputFromUrl", from_url, inp.family, f"for {proto} inputs")
        if _given(max_bitrate):
            assert max_bitrate is not None
            inp.max_bitrate = _check_range(
                "MaxBitrate", max_bitrate, MAX_BITRATE_MIN, MAX_BITRATE_MAX, " bit/s"
            )
        if _given(cidrs):
            assert cidrs is not None
            inp.cidrs = _check_cidrs("Cidrs", cidrs)
        srt = _srt_settings(
            inp.family, latency=srt_latency, passphrase=srt_passphrase, pbkeylen=srt_pbkeylen, what=what
        )
        inp.srt_latency, inp.srt_passphrase, inp.srt_pbkeylen = srt.latency, srt.passphrase, srt.pbkeylen

        # Everything is valid: take resources.
        if proto is InputProtocol.RTMP_PUSH:
            inp.stream_key, inp.url = self._rtmp_endpoint(flow.region, name)
        elif proto is InputProtocol.SRT_LISTENER:
            inp.srt_port = self.runtime.allocate_srt_port(flow.region)
            inp.url = f"srt://{flow.region.host}:{inp.srt_port}"
        if with_internal_vip and proto in _LISTENING_INPUTS:
            inp.inner_url = inp.url
        inp.create_time = _utc(self._clock())
        flow.inputs.append(inp)
        logger.info("[%s] flow %s: %r added", flow.region.id, flow.id, inp)
        return inp

    def update_input(
        self,
        flow_id: str | None,
        *,
        name: str | None = None,
        cidrs: str | None = None,
        from_url: str | None = None,
        max_bitrate: int | None = None,
        srt_latency: int | None = None,
        srt_passphrase: str | None = None,
        srt_pbkeylen: int | None = None,
    ) -> FlowInput:
        """UpdateMediaConnectFlowInput (offline only). ``name`` selects the input; None keeps a value.

        ``cidrs=""`` removes the allow-list and ``srt_passphrase=""`` turns encryption off.
        """
        flow = self._flow_for_change(flow_id, "updating its input")
        inp = self._select_input(flow, name, require_name=False)
        proto = inp.protocol
        if proto not in _PULLING_INPUTS:
            _refuse_if_given(
                "InputFromUrl", from_url, f"applies only to RTMP-PULL and SRT-Caller inputs, not {proto}"
            )
        if proto not in _LISTENING_INPUTS:
            _refuse_if_given(
                "Cidrs", cidrs, f"applies only to RTMP-PUSH and SRT-Listener inputs, not {proto}"
            )
        new_from = inp.from_url
        if proto in _PULLING_INPUTS and from_url is not None:
            new_from = _check_url("InputFromUrl", from_url, inp.family, f"for {proto} inputs")
        new_bitrate = inp.max_bitrate
        if _given(max_bitrate):
            assert max_bitrate is not None
            new_bitrate = _check_range("MaxBitrate", max_bitrate, MAX_BITRATE_MIN, MAX_BITRATE_MAX, " bit/s")
        new_cidrs = inp.cidrs if cidrs is None else _check_cidrs("Cidrs", cidrs)
        srt = _srt_settings(
            inp.family,
            latency=srt_latency,
            passphrase=srt_passphrase,
            pbkeylen=srt_pbkeylen,
            current=_Srt(latency=inp.srt_latency, passphrase=inp.srt_passphrase, pbkeylen=inp.srt_pbkeylen),
            what=f"input {inp.name!r}",
        )
        if proto in _PULLING_INPUTS:
            inp.from_url = inp.url = new_from
        inp.max_bitrate, inp.cidrs = new_bitrate, new_cidrs
        inp.srt_latency, inp.srt_passphrase, inp.srt_pbkeylen = srt.latency, srt.passphrase, srt.pbkeylen
        return inp

    def delete_input(self, flow_id: str | None, name: str | None = None) -> None:
        """DeleteMediaConnectFlowInput (offline only; the primary only once no output is left)."""
        flow = self._flow_for_change(flow_id, "deleting its input")
        inp = self._select_input(flow, name, require_name=True)
        if not inp.backup:
            if flow.backup_input is not None:
                raise WrongState(
                    f"input {inp.name!r} is the primary; delete the backup input "
                    f"{flow.backup_input.name!r} first"
                )
            if flow.outputs:
                raise WrongState(
                    f"flow {flow.id} still has outputs ({', '.join(flow.outputs)}); "
                    "delete them before its input"
                )
        flow.inputs.remove(inp)
        self._release(flow, inp.srt_port)
        logger.info("[%s] flow %s: input %r deleted", flow.region.id, flow.id, inp.name)

    def open_failover(self, flow_id: str | None) -> None:
        """OpenMediaConnectFlowFailover: needs an input; offline only."""
        flow = self._flow_for_change(flow_id, "opening failover")
        if not flow.inputs:
            raise WrongState(f"flow {flow.id} has no input; failover needs a primary input")
        flow.failover_open = True

    def close_failover(self, flow_id: str | None) -> None:
        """CloseMediaConnectFlowFailover: refused while a backup input exists; offline only."""
        flow = self._flow_for_change(flow_id, "closing failover")
        backup = flow.backup_input
        if backup is not None:
            raise WrongState(
                f"flow {flow.id} has a backup input {backup.name!r}; delete it before closing failover"
            )
        flow.failover_open = False

    # --- outputs -------------------------------------------------------------------------------------

    def add_output(
        self,
        flow_id: str | None,
        *,
        name: str | None,
        protocol: str | None,
        to_url: str | None = None,
        pair_flow_id: str | None = None,
        pair_input_name: str | None = None,
        player_limit: int | None = None,
        cidrs: str | None = None,
        srt_latency: int | None = None,
        srt_passphrase: str | None = None,
        srt_pbkeylen: int | None = None,
    ) -> FlowOutput:
        """AddMediaConnectFlowOutput (offline only; at most 4; family must match the input's)."""
        flow = self._flow_for_change(flow_id, "adding an output")
        name = _check_name("OutputName", name, OUTPUT_NAME_MAX)
        proto = _parse_enum(OutputProtocol, "OutputProtocol", protocol)
        if name in flow.outputs:
            raise InvalidValue("OutputName", f"flow {flow.id} already has an output named {name!r}")
        if len(flow.outputs) >= MAX_OUTPUTS:
            raise WrongState(f"flow {flow.id} already has {MAX_OUTPUTS} outputs, the maximum")
        primary = flow.primary_input
        if primary is None:
            raise WrongState(
                f"flow {flow.id} has no input; add its input first "
                "(an output's protocol must match its family)"
            )
        out = FlowOutput(name=name, protocol=proto)
        if proto not in _PUSHING_OUTPUTS:
            _refuse_if_given(
                "OutputToUrl", to_url, f"applies only to RTMP-PUSH and SRT-Caller outputs, not {proto}"
            )
        if proto is not OutputProtocol.FLOW:
            _refuse_if_given("PairFlowId", pair_flow_id, f"applies only to Flow outputs, not {proto}")
            _refuse_if_given("PairInputName", pair_input_name, f"applies only to Flow outputs, not {proto}")
        if proto not in _LISTENING_OUTPUTS:
            _refuse_if_given(
                "PlayerLimit",
                player_limit,
                f"applies only to RTMP-PULL and SRT-Listener outputs, not {proto}",
            )
            _refuse_if_given(
                "Cidrs", cidrs, f"applies only to RTMP-PULL and SRT-Listener outputs, not {proto}"
            )
        what = f"output protocol {proto}"
        if proto is OutputProtocol.FLOW:
            pair_flow, pair_in = self._paired_input(flow, pair_flow_id, pair_input_name)
            out.family = pair_in.family
            out.pair_flow_id, out.pair_input_name = pair_flow.id, pair_in.name
            out.url = pair_in.url
            what = f"the Flow output (paired with {pair_in.protocol} input {pair_in.name!r})"
            if out.family is not primary.family:
                raise InvalidValue(
                    "PairInputName",
                    f"input {pair_in.name!r} of flow {pair_flow.id} is {pair_in.protocol} "
                    f"({pair_in.family}) but this flow's input {primary.name!r} carries {primary.family}; "
                    "there is no RTMP<->SRT conversion",
                )
        else:
            out.family = _PROTOCOL_FAMILY[proto]
            if out.family is not primary.family:
                raise InvalidValue(
                    "OutputProtocol",
                    f"{proto} needs an {out.family} source but this flow's input {primary.name!r} is "
                    f"{primary.protocol} ({primary.family}); there is no RTMP<->SRT conversion",
                )
        if proto in _PUSHING_OUTPUTS:
            out.to_url = out.url = _check_url("OutputToUrl", to_url, out.family, f"for {proto} outputs")
        if proto in _LISTENING_OUTPUTS:
            out.player_limit = DEFAULT_PLAYER_LIMIT
            if _given(player_limit):
                assert player_limit is not None
                out.player_limit = _check_range(
                    "PlayerLimit", player_limit, PLAYER_LIMIT_MIN, PLAYER_LIMIT_MAX
                )
            if _given(cidrs):
                assert cidrs is not None
                out.cidrs = _check_cidrs("Cidrs", cidrs)
        srt = _srt_settings(
            out.family, latency=srt_latency, passphrase=srt_passphrase, pbkeylen=srt_pbkeylen, what=what
        )
        out.srt_latency, out.srt_passphrase, out.srt_pbkeylen = srt.latency, srt.passphrase, srt.pbkeylen

        if proto is OutputProtocol.RTMP_PULL:
            out.stream_key, out.url = self._rtmp_endpoint(flow.region, name)
        elif proto is OutputProtocol.SRT_LISTENER:
            out.srt_port = self.runtime.allocate_srt_port(flow.region)
            out.url = f"srt://{flow.region.host}:{out.srt_port}"
        out.create_time = _utc(self._clock())
        flow.outputs[name] = out
        logger.info("[%s] flow %s: %r added", flow.region.id, flow.id, out)
        return out

    def update_output(
        self,
        flow_id: str | None,
        name: str | None,
        *,
        cidrs: str | None = None,
        to_url: str | None = None,
        player_limit: int | None = None,
        srt_latency: int | None = None,
        srt_passphrase: str | None = None,
        srt_pbkeylen: int | None = None,
    ) -> FlowOutput:
        """UpdateMediaConnectFlowOutput (offline only). None keeps a value."""
        flow = self._flow_for_change(flow_id, "updating its outputs")
        out = self._output(flow, name)
        proto = out.protocol
        if proto not in _PUSHING_OUTPUTS:
            _refuse_if_given(
                "OutputToUrl", to_url, f"applies only to RTMP-PUSH and SRT-Caller outputs, not {proto}"
            )
        if proto not in _LISTENING_OUTPUTS:
            _refuse_if_given(
                "PlayerLimit",
                player_limit,
                f"applies only to RTMP-PULL and SRT-Listener outputs, not {proto}",
            )
            _refuse_if_given(
                "Cidrs", cidrs, f"applies only to RTMP-PULL and SRT-Listener outputs, not {proto}"
            )
        new_to = out.to_url
        if proto in _PUSHING_OUTPUTS and to_url is not None:
            new_to = _check_url("OutputToUrl", to_url, out.family, f"for {proto} outputs")
        new_limit = out.player_limit
        if proto in _LISTENING_OUTPUTS and _given(player_limit):
            assert player_limit is not None
            new_limit = _check_range("PlayerLimit", player_limit, PLAYER_LIMIT_MIN, PLAYER_LIMIT_MAX)
        new_cidrs = out.cidrs if cidrs is None else _check_cidrs("Cidrs", cidrs)
        srt = _srt_settings(
            out.family,
            latency=srt_latency,
            passphrase=srt_passphrase,
            pbkeylen=srt_pbkeylen,
            current=_Srt(latency=out.srt_latency, passphrase=out.srt_passphrase, pbkeylen=out.srt_pbkeylen),
            what=f"output {out.name!r}",
        )
        if proto in _PUSHING_OUTPUTS:
            out.to_url = out.url = new_to
        out.player_limit, out.cidrs = new_limit, new_cidrs
        out.srt_latency, out.srt_passphrase, out.srt_pbkeylen = srt.latency, srt.passphrase, srt.pbkeylen
        return out

    def delete_output(self, flow_id: str | None, name: str | None) -> None:
        """DeleteMediaConnectFlowOutput (offline only)."""
        flow = self._flow_for_change(flow_id, "deleting its outputs")
        out = self._output(flow, name)
        del flow.outputs[out.name]
        self._release(flow, out.srt_port)
        logger.info("[%s] flow %s: output %r deleted", flow.region.id, flow.id, out.name)

    def forbid_output(self, flow_id: str | None, name: str | None) -> None:
        """ForbidMediaConnectFlowOutput: stop delivery to this output, keep its configuration."""
        self._set_forbid(flow_id, name, True)

    def resume_output(self, flow_id: str | None, name: str | None) -> None:
        """ResumeMediaConnectFlowOutput: deliver again."""
        self._set_forbid(flow_id, name, False)

    # --- whole state ---------------------------------------------------------------------------------

    async def reset(self) -> None:
        """Stop every online flow, release every SRT port, forget every flow."""
        for flow in list(self._flows.values()):
            if flow.online:
                await self._stop(flow)
                self._set_status(flow, FlowStatus.OFFLINE)
            for inp in flow.inputs:
                self._release(flow, inp.srt_port)
            for out in flow.outputs.values():
                self._release(flow, out.srt_port)
            self._emit("flow.deleted", flow)
        self._flows.clear()
        self._changing.clear()
        logger.info("all flows reset")

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view of the regions and flows (admin API ``/_emulator/state``)."""
        return {
            "regions": [r.to_dict() for r in self.regions],
            "default_region": self.regions.get_default().id,
            "flows": [self._flow_view(f) for f in self._flows.values()],
        }

    # --- internals -----------------------------------------------------------------------------------

    def _set_status(self, flow: Flow, status: FlowStatus) -> None:
        """The one place a flow's status changes (offline <-> online); StartTime follows it."""
        old, flow.status = flow.status, status
        flow.start_time = _utc(self._clock()) if status is FlowStatus.ONLINE else ""
        logger.info("[%s] flow %s %r: %s -> %s", flow.region.id, flow.id, flow.name, old, status)
        self._emit("flow.status", flow, status=status.value)

    def _emit(self, type: str, flow: Flow, **fields: Any) -> None:
        if self.events is not None:
            self.events.emit(type, flow_id=flow.id, flow=flow.name, region=flow.region.id, **fields)

    async def _stop(self, flow: Flow) -> None:
        """Ask the runtime to stop the flow. A failure is logged: the flow is offline either way."""
        try:
            await self.runtime.stop_flow(flow)
        except Exception:
            logger.exception("[%s] flow %s: the runtime failed to stop it cleanly", flow.region.id, flow.id)

    def _flow_view(self, flow: Flow) -> dict[str, Any]:
        return {
            "id": flow.id,
            "name": flow.name,
            "region": flow.region.id,
            "status": flow.status.value,
            "create_time": flow.create_time,
            "start_time": flow.start_time,
            "failover_open": flow.failover_open,
            "inputs": [
                {
                    "name": i.name,
                    "protocol": i.protocol.value,
                    "family": i.family.value,
                    "backup": i.backup,
                    "url": i.url,
                    "inner_url": i.inner_url,
                    "from_url": i.from_url,
                    "max_bitrate": i.max_bitrate,
                    "cidrs": i.cidrs,
                    "pair_flow_id": i.pair_flow_id,
                    "pair_output_name": i.pair_output_name,
                    "srt_latency": i.srt_latency,
                    "srt_pbkeylen": i.srt_pbkeylen,
                    "srt_encrypted": bool(i.srt_passphrase),
                    "srt_port": i.srt_port,
                    "stream_key": i.stream_key,
                    "status": self.input_status(flow, i),
                    "create_time": i.create_time,
                }
                for i in flow.inputs
            ],
            "outputs": [
                {
                    "name": o.name,
                    "protocol": o.protocol.value,
                    "family": o.family.value,
                    "url": o.url,
                    "to_url": o.to_url,
                    "pair_flow_id": o.pair_flow_id,
                    "pair_input_name": o.pair_input_name,
                    "player_limit": o.player_limit,
                    "cidrs": o.cidrs,
                    "srt_latency": o.srt_latency,
                    "srt_pbkeylen": o.srt_pbkeylen,
                    "srt_encrypted": bool(o.srt_passphrase),
                    "srt_port": o.srt_port,
                    "stream_key": o.stream_key,
                    "forbid": o.forbid,
                    "create_time": o.create_time,
                }
                for o in flow.outputs.values()
            ],
        }

    def _check_not_changing(self, flow: Flow) -> None:
        if flow.id in self._changing:
            raise WrongState(f"flow {flow.id} is changing status; retry when the change is done")

    def _flow_for_change(self, flow_id: str | None, what: str) -> Flow:
        flow = self.get_flow(flow_id)
        self._check_not_changing(flow)
        if flow.online:
            raise WrongState(f"flow {flow.id} is online; set it offline before {what}")
        return flow

    def _select_input(self, flow: Flow, name: str | None, *, require_name: bool) -> FlowInput:
        if _given(name):
            assert name is not None
            inp = flow.input_named(name)
            if inp is None:
                raise NotFound("InputName", f"flow {flow.id} has no input named {name!r}")
            return inp
        if not flow.inputs:
            raise NotFound("FlowId", f"flow {flow.id} has no input")
        if require_name and len(flow.inputs) > 1:
            raise MissingValue("InputName", "when the flow has a primary and a backup input")
        return flow.inputs[0]

    def _output(self, flow: Flow, name: str | None) -> FlowOutput:
        if not _given(name):
            raise MissingValue("OutputName")
        assert name is not None
        out = flow.outputs.get(name)
        if out is None:
            raise NotFound("OutputName", f"flow {flow.id} has no output named {name!r}")
        return out

    def _pair_flow(self, flow: Flow, pair_flow_id: str | None, role: str) -> Flow:
        if not _given(pair_flow_id):
            raise MissingValue("PairFlowId", f"for a Flow {role}")
        assert pair_flow_id is not None
        pair = self._flows.get(pair_flow_id)
        if pair is None:
            raise NotFound("PairFlowId", f"no flow with id {pair_flow_id!r}")
        if pair is flow:
            raise InvalidValue("PairFlowId", "a Flow endpoint must pair with another flow, not its own")
        return pair

    def _paired_output(
        self, flow: Flow, pair_flow_id: str | None, pair_output_name: str | None
    ) -> tuple[Flow, FlowOutput]:
        pair = self._pair_flow(flow, pair_flow_id, "input")
        if not _given(pair_output_name):
            raise MissingValue("PairOutputName", "for a Flow input")
        assert pair_output_name is not None
        out = pair.outputs.get(pair_output_name)
        if out is None:
            raise NotFound("PairOutputName", f"flow {pair.id} has no output named {pair_output_name!r}")
        if out.protocol not in _LISTENING_OUTPUTS:
            raise InvalidValue(
                "PairOutputName",
                f"output {out.name!r} of flow {pair.id} is {out.protocol}; a Flow input pairs only with an "
                "RTMP-PULL or SRT-Listener output",
            )
        return pair, out

    def _paired_input(
        self, flow: Flow, pair_flow_id: str | None, pair_input_name: str | None
    ) -> tuple[Flow, FlowInput]:
        pair = self._pair_flow(flow, pair_flow_id, "output")
        if not _given(pair_input_name):
            raise MissingValue("PairInputName", "for a Flow output")
        assert pair_input_name is not None
        inp = pair.input_named(pair_input_name)
        if inp is None:
            raise NotFound("PairInputName", f"flow {pair.id} has no input named {pair_input_name!r}")
        if inp.protocol not in _LISTENING_INPUTS:
            raise InvalidValue(
                "PairInputName",
                f"input {inp.name!r} of flow {pair.id} is {inp.protocol}; a Flow output pairs only with an "
                "RTMP-PUSH or SRT-Listener input",
            )
        return pair, inp

    def _rtmp_endpoint(self, region: Region, name: str) -> tuple[str, str]:
        host, port = self.runtime.rtmp_address(region)
        key = f"{name}_{self._new_token()}"
        return key, f"rtmp://{host}:{port}/{RTMP_APP}/{key}"

    def _release(self, flow: Flow, port: int | None) -> None:
        if port is not None:
            self.runtime.release_srt_port(flow.region, port)

    def _set_forbid(self, flow_id: str | None, name: str | None, forbidden: bool) -> None:
        flow = self.get_flow(flow_id)
        out = self._output(flow, name)
        self._check_not_changing(flow)
        if out.forbid is forbidden:
            return
        out.forbid = forbidden
        if flow.online:
            self.runtime.set_output_forbidden(flow, out, forbidden)
        logger.info(
            "[%s] flow %s: output %r %s",
            flow.region.id,
            flow.id,
            out.name,
            "forbidden" if forbidden else "resumed",
        )
