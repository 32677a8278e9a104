"""The emulator as one object: region RTMP servers, the flow manager, the ICE API and the backbone.

``async with Emulator(topology) as emu:`` starts everything (in well under a second) and applies the
topology's links and flows; ``emu.api_port`` is the API's real port. Used by ``mcemu up``, the pytest
plugin and tests.

``await emu.wait_for("input.connected", flow_id=fid)`` returns the first matching event of
:mod:`emulator.events`; it searches the kept history first, so an event that happened before the call
counts (pass ``after=emu.last_event_id`` taken before an action to wait only for newer ones).

``Emulator(topology, state_file="state.json")`` (``mcemu up --state FILE``) starts from the file when it
exists (instead of the topology's links and flows) and keeps it equal to the state from then on
(:class:`emulator.state_io.StateSaver`: atomic writes, 0.2 s after a change, and at close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .api import ApiServer, build_app
from .api.admin import VERSION, add_event_routes, add_state_routes
from .api.admin.lastmile import add_lastmile_routes
from .api.admin.links import add_link_routes
from .api.preview import add_preview_routes
from .console import add_console_routes
from .errors import ConfigError, EmulatorError
from .events import EventBus, OutputWatcher, wait_for
from .metrics import Metrics, add_metrics_route
from .model.flow import Flow, Role
from .model.lastmile import LastMileSpec
from .model.manager import SrtParams
from .model.rules import listening
from .runtime import Backbone, Runtime
from .state_io import StateError, StateSaver, export_state, import_state, read_state_file, topology_of
from .topology import Topology, ephemeral_topology, stream_key

__all__ = ["Emulator"]

logger = logging.getLogger(__name__)


def _srt(spec: dict[str, Any]) -> SrtParams:
    """A topology endpoint's Srt* keys, alike for inputs and outputs."""
    return SrtParams(
        srt_latency=spec.get("srt_latency"),
        srt_passphrase=spec.get("srt_passphrase"),
        srt_pbkeylen=spec.get("srt_pbkeylen"),
    )


