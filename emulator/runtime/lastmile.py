"""Last-mile impairments: the network between a client (OBS, a viewer, a remote server) and a region.

A last-mile impairment is set per endpoint, ``(flow id, "input" | "output", name)``, with two directions
named by the media path: ``to_region`` (bytes from the client or remote toward the emulator's region) and
``from_region`` (bytes from the region toward the client or remote). Either may be given; a single
impairment may apply to both. A direction not given is left unimpaired.

* **Listening endpoints** (RTMP-PUSH input, RTMP-PULL output, SRT-Listener input and output): while the
  flow is online, a link (:class:`~mediaplane.netem.link.TcpLink` for RTMP,
  :class:`~mediaplane.netem.link.UdpLink` for SRT) listens on the region's own host, port 0, in front of
  the endpoint's real listener (the region's RTMP server, or the endpoint's SRT port). Clients that
  connect to the *impaired URL* (the endpoint's URL with the link's port) get the impairment; the
  normal URL stays unimpaired. The impaired URL changes each time the flow goes online. The RTMP
  server and SRT listener see such a client as the link's upstream address (a loopback address), so
  the endpoint's Cidrs apply to the link, not to the far client.
* **Dialing endpoints** (RTMP-PULL / SRT-Caller inputs, RTMP-PUSH / SRT-Caller outputs): the runtime
  starts a link on ``127.0.0.1:0`` toward the remote host and port and points its client at the link
  (same path and query).
* Setting or clearing while the flow is online applies at once: a live link changes its impairment; a
  dialing endpoint without a link yet restarts its client through a new one (and back to the remote
  directly on clear, before its link closes). Offline closes the links; a spec is kept with its
  endpoint until cleared, and forgotten with its flow (reset, delete).

Flow endpoints cross the backbone, whose impairment is set per region pair (:mod:`emulator.api.admin.links`):
they take no last-mile impairment.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

from mediaplane.netem import Impairment
from mediaplane.netem.link import FORWARD, REVERSE, TcpLink, UdpLink

from ..errors import InvalidValue, NotFound
from ..model.flow import Endpoint, Family, Flow, FlowInput, FlowOutput, Role, role_of
from ..model.lastmile import Direction, LastMileSpec
from ..model.manager import EventSink, FlowManager
from ..model.rules import dialing, listening
from ..regions import Region

__all__ = [
    "LastMile",
    "LastMileHost",
    "LiveFlowView",
    "parse_role",
    "remote_address",
    "replace_address",
]

logger = logging.getLogger(__name__)


Link = TcpLink | UdpLink
Key = tuple[str, Role, str]
"""(flow id, role, endpoint name)."""


def parse_role(value: str) -> Role:
    """The role a URL or a state document names. Raises InvalidValue (400) for anything but a role."""
    try:
        return Role(value)
    except ValueError:
        raise InvalidValue("Role", f"{value!r}: input or output") from None


class LiveFlowView(Protocol):
    """What the last mile reads of one online flow of the runtime."""

    @property
    def flow(self) -> Flow: ...


_Live = TypeVar("_Live", bound=LiveFlowView)


class LinkSeeds(Protocol):
    def link_seed(self, name: str) -> int | None:
        """The seed of the link named ``name`` (None: unseeded)."""
        ...


class LastMileHost(Protocol[_Live]):
    """What :class:`LastMile` needs of the runtime that owns it (and nothing else of it)."""

    @property
    def manager(self) -> FlowManager: ...

    @property
    def live(self) -> Mapping[str, _Live]:
        """The online flows by FlowId."""
        ...

    @property
    def backbone(self) -> LinkSeeds: ...

    @property
    def events(self) -> EventSink | None: ...

    def rtmp_address(self, region: Region) -> tuple[str, int]: ...

    async def restart_dialing_client(self, live: _Live, endpoint: FlowInput | FlowOutput) -> None:
        """Restart a dialing endpoint's client, so that it connects where :meth:`LastMile.dial` says."""
        ...


def replace_address(url: str, host: str, port: int) -> str:
    """``url`` at ``host:port`` instead of its own address (scheme, path and query kept)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def remote_address(url: str) -> tuple[str, int]:
    """The host and port an ``rtmp://`` (default port 1935) or ``srt://`` URL names. Raises ValueError."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (1935 if parts.scheme.startswith("rtmp") else None)
    if parts.hostname is None or port is None:
        raise ValueError(f"{url!r} names no host and port")
    return parts.hostname, port


