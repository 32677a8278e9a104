"""The runtime: turns online flows into live RTMP and SRT endpoints and relays them across regions.

It implements :class:`emulator.model.manager.FlowRuntime` for the
:class:`~emulator.model.manager.FlowManager`.

Shape of a live flow
--------------------
* Every region runs one RTMP server on its address for the emulator's whole life (so RTMP URLs exist as
  soon as an input or output is added). It routes ``live/<stream key>`` to the online flow that owns the
  key: an RTMP-PUSH input publishes into it, an RTMP-PULL output plays from it.
* Every input of an online flow feeds its own *input hub*; a switch forwards the active input's hub into
  the *flow hub* (the primary whenever it has a publisher, else the backup: failover). Outputs drain the
  flow hub. InputStatus reads the input hub's counters, so it reflects real traffic.
* SRT-Listener inputs and outputs each get their own SRT listener on the port allocated when they were
  added. RTMP-PULL / SRT-Caller inputs run a reconnecting client into the input hub; RTMP-PUSH /
  SRT-Caller outputs run a reconnecting client from the flow hub.
* Protocol Flow legs cross the backbone: a :class:`~mediaplane.netem.link.TcpLink` (RTMP) or
  :class:`~mediaplane.netem.link.UdpLink` (SRT) between the two regions carries the real protocol bytes
  with the pair's impairment (by default the one-way latency of the region catalogue). A Flow input pulls
  from the paired flow's RTMP-PULL / SRT-Listener output; a Flow output pushes into the paired flow's
  RTMP-PUSH / SRT-Listener input.

Last-mile impairments (:mod:`emulator.runtime.lastmile`, owned as ``runtime.lastmile``) model the network
between a client and a region, per input or output, in two directions named by the media path:
``to_region`` and ``from_region``. A listening endpoint (RTMP-PUSH input, RTMP-PULL output, SRT-Listener)
gets, while its flow is online, a link on the region's host in front of its real listener: clients of
that *impaired URL* are impaired, the normal URL is not (and Cidrs see the link's loopback address, not
the far client). A dialing endpoint (RTMP-PULL / SRT-Caller input, RTMP-PUSH / SRT-Caller output) has its
client connect through a link on 127.0.0.1 toward the remote. The runtime calls
:meth:`~emulator.runtime.lastmile.LastMile.flow_started` / ``flow_stopped``, and ``dial`` where clients
are built (:mod:`emulator.runtime.clients`).

Backbone legs identify themselves with a per-emulator secret (RTMP app ``_backbone-<token>``, SRT stream
id resource ``_backbone-<token>``): they are exempt from Cidrs and PlayerLimit, which the real service
applies to clients, not to its own inter-flow traffic.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import Any

from mediaplane.relay import (
    Hub,
    HubClosed,
    Peer,
    Refused,
    StreamPath,
    Subscription,
    check_cidrs,
    parse_cidrs,
)
from mediaplane.rtmp import RtmpClientConfig, RtmpServer, RtmpServerConfig
from mediaplane.srt import SrtDirection, SrtListener

from ..errors import FlowStartError, PortUnavailable
from ..events import EventBus, input_hub, player_joined
from ..model.flow import Flow, FlowInput, FlowOutput, InputProtocol, InputStatus, OutputProtocol
from ..model.manager import FlowManager
from ..model.rules import listening
from ..regions import Region, RegionCatalogue
from .backbone import Backbone
from .clients import Clients, srt_config
from .lastmile import LastMile
from .live import (
    INPUT_ACTIVE_WINDOW_S,
    INPUT_HOLD_S,
    STALE_PUBLISHER_S,
    LiveFlow,
    LiveInput,
    LiveOutput,
    cancel_and_wait,
)
from .routers import RegionRtmpRouter, SrtEndpointRouter
from .view import RuntimeView

__all__ = ["CLOSE_GRACE_S", "Runtime"]

logger = logging.getLogger(__name__)

CLOSE_GRACE_S = 2.0
"""How long :meth:`Runtime.close` waits for the runtime's own tasks before cancelling them."""


