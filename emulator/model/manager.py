"""Every operation on flows and every rule of the MediaConnect API (ICE 2020-11-09).

:class:`FlowManager` owns all flows (the data: :mod:`emulator.model.flow`; which parameter applies to
which protocol, and the value checks: :mod:`emulator.model.rules`). The API layer calls it with
already-decoded values and turns its errors (:mod:`emulator.errors`) into ICE error bodies; the data
plane is reached only through the :class:`FlowRuntime` protocol (status changes, ports, live input
status, Forbid).

Every rule it enforces, and every decision where the public material is silent, is listed in
:mod:`emulator.model.rules`.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypedDict

from ..errors import FlowStartError, InvalidValue, MissingValue, NotFound, WrongState
from ..regions import Region, RegionCatalogue
from .flow import (
    DEFAULT_PLAYER_LIMIT,
    FLOW_NAME_MAX,
    INPUT_NAME_MAX,
    MAX_BITRATE_MAX,
    MAX_BITRATE_MIN,
    MAX_OUTPUTS,
    OUTPUT_NAME_MAX,
    PLAYER_LIMIT_MAX,
    PLAYER_LIMIT_MIN,
    PROTOCOL_FAMILY,
    RTMP_APP,
    Family,
    Flow,
    FlowInput,
    FlowOutput,
    FlowStatus,
    InputProtocol,
    InputStatus,
    OutputProtocol,
    Role,
    flow_view,
)
from .rules import (
    SrtSettings,
    check_cidrs,
    check_name,
    check_range,
    check_url,
    dialing,
    given,
    listening,
    paired_input,
    paired_output,
    parse_enum,
    refuse_inapplicable,
    srt_settings,
)

__all__ = ["EventSink", "FlowManager", "FlowRuntime", "FlowStartError", "SrtParams"]

logger = logging.getLogger(__name__)


class SrtParams(TypedDict):
    """The Srt* parameters as every endpoint add and update takes them (None: not given), so that each
    caller reads them in one place."""

    srt_latency: int | None
    srt_passphrase: str | None
    srt_pbkeylen: int | None


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


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


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
        if not given(flow_id):
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
        return self._find_endpoint(region_id, lambda ep: bool(ep.stream_key) and ep.stream_key == stream_key)

    def endpoint_for_srt_port(self, region_id: str, port: int) -> tuple[Flow, FlowInput | FlowOutput] | None:
        """The SRT-Listener input or output of this region that owns this UDP port."""
        return self._find_endpoint(region_id, lambda ep: ep.srt_port == port)

    # --- flows ---------------------------------------------------------------------------------------

    def create_flow(self, *, name: str | None, region: str | None) -> Flow:
        """CreateMediaConnectFlow. Raises MissingValue / InvalidValue (FlowName, FlowRegion)."""
        name = check_name("FlowName", name, FLOW_NAME_MAX)
        if not given(region):
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
        self._release_all(flow)
        del self._flows[flow.id]
        logger.info("[%s] flow %s %r deleted", flow.region.id, flow.id, flow.name)
        self._emit("flow.deleted", flow)

    async def set_status(self, flow_id: str | None, status: str | None) -> None:
        """UpdateMediaConnectFlowStatus: ``online`` starts the flow through the runtime, ``offline`` stops it.

        Raises MissingValue / InvalidValue (Status), NotFound (FlowId), WrongState (no input, change already
        in progress) and FlowStartError (the runtime refused; the flow stays offline).
        """
        flow = self.get_flow(flow_id)
        target = parse_enum(FlowStatus, "Status", status)
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
        stream_key: str | None = None,
    ) -> FlowInput:
        """AddMediaConnectFlowInput: the primary input, or the backup while failover is open.
        ``stream_key``: the key a listening RTMP input gets (a topology's stable key; None: random)."""
        flow = self._flow_for_change(flow_id, "adding an input")
        name = check_name("InputName", name, INPUT_NAME_MAX)
        proto = parse_enum(InputProtocol, "InputProtocol", protocol)
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

        refuse_inapplicable(
            Role.INPUT,
            proto,
            {
                "InputFromUrl": from_url,
                "PairFlowId": pair_flow_id,
                "PairOutputName": pair_output_name,
                "Cidrs": cidrs,
            },
        )

        if proto is InputProtocol.FLOW:
            pair_flow, pair_out = paired_output(self._flows, flow, pair_flow_id, pair_output_name)
            inp.family = pair_out.family
            inp.pair_flow_id, inp.pair_output_name = pair_flow.id, pair_out.name
            inp.url = pair_out.url
            what = f"the Flow input (paired with {pair_out.protocol} output {pair_out.name!r})"
        else:
            inp.family = PROTOCOL_FAMILY[proto]
        if primary is not None and inp.family is not primary.family:
            raise InvalidValue(
                "PairOutputName",
                f"the backup input would carry {inp.family} but the primary input carries {primary.family}",
            )
        if dialing(inp):
            inp.from_url = inp.url = check_url("InputFromUrl", from_url, inp.family, f"for {proto} inputs")
        if given(max_bitrate):
            assert max_bitrate is not None
            inp.max_bitrate = check_range(
                "MaxBitrate", max_bitrate, MAX_BITRATE_MIN, MAX_BITRATE_MAX, " bit/s"
            )
        if given(cidrs):
            assert cidrs is not None
            inp.cidrs = check_cidrs("Cidrs", cidrs)
        srt = srt_settings(
            inp.family, latency=srt_latency, passphrase=srt_passphrase, pbkeylen=srt_pbkeylen, what=what
        )
        srt.apply_to(inp)

        self._take_resources(flow, inp, stream_key)  # everything is valid
        if with_internal_vip and listening(inp):
            inp.inner_url = inp.url
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
        refuse_inapplicable(Role.INPUT, proto, {"InputFromUrl": from_url, "Cidrs": cidrs})
        new_from = inp.from_url
        if dialing(inp) and from_url is not None:
            new_from = check_url("InputFromUrl", from_url, inp.family, f"for {proto} inputs")
        new_bitrate = inp.max_bitrate
        if given(max_bitrate):
            assert max_bitrate is not None
            new_bitrate = check_range("MaxBitrate", max_bitrate, MAX_BITRATE_MIN, MAX_BITRATE_MAX, " bit/s")
        new_cidrs = inp.cidrs if cidrs is None else check_cidrs("Cidrs", cidrs)
        srt = srt_settings(
            inp.family,
            latency=srt_latency,
            passphrase=srt_passphrase,
            pbkeylen=srt_pbkeylen,
            current=SrtSettings.of(inp),
            what=f"input {inp.name!r}",
        )
        if dialing(inp):
            inp.from_url = inp.url = new_from
        inp.max_bitrate, inp.cidrs = new_bitrate, new_cidrs
        srt.apply_to(inp)
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
        stream_key: str | None = None,
    ) -> FlowOutput:
        """AddMediaConnectFlowOutput (offline only; at most 4; family must match the input's).
        ``stream_key``: the key a listening RTMP output gets (a topology's stable key; None: random)."""
        flow = self._flow_for_change(flow_id, "adding an output")
        name = check_name("OutputName", name, OUTPUT_NAME_MAX)
        proto = parse_enum(OutputProtocol, "OutputProtocol", protocol)
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
        refuse_inapplicable(
            Role.OUTPUT,
            proto,
            {
                "OutputToUrl": to_url,
                "PairFlowId": pair_flow_id,
                "PairInputName": pair_input_name,
                "PlayerLimit": player_limit,
                "Cidrs": cidrs,
            },
        )
        what = f"output protocol {proto}"
        if proto is OutputProtocol.FLOW:
            pair_flow, pair_in = paired_input(self._flows, flow, pair_flow_id, pair_input_name)
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
            out.family = PROTOCOL_FAMILY[proto]
            if out.family is not primary.family:
                raise InvalidValue(
                    "OutputProtocol",
                    f"{proto} needs an {out.family} source but this flow's input {primary.name!r} is "
                    f"{primary.protocol} ({primary.family}); there is no RTMP<->SRT conversion",
                )
        if dialing(out):
            out.to_url = out.url = check_url("OutputToUrl", to_url, out.family, f"for {proto} outputs")
        if listening(out):
            out.player_limit = DEFAULT_PLAYER_LIMIT
            if given(player_limit):
                assert player_limit is not None
                out.player_limit = check_range(
                    "PlayerLimit", player_limit, PLAYER_LIMIT_MIN, PLAYER_LIMIT_MAX
                )
            if given(cidrs):
                assert cidrs is not None
                out.cidrs = check_cidrs("Cidrs", cidrs)
        srt = srt_settings(
            out.family, latency=srt_latency, passphrase=srt_passphrase, pbkeylen=srt_pbkeylen, what=what
        )
        srt.apply_to(out)

        self._take_resources(flow, out, stream_key)
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
        refuse_inapplicable(
            Role.OUTPUT, proto, {"OutputToUrl": to_url, "PlayerLimit": player_limit, "Cidrs": cidrs}
        )
        new_to = out.to_url
        if dialing(out) and to_url is not None:
            new_to = check_url("OutputToUrl", to_url, out.family, f"for {proto} outputs")
        new_limit = out.player_limit
        if listening(out) and given(player_limit):
            assert player_limit is not None
            new_limit = check_range("PlayerLimit", player_limit, PLAYER_LIMIT_MIN, PLAYER_LIMIT_MAX)
        new_cidrs = out.cidrs if cidrs is None else check_cidrs("Cidrs", cidrs)
        srt = srt_settings(
            out.family,
            latency=srt_latency,
            passphrase=srt_passphrase,
            pbkeylen=srt_pbkeylen,
            current=SrtSettings.of(out),
            what=f"output {out.name!r}",
        )
        if dialing(out):
            out.to_url = out.url = new_to
        out.player_limit, out.cidrs = new_limit, new_cidrs
        srt.apply_to(out)
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
            self._release_all(flow)
            self._emit("flow.deleted", flow)
        self._flows.clear()
        self._changing.clear()
        logger.info("all flows reset")

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view of the regions and flows (admin API ``/_emulator/state``)."""
        return {
            "regions": [r.to_dict() for r in self.regions],
            "default_region": self.regions.get_default().id,
            "flows": [flow_view(f, self.input_status) for f in self._flows.values()],
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
        if given(name):
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
        if not given(name):
            raise MissingValue("OutputName")
        assert name is not None
        out = flow.outputs.get(name)
        if out is None:
            raise NotFound("OutputName", f"flow {flow.id} has no output named {name!r}")
        return out

    def _take_resources(self, flow: Flow, endpoint: FlowInput | FlowOutput, stream_key: str | None) -> None:
        """A valid new endpoint's URL and CreateTime: a listening RTMP endpoint gets a stream key on the
        region's RTMP server (``stream_key``, or a random one), a listening SRT one a UDP port of the
        region's range (PortUnavailable)."""
        if listening(endpoint):
            if endpoint.family is Family.RTMP:
                host, port = self.runtime.rtmp_address(flow.region)
                endpoint.stream_key = stream_key or f"{endpoint.name}_{self._new_token()}"
                endpoint.url = f"rtmp://{host}:{port}/{RTMP_APP}/{endpoint.stream_key}"
            else:
                endpoint.srt_port = self.runtime.allocate_srt_port(flow.region)
                endpoint.url = f"srt://{flow.region.host}:{endpoint.srt_port}"
        endpoint.create_time = _utc(self._clock())

    def _find_endpoint(
        self, region_id: str, match: Callable[[FlowInput | FlowOutput], bool]
    ) -> tuple[Flow, FlowInput | FlowOutput] | None:
        for flow in self._flows.values():
            if flow.region.id == region_id:
                for ep in flow.endpoints:
                    if match(ep):
                        return flow, ep
        return None

    def _release_all(self, flow: Flow) -> None:
        for ep in flow.endpoints:
            self._release(flow, ep.srt_port)

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