class Emulator:
    """Everything ``mcemu up`` runs, in-process. See the module docstring."""

    def __init__(
        self, topology: Topology | None = None, *, api_port: int | None = None, state_file: str | None = None
    ) -> None:
        # No topology: every port ephemeral (tests, scripts); ``mcemu up`` passes its own with 8080 / 1935.
        self.topology = topology or ephemeral_topology()
        self.regions = self.topology.regions
        self.events = EventBus()
        self.backbone = Backbone(self.regions, seed=self.topology.seed)
        self.backbone.events = self.events
        self.runtime = Runtime(self.regions, backbone=self.backbone, events=self.events)
        self.manager = self.runtime.manager
        self.manager.events = self.events
        self.state_file = state_file
        self._saver: StateSaver | None = None
        self._watcher_task: asyncio.Task[None] | None = None
        self.app: web.Application = build_app(
            self.manager,
            access_keys=self.topology.access_keys or None,
            extra_state=self.runtime.snapshot,
            secrets=lambda: [self.runtime.backbone_app],
        )
        add_link_routes(self.app, self.backbone)
        add_lastmile_routes(self.app, self.runtime.lastmile)
        add_event_routes(self.app, self.events)
        add_preview_routes(self.app, self.runtime)
        add_state_routes(
            self.app, export=self.export_state, topology=self.topology_of, load=self.import_state
        )
        add_console_routes(self.app)
        self.app.middlewares.append(self._touch_after_change)
        self.metrics = Metrics(self.manager, self.runtime, time.monotonic)
        add_metrics_route(self.app, self.metrics)
        self.api = ApiServer(
            self.manager,
            self.topology.api_host,
            self.topology.api_port if api_port is None else api_port,
            app=self.app,
        )
        self.started = False

    @property
    def api_port(self) -> int:
        return self.api.port

    @property
    def endpoint(self) -> str:
        """``host:port`` of the API, as the SDK's ``Config.endpoint`` wants it."""
        return self.api.endpoint

    async def start(self) -> None:
        """Start the region servers and the API, then apply links and flows. Raises OSError, ConfigError."""
        await self.runtime.start()
        try:
            await self.api.start()
            watcher = OutputWatcher(self.events, self._live_outputs)
            self._watcher_task = asyncio.get_running_loop().create_task(watcher.run(), name="output watcher")
            saved = self._read_state_file()
            if saved is not None:
                await self._load_state_file(saved)
            else:
                for link in self.topology.links:
                    pairs = [(link.src, link.dst)] + ([(link.dst, link.src)] if link.both_ways else [])
                    for src, dst in pairs:
                        self.backbone.set(src, dst, link.impairment)
                        if link.timeline is not None:
                            self.backbone.run_timeline(src, dst, link.timeline)
                await self.apply_flows(self.topology.flows)
            if self.state_file is not None:
                self._saver = StateSaver(self.state_file, self.export_state)
                self._saver.start()
        except BaseException:
            await self.close()
            raise
        self.started = True

    async def close(self) -> None:
        """Stop every flow (sessions closed cleanly), the API and the region servers (after a last save
        of the state file)."""
        saver, self._saver = self._saver, None
        if saver is not None:
            await saver.close()
        task, self._watcher_task = self._watcher_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.backbone.clear_all()
        await self.api.close()
        await self.runtime.close()
        self.started = False

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- events -------------------------------------------------------------------------------------
    @property
    def last_event_id(self) -> int:
        """Id of the newest event: ``wait_for(..., after=emu.last_event_id)`` sees only later ones."""
        return self.events.last_id

    async def wait_for(
        self,
        type: str,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (the deadline is the point of the call)
        after: int = 0,
        **match: Any,
    ) -> dict[str, Any]:
        """The first event of ``type`` (id above ``after``) whose keys have the ``match`` values, from
        the kept history or as it happens. Raises TimeoutError. See :func:`emulator.events.wait_for`."""
        return await wait_for(self.events, type, timeout=timeout, after=after, **match)

    def _live_outputs(self) -> list[tuple[Any, dict[str, tuple[Any, Any]]]]:
        return [
            (live.flow, {name: (lo.config, lo.client) for name, lo in live.outputs.items()})
            for live in self.runtime.live.values()
        ]

    # -- state ----------------------------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """The state document of :mod:`emulator.state_io` (holds stream keys and passphrases)."""
        return export_state(self.manager, self.backbone, self.runtime.lastmile, version=VERSION)

    def topology_of(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` as a topology document, with this emulator's API address, seed and regions."""
        base: dict[str, Any] = {"api": {"host": self.topology.api_host, "port": self.topology.api_port}}
        if self.topology.seed is not None:
            base["seed"] = self.topology.seed
        base.update(self.regions.to_dict())
        return topology_of(state, base)

    async def import_state(self, doc: Any) -> dict[str, Any]:
        """Replace every flow, link and last-mile impairment with ``doc``'s. Raises StateError,
        PortUnavailable (see :func:`emulator.state_io.import_state`)."""
        result = await import_state(doc, self.manager, self.runtime, self.backbone, self.runtime.lastmile)
        if self._saver is not None:
            self._saver.touch()
        return dict(result)

    def _read_state_file(self) -> Any:
        if self.state_file is None:
            return None
        try:
            return read_state_file(self.state_file)
        except StateError as exc:
            raise ConfigError(f"--state: {exc}") from exc

    async def _load_state_file(self, doc: Any) -> None:
        try:
            result = await self.import_state(doc)
        except (StateError, EmulatorError) as exc:
            raise ConfigError(f"--state {self.state_file}: {exc}") from exc
        for line in result["errors"]:
            logger.warning("--state %s: %s", self.state_file, line)
        logger.info("state loaded from %s: %d flows", os.path.basename(str(self.state_file)), result["flows"])

    @web.middleware
    async def _touch_after_change(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every API call that may change something asks the state saver for a save."""
        try:
            return await handler(request)
        finally:
            if self._saver is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
                self._saver.touch()

    async def apply_flows(self, flows: list[dict[str, Any]]) -> None:
        """Create the topology's flows (two passes, so a flow may pair with one declared later)."""
        m = self.manager
        by_name: dict[str, str] = {}
        try:
            for doc in flows:
                flow = m.create_flow(name=doc["name"], region=doc["region"])
                by_name[doc["name"]] = by_name[f"{doc['region']}/{doc['name']}"] = flow.id
            pending = list(flows)
            for _ in range(len(flows) + 1):
                # A Flow endpoint needs its pair's endpoint first: retry until nothing is left.
                still: list[dict[str, Any]] = []
                for doc in pending:
                    if not self._add_endpoints(doc, by_name):
                        still.append(doc)
                if not still or len(still) == len(pending):
                    pending = still
                    break
                pending = still
            for doc in pending:
                self._add_endpoints(doc, by_name, final=True)
            for doc in flows:
                if doc.get("status") == "online":
                    await m.set_status(by_name[doc["name"]], "online")
        except EmulatorError as exc:
            raise ConfigError(f"topology: {exc}") from exc

    def _add_endpoints(self, doc: dict[str, Any], by_name: dict[str, str], final: bool = False) -> bool:
        """Add what the flow still lacks; False when a pair is not ready yet (unless ``final``)."""
        m = self.manager
        flow = m.get_flow(by_name[doc["name"]])

        def pair_id(spec: dict[str, Any]) -> str | None:
            name = spec.get("pair_flow")
            if name is None:
                return None
            if name not in by_name:
                raise ConfigError(f"flow {doc['name']}: pair_flow {name!r} is not a flow of this topology")
            return by_name[name]

        def ready(spec: dict[str, Any], attr: str, key: str) -> bool:
            pid = pair_id(spec)
            if pid is None or final:
                return True
            pair = m.get_flow(pid)
            if attr == "outputs":
                return spec.get(key) in pair.outputs
            return pair.input_named(str(spec.get(key))) is not None

        for key in ("input", "backup_input"):
            spec = doc.get(key)
            if spec is None or flow.input_named(spec["name"]) is not None:
                continue
            if not ready(spec, "outputs", "pair_output"):
                return False
            if key == "backup_input" and doc.get("failover") and not flow.failover_open:
                m.open_failover(flow.id)  # failover needs the primary input, the backup needs failover
            m.add_input(
                flow.id,
                name=spec["name"],
                protocol=spec["protocol"],
                cidrs=spec.get("cidrs"),
                from_url=spec.get("from_url"),
                max_bitrate=spec.get("max_bitrate"),
                pair_flow_id=pair_id(spec),
                pair_output_name=spec.get("pair_output"),
                **_srt(spec),
                with_internal_vip=bool(spec.get("with_internal_vip", False)),
                stream_key=self._stable_key(flow, spec["name"]),
            )
            self._last_mile(flow.id, Role.INPUT, spec)
        if doc.get("failover") and flow.inputs and not flow.failover_open:
            m.open_failover(flow.id)
        for spec in doc.get("outputs") or []:
            if spec["name"] in flow.outputs:
                continue
            if not flow.inputs or not ready(spec, "inputs", "pair_input"):
                return False
            m.add_output(
                flow.id,
                name=spec["name"],
                protocol=spec["protocol"],
                to_url=spec.get("to_url"),
                pair_flow_id=pair_id(spec),
                pair_input_name=spec.get("pair_input"),
                player_limit=spec.get("player_limit"),
                cidrs=spec.get("cidrs"),
                **_srt(spec),
                stream_key=self._stable_key(flow, spec["name"]),
            )
            if spec.get("forbid"):
                m.forbid_output(flow.id, spec["name"])
            self._last_mile(flow.id, Role.OUTPUT, spec)
        return True

    def _stable_key(self, flow: Flow, endpoint: str) -> str:
        """The stream key a topology's RTMP endpoint gets if it listens: derived from the seed (same file,
        same URLs)."""
        return stream_key(self.topology.seed, flow.region.id, flow.name, endpoint)

    def _last_mile(self, flow_id: str, role: Role, spec: dict[str, Any]) -> None:
        """Record an endpoint's ``last_mile`` (applied when its flow goes online)."""
        body = spec.get("last_mile")
        if body is None:
            return
        try:
            self.runtime.lastmile.configure(flow_id, role, spec["name"], LastMileSpec.from_body(body))
        except (ValueError, EmulatorError) as exc:
            raise ConfigError(f"{role} {spec['name']}: last_mile: {exc}") from exc

    def urls(self) -> list[tuple[str, str, str]]:
        """(flow, role, url) for every push input and pull output: what a user connects to (and its
        impaired URL, role ``... (last mile)``, while it has one)."""
        rows = []
        lastmile = self.runtime.lastmile
        for flow in self.manager.flows:
            where = f"{flow.region.id}/{flow.name}"
            for inp in flow.inputs:
                if listening(inp):
                    rows.append((where, f"push to {inp.name}", inp.url))
                    impaired = lastmile.impaired_url(flow.id, Role.INPUT, inp.name)
                    if impaired:
                        rows.append((where, f"push to {inp.name} (last mile)", impaired))
            for out in flow.outputs.values():
                if listening(out):
                    rows.append((where, f"play {out.name}", out.url))
                    impaired = lastmile.impaired_url(flow.id, Role.OUTPUT, out.name)
                    if impaired:
                        rows.append((where, f"play {out.name} (last mile)", impaired))
        return rows