class LastMile(Generic[_Live]):
    """Every endpoint's last-mile impairment and live links (see the module docstring); the runtime owns
    one (``runtime.lastmile``) and calls :meth:`flow_started`, :meth:`flow_stopped` and :meth:`dial`.
    It reaches the runtime only through :class:`LastMileHost`."""

    def __init__(self, runtime: LastMileHost[_Live]) -> None:
        self.runtime = runtime
        self._specs: dict[Key, LastMileSpec] = {}
        self._links: dict[Key, Link] = {}
        self._locks: dict[Key, asyncio.Lock] = {}

    # -- control ----------------------------------------------------------------------------------
    def endpoint(self, flow_id: str, role: Role, name: str) -> tuple[Flow, FlowInput | FlowOutput]:
        """The flow and endpoint a key names. Raises NotFound, InvalidValue (a Flow endpoint)."""
        flow = self.runtime.manager.get_flow(flow_id)
        ep: Endpoint | None
        ep = flow.input_named(name) if role == Role.INPUT else flow.outputs.get(name)
        if ep is None:
            raise NotFound(
                "InputName" if role == Role.INPUT else "OutputName",
                f"flow {flow.name} has no {role} {name!r}",
            )
        if not listening(ep) and not dialing(ep):
            raise InvalidValue(
                "Protocol",
                f"{role} {name} is a Flow {role}: it crosses the backbone (impair the region pair instead)",
            )
        return flow, ep

    def configure(self, flow_id: str, role: Role, name: str, spec: LastMileSpec) -> None:
        """Record ``spec`` for the endpoint (applied when the flow goes online); no live change."""
        self.endpoint(flow_id, role, name)
        self._specs[(flow_id, role, name)] = spec

    async def set(self, flow_id: str, role: Role, name: str, spec: LastMileSpec) -> dict[str, Any]:
        """Impair the endpoint from now on; returns its view (with the impaired URL of a listening
        endpoint of an online flow). Raises NotFound, InvalidValue."""
        self.configure(flow_id, role, name, spec)
        await self._apply((flow_id, role, name))
        return self.row((flow_id, role, name))

    async def clear(self, flow_id: str, role: Role, name: str) -> None:
        """Back to no last-mile impairment; the endpoint's link closes (a dialing client first moves
        to the remote directly). Raises NotFound, InvalidValue."""
        self.endpoint(flow_id, role, name)
        key = (flow_id, role, name)
        if self._specs.pop(key, None) is None:
            return
        await self._apply(key)

    def impaired_url(self, flow_id: str, role: Role, name: str) -> str | None:
        """The URL with the last-mile impairment of a listening endpoint (None while offline or unset)."""
        key = (flow_id, role, name)
        link = self._links.get(key)
        try:
            _flow, ep = self.endpoint(*key)
        except (NotFound, InvalidValue):
            return None
        if link is None or not listening(ep):
            return None
        return replace_address(ep.url, link.address[0], link.port)

    def link(self, flow_id: str, role: Role, name: str) -> Link | None:
        return self._links.get((flow_id, role, name))

    def forget_missing(self) -> None:
        """Drop the specs of flows and endpoints that no longer exist (after reset or delete)."""
        for key in list(self._specs):
            try:
                self.endpoint(*key)
            except (NotFound, InvalidValue):
                self._specs.pop(key, None)

    def row(self, key: Key) -> dict[str, Any]:
        flow, ep = self.endpoint(*key)
        spec = self._specs.get(key)
        link = self._links.get(key)
        return {
            "flow_id": key[0],
            "flow": f"{flow.region.id}/{flow.name}",
            "role": str(key[1]),  # plain data, like the rest of the row (JSON, YAML)
            "name": key[2],
            "protocol": ep.protocol.value,
            "listening": listening(ep),
            **(spec or LastMileSpec()).to_dict(),
            "impaired_url": self.impaired_url(*key),
            "link": None
            if link is None
            else {"name": link.name, "address": f"{link.address[0]}:{link.port}", "stats": link.stats()},
        }

    def view(self) -> dict[str, Any]:
        """Every endpoint with a last-mile impairment (``GET /_emulator/lastmile``)."""
        self.forget_missing()
        return {"endpoints": [self.row(key) for key in self._specs]}

    # -- runtime hooks ----------------------------------------------------------------------------
    async def flow_started(self, live: _Live) -> None:
        """Open the links of the flow's listening endpoints that have a spec."""
        for key in [k for k in self._specs if k[0] == live.flow.id]:
            try:
                _flow, ep = self.endpoint(*key)
            except (NotFound, InvalidValue):
                self._specs.pop(key, None)  # the endpoint went away (or changed protocol)
                continue
            if listening(ep) and key not in self._links:
                await self._open_listening(key, live, ep)

    async def flow_stopped(self, flow_id: str) -> None:
        """Close every last-mile link of the flow (its clients are closed already)."""
        for key in [k for k in self._links if k[0] == flow_id]:
            await self._close(key)

    async def close(self) -> None:
        for key in list(self._links):
            await self._close(key)

    async def dial(self, flow: Flow, endpoint: FlowInput | FlowOutput, url: str) -> str:
        """Where a dialing endpoint's client should connect: ``url`` itself, or, with a last-mile spec,
        the same URL at a link toward the remote (started here if need be)."""
        key = (flow.id, role_of(endpoint), endpoint.name)
        spec = self._specs.get(key)
        if spec is None:
            return url
        link = self._links.get(key)
        if link is None:
            host, port = remote_address(url)
            cls = UdpLink if endpoint.family is Family.SRT else TcpLink
            # forward = region -> remote = from_region.
            forward, reverse = spec.get(Direction.FROM_REGION), spec.get(Direction.TO_REGION)
            link = await self._open(key, cls, ("127.0.0.1", 0), (host, port), forward, reverse)
        return replace_address(url, link.address[0], link.port)

    # -- internals --------------------------------------------------------------------------------
    def _name(self, key: Key) -> str:
        flow, _ep = self.endpoint(*key)
        return f"last-mile {flow.region.id}/{flow.name} {key[1]} {key[2]}"

    async def _open(
        self, key: Key, cls: type[TcpLink] | type[UdpLink], listen: tuple[str, int], target: tuple[str, int],
        forward: Impairment, reverse: Impairment,
    ) -> Link:  # fmt: skip
        name = self._name(key)
        link: Link = cls(target=target, listen=listen, impairment=forward, reverse_impairment=reverse,
                         seed=self.runtime.backbone.link_seed(name), name=name)  # fmt: skip
        await link.start()
        self._links[key] = link
        logger.info("%s on %s:%d -> %s:%d", link.name, *link.address, *target)
        return link

    async def _open_listening(self, key: Key, live: _Live, ep: Endpoint) -> Link:
        spec = self._specs[key]
        region = live.flow.region
        cls: type[TcpLink] | type[UdpLink]
        if ep.family is Family.RTMP:
            cls, target = TcpLink, self.runtime.rtmp_address(region)
        else:
            assert ep.srt_port is not None
            cls, target = UdpLink, (region.host, ep.srt_port)
        # forward = client -> region = to_region.
        return await self._open(key, cls, (region.host, 0), target, spec.get(Direction.TO_REGION),
                                spec.get(Direction.FROM_REGION))  # fmt: skip

    async def _close(self, key: Key) -> None:
        link = self._links.pop(key, None)
        if link is not None:
            await link.close()

    async def _apply(self, key: Key) -> None:
        """Bring the live state of ``key`` in line with its spec (none: no link)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            live = self.runtime.live.get(key[0])
            if live is None:
                return
            _flow, ep = self.endpoint(*key)
            spec = self._specs.get(key)
            link = self._links.get(key)
            is_listening = listening(ep)
            if spec is not None and link is not None:
                fwd, rev = (
                    (Direction.TO_REGION, Direction.FROM_REGION)
                    if is_listening
                    else (Direction.FROM_REGION, Direction.TO_REGION)
                )
                link.set_impairment(FORWARD, spec.get(fwd))
                link.set_impairment(REVERSE, spec.get(rev))
            elif is_listening:
                if spec is not None:
                    await self._open_listening(key, live, ep)
                else:
                    await self._close(key)  # its clients go with it
            elif spec is not None or link is not None:
                # A dialing endpoint moves through a new link, or back to the remote directly.
                await self.runtime.restart_dialing_client(live, ep)
                if spec is None:
                    await self._close(key)
