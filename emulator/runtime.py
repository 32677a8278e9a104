"""The runtime: turns online flows into live RTMP and SRT endpoints and relays them across regions.

It implements :class:`emulator.flows.FlowRuntime` for the :class:`~emulator.flows.FlowManager`.

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

Last-mile impairments (:mod:`emulator.lastmile`, owned as ``runtime.lastmile``) model the network
between a client and a region, per input or output, in two directions named by the media path:
``to_region`` and ``from_region``. A listening endpoint (RTMP-PUSH input, RTMP-PULL output, SRT-Listener)
gets, while its flow is online, a link on the region's host in front of its real listener: clients of
that *impaired URL* are impaired, the normal URL is not (and Cidrs see the link's loopback address, not
the far client). A dialing endpoint (RTMP-PULL / SRT-Caller input, RTMP-PUSH / SRT-Caller output) has its
client connect through a link on 127.0.0.1 toward the remote. The runtime calls
:meth:`~emulator.lastmile.LastMile.flow_started` / ``flow_stopped`` and ``dial`` where clients are built.

Backbone legs identify themselves with a per-emulator secret (RTMP app ``_backbone-<token>``, SRT stream
id resource ``_backbone-<token>``): they are exempt from Cidrs and PlayerLimit, which the real service
applies to clients, not to its own inter-flow traffic.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.link import FORWARD, REVERSE, TcpLink, UdpLink
from mediaplane.relay import (
    Hub,
    HubClosed,
    Peer,
    PublisherBusy,
    Refused,
    StreamPath,
    Subscription,
    check_cidrs,
    parse_cidrs,
)
from mediaplane.relay.failover import InputSwitch
from mediaplane.relay.shaper import MaxBitrateShaper
from mediaplane.rtmp import RtmpClientConfig, RtmpPuller, RtmpPusher, RtmpServer, RtmpServerConfig
from mediaplane.srt import SrtCaller, SrtConfig, SrtListener, parse_srt_url

from .errors import FlowStartError, PortUnavailable
from .events import EventBus, failover_switched, flow_hub, input_hub, player_joined
from .flows import (
    DEFAULT_MAX_BITRATE,
    Family,
    Flow,
    FlowInput,
    FlowManager,
    FlowOutput,
    InputProtocol,
    InputStatus,
    OutputProtocol,
)
from .lastmile import LastMile
from .model.rules import listening
from .regions import Region, RegionCatalogue

logger = logging.getLogger(__name__)

INPUT_ACTIVE_WINDOW_S = 2.0
"""InputStatus is ``connected`` when media reached the input within this many seconds."""

INPUT_HOLD_S = 3.0
"""A flow keeps its players through an input gap this short (no unpublish): a reconnecting pull or
backbone leg, or a publisher restarting."""

STALE_PUBLISHER_S = 1.0
"""A publisher that sent nothing for this long gives way to a new one on the same input (an SRT
publisher that died leaves no trace on UDP until the peer idle timeout, 5 s)."""

Client = RtmpPuller | RtmpPusher | SrtCaller
# The runtime's SRT callers follow their source (``end_on_unpublish``, ``claim_on_media``): a sending
# caller (SRT-Caller output, SRT Flow output) closes when the flow's source is gone past the input hold
# and dials again when it returns; a receiving caller (SRT-Caller input, SRT Flow input) is its input's
# publisher only once media arrives, so a leg connected to a flow without a source holds no players.
Link = TcpLink | UdpLink


class Backbone:
    """The impairment of every directed region pair, and the live links that carry it.

    The default for a pair is a constant one-way delay from the region catalogue's latency table.
    :meth:`set` replaces a direction's impairment (and updates every live link of that pair at once).
    """

    def __init__(self, regions: RegionCatalogue, *, seed: int | None = None) -> None:
        self.regions = regions
        self.seed = seed
        self._overrides: dict[tuple[str, str], Impairment] = {}
        self._timeline_loop: asyncio.AbstractEventLoop | None = None
        self._links: list[tuple[str, str, Link]] = []
        self._timelines: dict[tuple[str, str], list[asyncio.TimerHandle]] = {}
        """(client region, target region, link): forward = client -> target."""
        self.events: EventBus | None = None
        """Where ``link.changed`` goes (:mod:`emulator.events`); None: nowhere."""

    def default(self, src: str, dst: str) -> Impairment:
        return Impairment(delay_ms=self.regions.default_latency_ms(src, dst))

    def impairment(self, src: str, dst: str) -> Impairment:
        """The impairment in force from region ``src`` to region ``dst``."""
        return self._overrides.get((src, dst)) or self.default(src, dst)

    def set(self, src: str, dst: str, impairment: Impairment) -> None:
        """Impair traffic from ``src`` to ``dst`` (both region ids) from now on."""
        self.regions.get(src)
        self.regions.get(dst)
        impairment.validate()
        self._overrides[(src, dst)] = impairment
        self._apply(src, dst)

    def clear(self, src: str, dst: str) -> None:
        """Back to the default (catalogue latency only) for ``src`` -> ``dst``; stops its timeline."""
        self.cancel_timeline(src, dst)
        self._overrides.pop((src, dst), None)
        self._apply(src, dst)

    def clear_all(self) -> None:
        for pair in list(self._timelines):
            self.cancel_timeline(*pair)
        pairs = list(self._overrides)
        self._overrides.clear()
        for src, dst in pairs:
            self._apply(src, dst)

    def run_timeline(self, src: str, dst: str, timeline: Timeline) -> None:
        """Apply ``timeline`` to ``src`` -> ``dst`` from now on, over the impairment in force now.

        Replaces a timeline already running on that direction. Needs a running loop.
        """
        self.cancel_timeline(src, dst)
        loop = self._timeline_loop = asyncio.get_running_loop()
        start = loop.time()
        handles = []
        for at_s, imp in timeline.schedule(self.impairment(src, dst)):
            if at_s <= 0.0:
                self.set(src, dst, imp)
            else:
                handles.append(loop.call_at(start + at_s, self.set, src, dst, imp))
        self._timelines[(src, dst)] = handles

    def cancel_timeline(self, src: str, dst: str) -> None:
        for handle in self._timelines.pop((src, dst), []):
            handle.cancel()

    def timelines(self) -> list[tuple[str, str]]:
        """Directions with a timeline change still to apply (a timer that already fired is not pending)."""
        now = self._timeline_loop.time() if self._timeline_loop is not None else 0.0
        return [
            pair
            for pair, handles in self._timelines.items()
            if any(not h.cancelled() and h.when() > now for h in handles)
        ]

    def overrides(self) -> dict[tuple[str, str], Impairment]:
        return dict(self._overrides)

    def links(self) -> list[tuple[str, str, Link]]:
        return list(self._links)

    def _apply(self, src: str, dst: str) -> None:
        imp = self.impairment(src, dst)
        if self.events is not None:
            self.events.emit("link.changed", **{"from": src, "to": dst}, impairment=imp.to_dict())
        for client_region, target_region, link in self._links:
            if (client_region, target_region) == (src, dst):
                link.set_impairment(FORWARD, imp)
            if (target_region, client_region) == (src, dst):  # both, for a link within one region
                link.set_impairment(REVERSE, imp)

    async def open_link(self, kind: str, client: Region, target: Region, address: Peer, name: str) -> Link:
        """A new, started link from ``client``'s region to ``address`` in ``target``'s region."""
        fwd = self.impairment(client.id, target.id)
        rev = self.impairment(target.id, client.id)
        cls = TcpLink if kind == "tcp" else UdpLink
        link: Link = cls(
            target=address,
            listen=(client.host, 0),
            impairment=fwd,
            reverse_impairment=rev,
            seed=self.link_seed(name),
            name=name,
        )
        await link.start()
        self._links.append((client.id, target.id, link))
        return link

    def link_seed(self, name: str) -> int | None:
        """The seed of the link called ``name``: fixed by the backbone's seed and the name (which names
        the flows it joins), so a run repeats exactly while two links of one run draw independently
        (with one shared seed, every link with the same loss would drop the same packets)."""
        if self.seed is None:
            return None
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def forget(self, link: Link) -> None:
        self._links = [entry for entry in self._links if entry[2] is not link]


@dataclass(eq=False)
class _LiveInput:
    config: FlowInput
    hub: Hub
    shaper: MaxBitrateShaper | None = None
    client: Client | None = None
    listener: SrtListener | None = None
    link: Link | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def max_bitrate_shaper(self) -> MaxBitrateShaper | None:
        """The input's MaxBitrate shaper (None when the cap is the API's maximum: no shaping)."""
        if self.config.max_bitrate >= DEFAULT_MAX_BITRATE:
            return None
        if self.shaper is None or self.shaper.rate_bps != self.config.max_bitrate:
            self.shaper = MaxBitrateShaper(self.config.max_bitrate)
        return self.shaper


@dataclass(eq=False)
class _LiveOutput:
    config: FlowOutput
    client: Client | None = None
    listener: SrtListener | None = None
    link: Link | None = None
    players: list[Subscription] = field(default_factory=list)
    """Clients playing the output (what PlayerLimit counts, what the API, metrics and status show)."""
    backbone_legs: list[Subscription] = field(default_factory=list)
    """The paired flows' backbone pullers of the output: the service's own traffic, not players."""
    restart_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def live_players(self) -> list[Subscription]:
        self.players = [s for s in self.players if not s.closed]
        return self.players

    def live_backbone_legs(self) -> list[Subscription]:
        self.backbone_legs = [s for s in self.backbone_legs if not s.closed]
        return self.backbone_legs


class _LiveFlow:
    """One online flow: hubs, the failover switch (:class:`~mediaplane.relay.failover.InputSwitch`),
    clients, listeners and links."""

    def __init__(
        self, flow: Flow, clock: Callable[[], float], hold_s: float = 3.0, events: EventBus | None = None
    ) -> None:
        self.flow = flow
        self.events = events
        self._clock = clock
        self.hold_s = hold_s
        self.rtmp = flow.family is Family.RTMP
        self.hub = flow_hub(f"{flow.region.id}/{flow.name}", cache_gop=self.rtmp, clock=clock)
        self.inputs: list[_LiveInput] = []
        self.outputs: dict[str, _LiveOutput] = {}
        self.switch_task: asyncio.Task[None] | None = None
        self.switch = InputSwitch(
            self.hub,
            self.inputs,
            clock=clock,
            hold_s=hold_s,
            restart_at_keyframe=self.rtmp,
            on_switch=self._on_switch,
            name=flow.name,
        )

    @property
    def input_hubs_cache_gop(self) -> bool:
        """Whether input hubs keep a keyframe cache: only an RTMP flow with a backup input needs one
        (a switch resumes at the input's newest keyframe); the flow hub serves late joiners."""
        return self.rtmp and len(self.flow.inputs) > 1

    @property
    def active(self) -> _LiveInput | None:
        """The input being forwarded into the flow hub."""
        return self.switch.active

    @property
    def switches(self) -> int:
        return self.switch.switches

    def _on_switch(self, from_input: str, to_input: str) -> None:
        failover_switched(self.events, self.flow, from_input, to_input)

    def input_for(self, config: FlowInput) -> _LiveInput | None:
        return next((i for i in self.inputs if i.config is config), None)

    async def run_switch(self) -> None:
        """Forward the preferred input that has a publisher into the flow hub (failover)."""
        await self.switch.run()


async def _cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` until it has ended (a cancellation can be swallowed on Python 3.11, gh-86296)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("task %s ended with %r", task.get_name(), task.exception())


class _RegionRtmpRouter:
    """Routes RTMP publish and play on a region's server to online flows (a StreamRouter)."""

    def __init__(self, runtime: Runtime, region: Region) -> None:
        self.runtime = runtime
        self.region = region

    def _lookup(self, path: StreamPath) -> tuple[_LiveFlow, FlowInput | FlowOutput, bool]:
        rt = self.runtime
        backbone = path.app == rt.backbone_app
        if path.app != "live" and not backbone:
            raise Refused(f"unknown application {path.app!r} (expected 'live')", code="not_found")
        found = rt.manager.endpoint_for_stream_key(self.region.id, path.key)
        if found is None:
            raise Refused(f"no input or output has stream key {path.key!r}", code="not_found")
        flow, endpoint = found
        live = rt.live.get(flow.id)
        if live is None:
            raise Refused(f"flow {flow.name} is offline", code="unavailable")
        return live, endpoint, backbone

    def route_publish(self, path: StreamPath, peer: Peer) -> Hub:
        live, endpoint, backbone = self._lookup(path)
        if not isinstance(endpoint, FlowInput) or endpoint.protocol is not InputProtocol.RTMP_PUSH:
            raise Refused(f"{path} is not an RTMP-PUSH input", code="not_found")
        if not backbone:
            check_cidrs(parse_cidrs(endpoint.cidrs), peer)
        li = live.input_for(endpoint)
        if li is None:
            raise Refused(f"input {endpoint.name} is not live", code="unavailable")
        self.runtime.evict_stale_publisher(li.hub)
        return li.hub

    def route_play(self, path: StreamPath, peer: Peer) -> Subscription:
        live, endpoint, backbone = self._lookup(path)
        if not isinstance(endpoint, FlowOutput) or endpoint.protocol is not OutputProtocol.RTMP_PULL:
            raise Refused(f"{path} is not an RTMP-PULL output", code="not_found")
        return self.runtime.subscribe_player(live, endpoint, peer, backbone=backbone)


class _SrtEndpointRouter:
    """Routes callers of one SRT-Listener input or output (one port, one stream)."""

    def __init__(self, runtime: Runtime, live: _LiveFlow, endpoint: FlowInput | FlowOutput) -> None:
        self.runtime = runtime
        self.live = live
        self.endpoint = endpoint

    def route_publish(self, path: StreamPath, peer: Peer) -> Hub:
        endpoint = self.endpoint
        assert isinstance(endpoint, FlowInput)
        if path.key != self.runtime.backbone_app:
            check_cidrs(parse_cidrs(endpoint.cidrs), peer)
        li = self.live.input_for(endpoint)
        if li is None:
            raise Refused(f"input {endpoint.name} is not live", code="unavailable")
        self.runtime.evict_stale_publisher(li.hub)
        return li.hub

    def route_play(self, path: StreamPath, peer: Peer) -> Subscription:
        endpoint = self.endpoint
        assert isinstance(endpoint, FlowOutput)
        backbone = path.key == self.runtime.backbone_app
        return self.runtime.subscribe_player(self.live, endpoint, peer, backbone=backbone)


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
        self.live: dict[str, _LiveFlow] = {}
        self._srt_ports: dict[str, set[int]] = {}
        self._manager: FlowManager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.lastmile = LastMile(self)
        self.rtmp_client_config: RtmpClientConfig | None = None
        """Settings of the RTMP pullers and pushers started from now on (None: the defaults)."""
        self.events: EventBus | None = events
        """Where the runtime's event points report (:mod:`emulator.events`); None: nowhere."""

    # -- wiring -----------------------------------------------------------------------------------
    @property
    def manager(self) -> FlowManager:
        assert self._manager is not None, "Runtime.attach(manager) first"
        return self._manager

    def attach(self, manager: FlowManager) -> None:
        self._manager = manager

    def _clock(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    async def start(self) -> None:
        """Start every region's RTMP server. Raises OSError when an address is taken."""
        self._loop = asyncio.get_running_loop()
        try:
            for region in self.regions:
                server = RtmpServer(
                    _RegionRtmpRouter(self, region),
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
        for task in list(self._tasks):
            task.cancel()
        for flow_id in list(self.live):
            await self._stop(flow_id)
        await self.lastmile.close()
        for server in self.rtmp_servers.values():
            await server.close()
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
        live = _LiveFlow(flow, self._clock, self.input_hold_s, self.events)
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
        self, live: _LiveFlow, output: FlowOutput, peer: Peer, *, backbone: bool
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
    def _srt_config(
        self, latency: int | None, passphrase: str, pbkeylen: int, streamid: str = ""
    ) -> SrtConfig:
        return SrtConfig(
            latency_ms=latency if latency is not None else 120,
            passphrase=passphrase,
            pbkeylen=pbkeylen if pbkeylen in (16, 24, 32) else 16,
            streamid=streamid,
        )

    async def _srt_listener(
        self, live: _LiveFlow, endpoint: FlowInput | FlowOutput, direction: str
    ) -> SrtListener:
        """The started SRT listener of an SRT-Listener input (``publish``) or output (``play``)."""
        assert endpoint.srt_port is not None
        listener = SrtListener(
            _SrtEndpointRouter(self, live, endpoint),
            host=live.flow.region.host,
            port=endpoint.srt_port,
            config=self._srt_config(endpoint.srt_latency, endpoint.srt_passphrase, endpoint.srt_pbkeylen),
            direction=direction,
            name=f"{live.flow.name}/{endpoint.name}",
            # The flow hub is unpublished only past the input hold: SRT players end then, with a
            # SHUTDOWN, at the moment RTMP players get UnpublishNotify.
            end_on_unpublish=direction == "play",
        )
        await listener.start()
        return listener

    def _srt_caller(
        self, url: str, endpoint: FlowInput | FlowOutput, hub: Hub, direction: str, name: str
    ) -> SrtCaller:
        """A reconnecting caller to an SRT-Caller endpoint's URL; the URL's query fills what the API left
        empty (passphrase, streamid)."""
        host, port, url_cfg, _mode = parse_srt_url(url)
        config = self._srt_config(
            endpoint.srt_latency,
            endpoint.srt_passphrase or url_cfg.passphrase,
            endpoint.srt_pbkeylen,
            url_cfg.streamid,
        )
        return SrtCaller(host, port, config=config, hub=hub, direction=direction, reconnect=True,
                         max_backoff_s=5.0, name=name,
                         end_on_unpublish=True, claim_on_media=True)  # fmt: skip

    def _backbone_srt_caller(
        self,
        link: Link,
        far: FlowInput | FlowOutput,
        near_latency: int | None,
        hub: Hub,
        direction: str,
        name: str,
    ) -> SrtCaller:
        """The caller of a Flow leg: through ``link`` to the paired flow's SRT-Listener ``far``, with its
        passphrase and the larger latency of both ends."""
        mode = "publish" if direction == "publish" else "request"
        config = self._srt_config(
            max(near_latency or 0, far.srt_latency or 0) or None,
            far.srt_passphrase,
            far.srt_pbkeylen,
            streamid=f"#!::r={self.backbone_app},m={mode}",
        )
        return SrtCaller(link.address[0], link.port, config=config, hub=hub, direction=direction,
                         reconnect=True, max_backoff_s=2.0, name=name,
                         end_on_unpublish=True, claim_on_media=True)  # fmt: skip

    async def _start_input(self, live: _LiveFlow, cfg: FlowInput) -> None:
        flow = live.flow
        name = f"{flow.region.id}/{flow.name}/{cfg.name}"
        hub = input_hub(self.events, flow, cfg, name, cache_gop=live.input_hubs_cache_gop, clock=self._clock)
        li = _LiveInput(cfg, hub)
        live.inputs.append(li)
        proto = cfg.protocol
        if proto is InputProtocol.RTMP_PUSH:
            return  # the region's RTMP server routes publishers here
        if proto is InputProtocol.SRT_LISTENER:
            li.listener = await self._srt_listener(live, cfg, "publish")
            return
        if proto is InputProtocol.FLOW:
            await self._start_flow_input(live, li)
        else:
            li.client = await self._make_input_client(live, li)
        assert li.client is not None
        await li.client.start()

    async def _make_input_client(self, live: _LiveFlow, li: _LiveInput) -> Client:
        """The client of an RTMP-PULL / SRT-Caller input (through its last-mile link, if any)."""
        cfg = li.config
        url = await self.lastmile.dial(live.flow, cfg, cfg.from_url)
        if cfg.protocol is InputProtocol.RTMP_PULL:
            return RtmpPuller(url, li.hub, config=self.rtmp_client_config)
        return self._srt_caller(url, cfg, li.hub, "receive", f"{live.flow.name}/{cfg.name}")

    async def restart_dialing_client(self, live: _LiveFlow, endpoint: FlowInput | FlowOutput) -> None:
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
            li.client = await self._make_input_client(live, li)
            await li.client.start()

    async def _start_flow_input(self, live: _LiveFlow, li: _LiveInput) -> None:
        """A Flow input pulls from the paired flow's RTMP-PULL / SRT-Listener output over the backbone."""
        cfg = li.config
        flow = live.flow
        pair = self.manager.get_flow(cfg.pair_flow_id)
        out = pair.outputs.get(cfg.pair_output_name)
        if out is None:
            raise FlowStartError(f"PairOutputName {cfg.pair_output_name!r} no longer exists in {pair.name}")
        name = f"backbone {pair.region.id}/{pair.name}/{out.name} -> {flow.region.id}/{flow.name}"
        if out.protocol is OutputProtocol.RTMP_PULL:
            host, port = self.rtmp_address(pair.region)
            li.link = link = await self.backbone.open_link(
                "tcp", flow.region, pair.region, (host, port), name
            )
            url = f"rtmp://{link.address[0]}:{link.port}/{self.backbone_app}/{out.stream_key}"
            li.client = RtmpPuller(url, li.hub, config=self.rtmp_client_config)
        else:
            assert out.srt_port is not None
            target = (pair.region.host, out.srt_port)
            li.link = link = await self.backbone.open_link("udp", flow.region, pair.region, target, name)
            li.client = self._backbone_srt_caller(link, out, cfg.srt_latency, li.hub, "receive", name)

    # -- outputs ----------------------------------------------------------------------------------
    async def _start_output(self, live: _LiveFlow, cfg: FlowOutput) -> None:
        lo = _LiveOutput(cfg)
        live.outputs[cfg.name] = lo
        proto = cfg.protocol
        if proto is OutputProtocol.SRT_LISTENER:
            lo.listener = await self._srt_listener(live, cfg, "play")
        elif not listening(cfg) and not cfg.forbid:
            await self._start_output_client(live, lo)

    async def _make_output_client(self, live: _LiveFlow, lo: _LiveOutput) -> Client:
        cfg = lo.config
        flow = live.flow
        if cfg.protocol is OutputProtocol.RTMP_PUSH:
            url = await self.lastmile.dial(flow, cfg, cfg.to_url)
            return RtmpPusher(url, live.hub, config=self.rtmp_client_config)
        if cfg.protocol is OutputProtocol.SRT_CALLER:
            url = await self.lastmile.dial(flow, cfg, cfg.to_url)
            return self._srt_caller(url, cfg, live.hub, "publish", f"{flow.name}/{cfg.name}")
        # Flow output: push into the paired flow's RTMP-PUSH / SRT-Listener input over the backbone.
        pair = self.manager.get_flow(cfg.pair_flow_id)
        inp = pair.input_named(cfg.pair_input_name)
        if inp is None:
            raise FlowStartError(f"PairInputName {cfg.pair_input_name!r} no longer exists in {pair.name}")
        name = f"backbone {flow.region.id}/{flow.name}/{cfg.name} -> {pair.region.id}/{pair.name}/{inp.name}"
        if inp.protocol is InputProtocol.RTMP_PUSH:
            host, port = self.rtmp_address(pair.region)
            lo.link = link = await self.backbone.open_link(
                "tcp", flow.region, pair.region, (host, port), name
            )
            url = f"rtmp://{link.address[0]}:{link.port}/{self.backbone_app}/{inp.stream_key}"
            return RtmpPusher(url, live.hub, config=self.rtmp_client_config)
        assert inp.srt_port is not None
        target = (pair.region.host, inp.srt_port)
        lo.link = link = await self.backbone.open_link("udp", flow.region, pair.region, target, name)
        return self._backbone_srt_caller(link, inp, cfg.srt_latency, live.hub, "publish", name)

    async def _start_output_client(self, live: _LiveFlow, lo: _LiveOutput) -> None:
        lo.client = await self._make_output_client(live, lo)
        await lo.client.start()

    async def _stop_output_client(self, lo: _LiveOutput) -> None:
        client, lo.client = lo.client, None
        if client is not None:
            await client.close()
        if lo.link is not None:
            self.backbone.forget(lo.link)
            await lo.link.close()
            lo.link = None

    async def _restart_output_client(self, live: _LiveFlow, lo: _LiveOutput, forbidden: bool) -> None:
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
            await _cancel_and_wait(live.switch_task)
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

    def _srt_players(self, listener: SrtListener) -> int:
        """Callers of an SRT-Listener output, less the backbone legs."""
        return sum(1 for s in listener.connections if not self.is_backbone_path(s.path))

    def snapshot(self) -> dict[str, Any]:
        """Live sessions, hubs and links, for ``GET /_emulator/state``."""
        regions = {}
        for rid, server in self.rtmp_servers.items():
            regions[rid] = {
                "rtmp": f"rtmp://{server.host}:{server.port}",
                "rtmp_sessions": [
                    {
                        "peer": f"{c.peer[0]}:{c.peer[1]}",
                        "role": c.role,
                        "path": str(c.path) if c.path else None,
                        "bytes_received": c.bytes_received,
                        "bytes_sent": c.bytes_sent,
                    }
                    for c in server.sessions
                ],
            }
        flows = {}
        for flow_id, live in self.live.items():
            c = live.hub.counters
            flows[flow_id] = {
                "name": live.flow.name,
                "active_input": live.active.config.name if live.active else None,
                "units_in": c.units_in,
                "bytes_in": c.bytes_in,
                "bytes_out": c.bytes_out,
                "inputs": {
                    li.config.name: {
                        "bytes_in": li.hub.counters.bytes_in,
                        "publisher": li.hub.has_publisher,
                        "client_connected": getattr(li.client, "connected", None),
                        "srt_callers": len(li.listener.connections) if li.listener else None,
                    }
                    for li in live.inputs
                },
                "outputs": {
                    name: {
                        "protocol": lo.config.protocol.value,
                        "family": lo.config.family.value,
                        "players": len(lo.live_players()),
                        "backbone_legs": len(lo.live_backbone_legs()),
                        "client_connected": getattr(lo.client, "connected", None),
                        "srt_callers": self._srt_players(lo.listener) if lo.listener else None,
                    }
                    for name, lo in live.outputs.items()
                },
            }
        links = [
            {
                "from": src,
                "to": dst,
                "name": link.name,
                "stats": link.stats() if isinstance(link, UdpLink) else _tcp_stats(link),
            }
            for src, dst, link in self.backbone.links()
        ]
        return {"regions": regions, "live_flows": flows, "links": links, "last_mile": self.lastmile.view()}


def _tcp_stats(link: TcpLink) -> dict[str, Any]:
    stats = getattr(link, "stats", None)
    if callable(stats):
        result: dict[str, Any] = stats()
        return result
    return {d: c.to_dict() for d, c in link.counters.items()}


__all__ = [
    "INPUT_ACTIVE_WINDOW_S",
    "INPUT_HOLD_S",
    "Backbone",
    "MaxBitrateShaper",
    "PublisherBusy",
    "Runtime",
]
