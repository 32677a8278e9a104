"""Which parameters apply to which protocol and role, how endpoints connect, and the value checks.

Everything here is a table or a pure function over :mod:`emulator.model.flow`; the manager
(:mod:`emulator.model.manager`) calls it, and so do the last mile and the runtime for the one
classification of endpoints (:func:`connection`, :func:`listening`, :func:`dialing`).

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

Input and output protocols are str enums (``"RTMP-PUSH"`` names both an input and an output and the
two members compare equal), so every table here is keyed by :class:`~emulator.model.flow.Role` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from mediaplane.relay import parse_cidrs

from ..errors import InvalidValue, MissingValue, NotFound
from .flow import (
    DEFAULT_SRT_LATENCY_MS,
    DEFAULT_SRT_PBKEYLEN,
    PASSPHRASE_MAX,
    PASSPHRASE_MIN,
    SRT_LATENCY_MAX_MS,
    SRT_LATENCY_MIN_MS,
    SRT_PBKEYLENS,
    Endpoint,
    Family,
    Flow,
    FlowInput,
    FlowOutput,
    FlowStatus,
    InputProtocol,
    OutputProtocol,
    Role,
    role_of,
)

__all__ = [
    "APPLIES_TO",
    "CONNECTIONS",
    "SRT_PARAMETERS",
    "Connection",
    "SrtSettings",
    "applies",
    "check_cidrs",
    "check_name",
    "check_range",
    "check_url",
    "connection",
    "dialing",
    "given",
    "listening",
    "paired_input",
    "paired_output",
    "parse_enum",
    "protocols",
    "refuse_inapplicable",
    "srt_settings",
]

_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")

Protocol = InputProtocol | OutputProtocol
_E = TypeVar("_E", InputProtocol, OutputProtocol, FlowStatus)


class Connection(StrEnum):
    """How an endpoint meets its peer."""

    LISTENING = "listening"
    """It listens for clients: RTMP-PUSH and SRT-Listener inputs, RTMP-PULL and SRT-Listener outputs."""
    DIALING = "dialing"
    """Its client dials a remote: RTMP-PULL and SRT-Caller inputs, RTMP-PUSH and SRT-Caller outputs."""
    BACKBONE = "backbone"
    """A Flow endpoint: its client crosses the backbone to the paired flow's listening endpoint."""


CONNECTIONS: dict[Role, dict[Protocol, Connection]] = {
    Role.INPUT: {
        InputProtocol.RTMP_PUSH: Connection.LISTENING,
        InputProtocol.RTMP_PULL: Connection.DIALING,
        InputProtocol.SRT_LISTENER: Connection.LISTENING,
        InputProtocol.SRT_CALLER: Connection.DIALING,
        InputProtocol.FLOW: Connection.BACKBONE,
    },
    Role.OUTPUT: {
        OutputProtocol.RTMP_PUSH: Connection.DIALING,
        OutputProtocol.RTMP_PULL: Connection.LISTENING,
        OutputProtocol.SRT_LISTENER: Connection.LISTENING,
        OutputProtocol.SRT_CALLER: Connection.DIALING,
        OutputProtocol.FLOW: Connection.BACKBONE,
    },
}
"""The one classification of endpoints (the manager, the last mile and the runtime all read it)."""


def protocols(role: Role, how: Connection) -> tuple[Protocol, ...]:
    """The protocols of ``role`` that connect ``how``, in the API's order."""
    return tuple(p for p, c in CONNECTIONS[role].items() if c is how)


def connection(endpoint: Endpoint) -> Connection:
    return CONNECTIONS[role_of(endpoint)][endpoint.protocol]


def listening(endpoint: Endpoint) -> bool:
    """Whether the endpoint listens for clients (RTMP-PUSH input, RTMP-PULL output, SRT-Listener)."""
    return connection(endpoint) is Connection.LISTENING


def dialing(endpoint: Endpoint) -> bool:
    """Whether the endpoint's client dials out (RTMP-PULL / SRT-Caller in, RTMP-PUSH / SRT-Caller out)."""
    return connection(endpoint) is Connection.DIALING