class Runtime:
    """The data plane of the emulator (see the module docstring): ``await start()`` / ``await close()``."""

    def __init__(
        self,
        regions: RegionCatalogue,
        *,
        backbone: Backbone | None = None,
        rtmp_config: RtmpServerConfig | None = None,
        input_hold_s: float = INPUT_HOLD_S,
        events: EventBus | None = None,
    ) -> None:
        self.regions = regions
        self.backbone = backbone or Backbone(regions)
        self.rtmp_config = rtmp_config or RtmpServerConfig(unpublish_grace_s=10.0)
        self.input_hold_s = input_hold_s
        self.backbone_app = f"_backbone-{secrets.token_hex(8)}"
        self.rtmp_servers: dict[str, RtmpServer] = {}
        self.live: dict[str, LiveFlow] = {}
        self._srt_ports: dict[str, set[int]] = {}
        self.manager = FlowManager(regions, self)
        """The flows this runtime serves: the runtime is the manager's FlowRuntime and owns it, so both
        are complete when the constructor returns (no two-phase init)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.lastmile: LastMile[LiveFlow] = LastMile(self)
        self.clients = Clients(self)
        self.view = RuntimeView(self)
        """The one read of live state (/_emulator/state, /metrics, the CLI)."""
        self.rtmp_client_config: RtmpClientConfig | None = None
        """Settings of the RTMP pullers and pushers started from now on (None: the defaults)."""
        self.events: EventBus | None = events
        """Where the runtime's event points report (:mod:`emulator.events`); None: nowhere."""

    # -- wiring -----------------------------------------------------------------------------------
    def _clock(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    async def start(self) -> None:
        """Start every region's RTMP server. Raises OSError when an address is taken."""
        self._loop = asyncio.get_running_loop()
        try:
            for region in self.regions:
                server = RtmpServer(
                    RegionRtmpRouter(self, region),
                    host=region.host,
                    port=region.rtmp_port,
                    config=self.rtmp_config,
                )
                await server.start()
                self.rtmp_servers[region.id] = server
        except OSError:
            await self.close()
            raise

    async def close(self) -> None:
        """Shut down in uvicorn's order. Stop accepting and close the sessions: every region's RTMP server
        (its socket, then its sessions) and every SRT listener (with its connections). Wait up to
        CLOSE_GRACE_S for the runtime's own tasks (output restarts), cancel those left, then take the
        online flows down (switches, clients, links, hubs) and the last mile's links."""
        servers = list(self.rtmp_servers.values())
        await asyncio.gather(*(server.close() for server in servers))
        for live in self.live.values():
            listeners = [li.listener for li in live.inputs] + [lo.listener for lo in live.outputs.values()]
            for li in live.inputs:
                li.listener = None
            for lo in live.outputs.values():
                lo.listener = None
            for listener in listeners:
                if listener is not None:
                    await listener.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_GRACE_S)
        for task in list(self._tasks):
            await cancel_and_wait(task)
        for flow_id in list(self.live):
            await self._stop(flow_id)
        await self.lastmile.close()
        self.rtmp_servers.clear()

    # -- FlowRuntime ------------------------------------------------------------------------------
    def rtmp_address(self, region: Region) -> tuple[str, int]:
        server = self.rtmp_servers.get(region.id)
        return region.host, server.port if server is not None else region.rtmp_port

    def allocate_srt_port(self, region: Region) -> int:
        used = self._srt_ports.setdefault(region.id, set())
        if region.srt_port_min == 0:
            candidates: Any = iter(lambda: 0, 1)  # ask the kernel each time
        else:
            candidates = (p for p in range(region.srt_port_min, region.srt_port_max + 1) if p not in used)
        for _ in range(10_000):
            port = next(candidates, None)
            if port is None:
                break
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind((region.host, port))
                except OSError:
                    continue
                real = int(probe.getsockname()[1])
            if real in used:
                continue
            used.add(real)
            return real
        raise PortUnavailable(
            f"no free SRT port left in {region.id} ({region.srt_port_min}-{region.srt_port_max})"
        )

    def reserve_srt_port(self, region: Region, port: int) -> None:
        """Take ``port`` for an SRT listener of ``region`` (a state import keeps its ports). Raises
        PortUnavailable when it is in use or cannot be bound."""
        used = self._srt_ports.setdefault(region.id, set())
        if port in used:
            raise PortUnavailable(f"SRT port {port} of {region.id} is already in use")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((region.host, port))
            except OSError as exc:
                raise PortUnavailable(f"SRT port {port} of {region.id} cannot be bound: {exc}") from None
        used.add(port)

    def release_srt_port(self, region: Region, port: int) -> None:
        self._srt_ports.get(region.id, set()).discard(port)

    async def start_flow(self, flow: Flow) -> None:
        if flow.id in self.live:
            return
        if not flow.inputs:
            raise FlowStartError("the flow has no input")
        live = LiveFlow(flow, self._clock, self.input_hold_s, self.events, online=self.live)
        self.live[flow.id] = live
        try:
            for cfg in flow.inputs:
                await self._start_input(live, cfg)
            for out in flow.outputs.values():
                await self._start_output(live, out)
            await self.lastmile.flow_started(live)
        except Exception as exc:
            await self._stop(flow.id)
            if isinstance(exc, FlowStartError):
                raise
            raise FlowStartError(f"could not start: {exc}") from exc
        live.switch_task = asyncio.get_running_loop().create_task(
            live.run_switch(), name=f"switch {flow.name}"
        )
        logger.info("[%s] [flow %s] online", flow.region.id, flow.name)

    async def stop_flow(self, flow: Flow) -> None:
        await self._stop(flow.id)
        logger.info("[%s] [flow %s] offline", flow.region.id, flow.name)

    def input_status(self, flow: Flow, input: FlowInput) -> str:
        live = self.live.get(flow.id)
        li = live.input_for(input) if live is not None else None
        if li is None:
            return InputStatus.OFFLINE.value
        last = li.hub.counters.last_unit_at
        if last is not None and self._clock() - last <= INPUT_ACTIVE_WINDOW_S:
            return InputStatus.CONNECTED.value
        return InputStatus.DISCONNECTED.value

    def set_output_forbidden(self, flow: Flow, output: FlowOutput, forbidden: bool) -> None:
        live = self.live.get(flow.id)
        lo = live.outputs.get(output.name) if live is not None else None
        if live is None or lo is None:
            return
        for sub in lo.live_players() + lo.live_backbone_legs():
            sub.forbidden = forbidden
        if lo.client is not None or not listening(lo.config):
            # Push outputs stop delivering by leaving the remote; resume reconnects.
            self._spawn(self._restart_output_client(live, lo, forbidden), f"forbid {output.name}")

    def evict_stale_publisher(self, hub: Hub) -> None:
        """Close ``hub``'s publisher if it has been silent for STALE_PUBLISHER_S, so a returning
        publisher is accepted instead of refused as busy."""
        old = hub.publisher
        if old is None:
            return
        last = hub.counters.last_unit_at
        if last is not None and self._clock() - last < STALE_PUBLISHER_S:
            return
        close = getattr(old, "close", None)
        if callable(close):
            logger.info("%s: replacing a publisher silent for %.1f s", hub.name, STALE_PUBLISHER_S)
            close("replaced by a new publisher")

    def _spawn(self, coro: Any, name: str) -> None:
        """Run ``coro`` as a task the runtime keeps until it ends (and cancels on close)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- players ----------------------------------------------------------------------------------
    def subscribe_player(
        self, live: LiveFlow, output: FlowOutput, peer: Peer, *, backbone: bool
    ) -> Subscription:
        lo = live.outputs.get(output.name)
        if lo is None:
            raise Refused(f"output {output.name} is not live", code="unavailable")
        if not backbone:
            check_cidrs(parse_cidrs(output.cidrs), peer)
            limit = output.player_limit
            if limit is not None and len(lo.live_players()) >= limit:
                raise Refused(
                    f"output {output.name} already has {limit} players (PlayerLimit)", code="forbidden"
                )
        try:
            sub = live.hub.subscribe(f"{output.name} {peer[0]}:{peer[1]}")
        except HubClosed as exc:
            raise Refused(f"flow {live.flow.name} is going offline", code="unavailable") from exc
        sub.forbidden = output.forbid
        (lo.backbone_legs if backbone else lo.players).append(sub)
        if not backbone:
            player_joined(self.events, live.hub, live.flow, output, peer, sub)
        return sub

    # -- inputs -----------------------------------------------------------------------------------
    async def _srt_listener(
        self, live: LiveFlow, endpoint: FlowInput | FlowOutput, direction: SrtDirection
    ) -> SrtListener:
        """The started SRT listener of an SRT-Listener input (``publish``) or output (``play``)."""
        assert endpoint.srt_port is not None
        listener = SrtListener(
            SrtEndpointRouter(self, live, endpoint),
            host=live.flow.region.host,
            port=endpoint.srt_port,
            config=srt_config(endpoint.srt_latency, endpoint.srt_passphrase, endpoint.srt_pbkeylen),
            direction=direction,
            name=f"{live.flow.name}/{endpoint.name}",
            # The flow hub is unpublished only past the input hold: SRT players end then, with a
            # SHUTDOWN, at the moment RTMP players get UnpublishNotify.
            end_on_unpublish=direction is SrtDirection.PLAY,
        )
        await listener.start()
        return listener

    async def _start_input(self, live: LiveFlow, cfg: FlowInput) -> None:
        flow = live.flow
        name = f"{flow.region.id}/{flow.name}/{cfg.name}"
        hub = input_hub(self.events, flow, cfg, name, cache_gop=live.input_hubs_cache_gop, clock=self._clock)
        li = LiveInput(cfg, hub)
        live.inputs.append(li)
        proto = cfg.protocol
        if proto is InputProtocol.RTMP_PUSH:
            return  # the region's RTMP server routes publishers here
        if proto is InputProtocol.SRT_LISTENER:
            li.listener = await self._srt_listener(live, cfg, SrtDirection.PUBLISH)
            return
        if proto is InputProtocol.FLOW:
            li.client = await self.clients.flow_input_client(live, li)
        else:
            li.client = await self.clients.input_client(live, li)
        assert li.client is not None
        await li.client.start()

    async def restart_dialing_client(self, live: LiveFlow, endpoint: FlowInput | FlowOutput) -> None:
        """Restart the client of an RTMP-PULL / SRT-Caller input or RTMP-PUSH / SRT-Caller output, so it
        connects where the last mile now says."""
        if isinstance(endpoint, FlowOutput):
            lo = live.outputs.get(endpoint.name)
            if lo is not None:
                await self._restart_output_client(live, lo, endpoint.forbid)
            return
        li = live.input_for(endpoint)
        if li is None or li.client is None:
            return
        old, li.client = li.client, None
        await old.close()
        if self.live.get(live.flow.id) is live:
            li.client = await self.clients.input_client(live, li)
            await li.client.start()

    # -- outputs ----------------------------------------------------------------------------------
    async def _start_output(self, live: LiveFlow, cfg: FlowOutput) -> None:
        lo = LiveOutput(cfg)
        live.outputs[cfg.name] = lo
        proto = cfg.protocol
        if proto is OutputProtocol.SRT_LISTENER:
            lo.listener = await self._srt_listener(live, cfg, SrtDirection.PLAY)
        elif not listening(cfg) and not cfg.forbid:
            await self._start_output_client(live, lo)

    async def _start_output_client(self, live: LiveFlow, lo: LiveOutput) -> None:
        lo.client = await self.clients.output_client(live, lo)
        await lo.client.start()

    async def _stop_output_client(self, lo: LiveOutput) -> None:
        client, lo.client = lo.client, None
        if client is not None:
            await client.close()
        if lo.link is not None:
            self.backbone.forget(lo.link)
            await lo.link.close()
            lo.link = None

    async def _restart_output_client(self, live: LiveFlow, lo: LiveOutput, forbidden: bool) -> None:
        # Serialised per output, and it applies the output's current Forbid state, so a quick
        # Forbid-then-Resume ends delivering whatever order the two restarts ran in.
        async with lo.restart_lock:
            await self._stop_output_client(lo)
            if not lo.config.forbid and self.live.get(live.flow.id) is live:
                await self._start_output_client(live, lo)

    # -- stopping ---------------------------------------------------------------------------------
    async def _stop(self, flow_id: str) -> None:
        live = self.live.pop(flow_id, None)
        if live is None:
            return
        flow = live.flow
        if live.switch_task is not None:
            await cancel_and_wait(live.switch_task)
        for lo in live.outputs.values():
            await self._stop_output_client(lo)
            if lo.listener is not None:
                await lo.listener.close()
        for li in live.inputs:
            if li.client is not None:
                await li.client.close()
            if li.link is not None:
                self.backbone.forget(li.link)
                await li.link.close()
            if li.listener is not None:
                await li.listener.close()
            li.hub.close()
        live.hub.close()
        await self.lastmile.flow_stopped(flow_id)
        # RTMP sessions of this flow on its region's server (publishers and players).
        keys = {i.stream_key for i in flow.inputs if i.stream_key}
        keys |= {o.stream_key for o in flow.outputs.values() if o.stream_key}
        server = self.rtmp_servers.get(flow.region.id)
        if server is not None:
            for conn in server.sessions:
                if conn.path is not None and conn.path.key in keys:
                    conn.close(f"flow {flow.name} went offline")

    # -- views ------------------------------------------------------------------------------------
    def is_backbone_path(self, path: StreamPath | None) -> bool:
        """Whether a session on ``path`` is a backbone leg (RTMP app or SRT resource ``_backbone-...``)."""
        return path is not None and self.backbone_app in (path.app, path.key)

    def snapshot(self) -> dict[str, Any]:
        """Live sessions, hubs and links, for ``GET /_emulator/state`` (:meth:`RuntimeView.snapshot`)."""
        return self.view.snapshot()
