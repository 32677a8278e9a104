"""Routers: which online flow an RTMP publish or play on a region's server, or an SRT caller on an
endpoint's listener, reaches (the relay's StreamRouter interface)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mediaplane.relay import Hub, Peer, Refused, StreamPath, Subscription, check_cidrs, parse_cidrs

from ..model.flow import FlowInput, FlowOutput, InputProtocol, OutputProtocol
from ..model.manager import FlowManager
from ..regions import Region
from .live import LiveFlow

__all__ = ["RegionRtmpRouter", "RouterHost", "SrtEndpointRouter"]


class RouterHost(Protocol):
    """What the routers need of the runtime."""

    @property
    def backbone_app(self) -> str: ...

    @property
    def manager(self) -> FlowManager: ...

    @property
    def live(self) -> Mapping[str, LiveFlow]: ...

    def evict_stale_publisher(self, hub: Hub) -> None: ...

    def subscribe_player(
        self, live: LiveFlow, output: FlowOutput, peer: Peer, *, backbone: bool
    ) -> Subscription: ...


class RegionRtmpRouter:
    """Routes RTMP publish and play on a region's server to online flows (a StreamRouter)."""

    def __init__(self, runtime: RouterHost, region: Region) -> None:
        self.runtime = runtime
        self.region = region

    def _lookup(self, path: StreamPath) -> tuple[LiveFlow, FlowInput | FlowOutput, bool]:
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


class SrtEndpointRouter:
    """Routes callers of one SRT-Listener input or output (one port, one stream)."""

    def __init__(self, runtime: RouterHost, live: LiveFlow, endpoint: FlowInput | FlowOutput) -> None:
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