_FLOW_ONLY: dict[Role, tuple[Protocol, ...]] = {
    Role.INPUT: (InputProtocol.FLOW,),
    Role.OUTPUT: (OutputProtocol.FLOW,),
}

APPLIES_TO: dict[Role, dict[str, tuple[Protocol, ...]]] = {
    Role.INPUT: {
        "InputFromUrl": protocols(Role.INPUT, Connection.DIALING),
        "PairFlowId": _FLOW_ONLY[Role.INPUT],
        "PairOutputName": _FLOW_ONLY[Role.INPUT],
        "Cidrs": protocols(Role.INPUT, Connection.LISTENING),
    },
    Role.OUTPUT: {
        "OutputToUrl": protocols(Role.OUTPUT, Connection.DIALING),
        "PairFlowId": _FLOW_ONLY[Role.OUTPUT],
        "PairInputName": _FLOW_ONLY[Role.OUTPUT],
        "PlayerLimit": protocols(Role.OUTPUT, Connection.LISTENING),
        "Cidrs": protocols(Role.OUTPUT, Connection.LISTENING),
    },
}
"""API parameter -> the only protocols of the role it applies to (checked in this order). A parameter
not named here applies to every protocol of the role, except the Srt* ones (:data:`SRT_PARAMETERS`)."""

SRT_PARAMETERS = ("SrtLatency", "SrtPassphrase", "SrtPbkeyLen")
"""Parameters that apply only to SRT-family endpoints (of either role, Flow ones by their pair)."""


def applies(role: Role, protocol: Protocol, parameter: str) -> bool:
    """Whether ``parameter`` applies to an endpoint of ``role`` and ``protocol`` (per :data:`APPLIES_TO`)."""
    allowed = APPLIES_TO[role].get(parameter)
    return allowed is None or protocol in allowed


def refuse_inapplicable(role: Role, protocol: Protocol, params: Mapping[str, object]) -> None:
    """Raise InvalidValue naming the first parameter of ``params`` that is given (not None, not empty:
    the console sends empty strings) but does not apply to ``protocol`` of ``role``."""
    for name, allowed in APPLIES_TO[role].items():
        if name in params and given(params[name]) and protocol not in allowed:
            names = " and ".join(p.value for p in allowed)
            raise InvalidValue(name, f"applies only to {names} {role.value}s, not {protocol}")


def given(value: object) -> bool:
    """A parameter counts as given when it is not None and not an empty string."""
    return value is not None and value != ""


def check_name(field_name: str, value: str | None, limit: int) -> str:
    if not given(value):
        raise MissingValue(field_name)
    assert value is not None
    if len(value) > limit:
        raise InvalidValue(field_name, f"{len(value)} characters; at most {limit} are allowed")
    if not _NAME_RE.fullmatch(value):
        raise InvalidValue(field_name, f"{value!r} may contain only letters, digits, '_' and '-'")
    return value


def parse_enum(kind: type[_E], field_name: str, value: str | None) -> _E:
    if value is None or value == "":
        raise MissingValue(field_name)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidValue(field_name, f"{value!r} is not one of {allowed}") from None


def check_range(field_name: str, value: int, lo: int, hi: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field_name, f"{value!r} is not an integer")
    if not lo <= value <= hi:
        raise InvalidValue(field_name, f"{value} is out of range {lo:,}-{hi:,}{unit}")
    return value


def check_cidrs(field_name: str, value: str) -> str:
    try:
        parse_cidrs(value)
    except ValueError as exc:
        raise InvalidValue(field_name, f"{exc}; write comma-separated CIDRs such as 10.0.0.0/8") from None
    return ",".join(p.strip() for p in value.split(",") if p.strip())


def check_url(field_name: str, value: str | None, family: Family, why: str) -> str:
    if not given(value):
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


@dataclass(slots=True, kw_only=True)
class SrtSettings:
    """SrtLatency (ms, None for RTMP), SrtPassphrase and SrtPbkeyLen of one endpoint."""

    latency: int | None
    passphrase: str
    pbkeylen: int

    @classmethod
    def of(cls, endpoint: Endpoint) -> SrtSettings:
        """The endpoint's current values (what an update keeps)."""
        return cls(
            latency=endpoint.srt_latency, passphrase=endpoint.srt_passphrase, pbkeylen=endpoint.srt_pbkeylen
        )

    def apply_to(self, endpoint: Endpoint) -> None:
        endpoint.srt_latency, endpoint.srt_passphrase, endpoint.srt_pbkeylen = (
            self.latency,
            self.passphrase,
            self.pbkeylen,
        )


def srt_settings(
    family: Family,
    *,
    latency: int | None,
    passphrase: str | None,
    pbkeylen: int | None,
    current: SrtSettings | None = None,
    what: str,
) -> SrtSettings:
    """Validate the Srt* parameters of an endpoint of ``family`` (refused when given on RTMP, ``what``
    naming the endpoint); ``current`` holds the values an update keeps."""
    if family is not Family.SRT:
        values = {"SrtLatency": latency, "SrtPassphrase": passphrase, "SrtPbkeyLen": pbkeylen}
        for name in SRT_PARAMETERS:
            if given(values[name]):
                raise InvalidValue(name, f"applies only to SRT endpoints; {what} is RTMP")
        return SrtSettings(latency=None, passphrase="", pbkeylen=0)
    base = current or SrtSettings(latency=DEFAULT_SRT_LATENCY_MS, passphrase="", pbkeylen=0)
    new_latency = base.latency
    if latency is not None:
        new_latency = check_range("SrtLatency", latency, SRT_LATENCY_MIN_MS, SRT_LATENCY_MAX_MS, " ms")
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
    return SrtSettings(latency=new_latency, passphrase=new_pass, pbkeylen=new_len)


_Paired = TypeVar("_Paired", FlowInput, FlowOutput)


def _paired(
    flows: Mapping[str, Flow],
    flow: Flow,
    role: Role,
    pair_flow_id: str | None,
    pair_name: str | None,
    find: Callable[[Flow, str], _Paired | None],
) -> tuple[Flow, _Paired]:
    """The flow and endpoint a Flow endpoint of ``role`` names (``find`` looks it up in the pair flow);
    one rule for both roles: another flow, an existing endpoint of the other role that listens."""
    other = Role.OUTPUT if role is Role.INPUT else Role.INPUT
    name_field = "PairOutputName" if role is Role.INPUT else "PairInputName"
    if not given(pair_flow_id):
        raise MissingValue("PairFlowId", f"for a Flow {role}")
    assert pair_flow_id is not None
    pair = flows.get(pair_flow_id)
    if pair is None:
        raise NotFound("PairFlowId", f"no flow with id {pair_flow_id!r}")
    if pair is flow:
        raise InvalidValue("PairFlowId", "a Flow endpoint must pair with another flow, not its own")
    if not given(pair_name):
        raise MissingValue(name_field, f"for a Flow {role}")
    assert pair_name is not None
    ep = find(pair, pair_name)
    if ep is None:
        raise NotFound(name_field, f"flow {pair.id} has no {other} named {pair_name!r}")
    if not listening(ep):
        allowed = " or ".join(protocols(other, Connection.LISTENING))
        raise InvalidValue(
            name_field,
            f"{other} {ep.name!r} of flow {pair.id} is {ep.protocol}; a Flow {role} pairs only with an "
            f"{allowed} {other}",
        )
    return pair, ep


def paired_output(
    flows: Mapping[str, Flow], flow: Flow, pair_flow_id: str | None, pair_output_name: str | None
) -> tuple[Flow, FlowOutput]:
    """The flow and output a Flow input of ``flow`` names. Raises MissingValue, NotFound, InvalidValue
    (PairFlowId / PairOutputName; the output must be listening: RTMP-PULL or SRT-Listener)."""
    return _paired(flows, flow, Role.INPUT, pair_flow_id, pair_output_name, lambda f, n: f.outputs.get(n))


def paired_input(
    flows: Mapping[str, Flow], flow: Flow, pair_flow_id: str | None, pair_input_name: str | None
) -> tuple[Flow, FlowInput]:
    """The flow and input a Flow output of ``flow`` names. Raises MissingValue, NotFound, InvalidValue
    (PairFlowId / PairInputName; the input must be listening: RTMP-PUSH or SRT-Listener)."""
    return _paired(flows, flow, Role.OUTPUT, pair_flow_id, pair_input_name, Flow.input_named)
