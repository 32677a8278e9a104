"""The dialing clients of live endpoints: RTMP pullers and pushers, SRT callers, and the backbone legs
of Flow inputs and outputs (a client through a :class:`~emulator.runtime.backbone.Backbone` link to the
paired flow's listening endpoint)."""

from __future__ import annotations

from typing import Protocol

from mediaplane.netem.link import TcpLink
from mediaplane.relay import Hub
from mediaplane.rtmp import RtmpClientConfig, RtmpPuller, RtmpPusher
from mediaplane.srt import SrtCaller, SrtConfig, SrtDirection, StreamMode, parse_srt_url

from ..errors import FlowStartError
from ..model.flow import Flow, FlowInput, FlowOutput, InputProtocol, OutputProtocol
from ..model.manager import FlowManager
from ..regions import Region
from .backbone import Backbone, Link, LinkKind
from .lastmile import LastMile
from .live import Client, LiveFlow, LiveInput, LiveOutput

__all__ = ["ClientHost", "Clients", "srt_config"]


def srt_config(latency: int | None, passphrase: str, pbkeylen: int, streamid: str = "") -> SrtConfig:
    """The SRT settings of an endpoint (the API's defaults where it left them out)."""
    return SrtConfig(
        latency_ms=latency if latency is not None else 120,
        passphrase=passphrase,
        pbkeylen=pbkeylen if pbkeylen in (16, 24, 32) else 16,
        streamid=streamid,
    )


class ClientHost(Protocol):
    """What :class:`Clients` needs of the runtime."""

    @property
    def manager(self) -> FlowManager: ...

    @property
    def backbone(self) -> Backbone: ...

    @property
    def backbone_app(self) -> str: ...

    @property
    def lastmile(self) -> LastMile[LiveFlow]: ...

    @property
    def rtmp_client_config(self) -> RtmpClientConfig | None: ...

    def rtmp_address(self, region: Region) -> tuple[str, int]: ...


class Clients:
    """Makes the (not yet started) client of a dialing input or output; Flow legs open their backbone
    link here and keep it on the live input or output."""

    def __init__(self, host: ClientHost) -> None:
        self.host = host

    def srt_caller(
        self, url: str, endpoint: FlowInput | FlowOutput, hub: Hub, direction: SrtDirection, name: str
    ) -> SrtCaller:
        """A reconnecting caller to an SRT-Caller endpoint's URL; the URL's query fills what the API left
        empty (passphrase, streamid)."""
        host, port, url_cfg, _mode = parse_srt_url(url)
        config = srt_config(
            endpoint.srt_latency,
            endpoint.srt_passphrase or url_cfg.passphrase,
            endpoint.srt_pbkeylen,
            url_cfg.streamid,
        )
        return SrtCaller(host, port, config=config, hub=hub, direction=direction, reconnect=True,
                         max_backoff_s=5.0, name=name,
                         end_on_unpublish=True, claim_on_media=True)  # fmt: skip

    def backbone_srt_caller(
        self,
        link: Link,
        far: FlowInput | FlowOutput,
        near_latency: int | None,
        hub: Hub,
        direction: SrtDirection,
        name: str,
    ) -> SrtCaller:
        """The caller of a Flow leg: through ``link`` to the paired flow's SRT-Listener ``far``, with its
        passphrase and the larger latency of both ends."""
        mode = StreamMode.PUBLISH if direction is SrtDirection.PUBLISH else StreamMode.REQUEST
        config = srt_config(
            max(near_latency or 0, far.srt_latency or 0) or None,
            far.srt_passphrase,
            far.srt_pbkeylen,
            streamid=f"#!::r={self.host.backbone_app},m={mode}",
        )
        return SrtCaller(link.address[0], link.port, config=config, hub=hub, direction=direction,
                         reconnect=True, max_backoff_s=2.0, name=name,
                         end_on_unpublish=True, claim_on_media=True)  # fmt: skip

    async def input_client(self, live: LiveFlow, li: LiveInput) -> Client:
        """The client of an RTMP-PULL / SRT-Caller input (through its last-mile link, if any)."""
        cfg = li.config
        url = await self.host.lastmile.dial(live.flow, cfg, cfg.from_url)
        if cfg.protocol is InputProtocol.RTMP_PULL:
            return RtmpPuller(url, li.hub, config=self.host.rtmp_client_config)
        return self.srt_caller(url, cfg, li.hub, SrtDirection.PLAY, f"{live.flow.name}/{cfg.name}")

    async def flow_input_client(self, live: LiveFlow, li: LiveInput) -> Client:
        """A Flow input pulls from the paired flow's RTMP-PULL / SRT-Listener output over the backbone."""
        host = self.host
        cfg = li.config
        flow = live.flow
        pair = host.manager.get_flow(cfg.pair_flow_id)
        out = pair.outputs.get(cfg.pair_output_name)
        if out is None:
            raise FlowStartError(f"PairOutputName {cfg.pair_output_name!r} no longer exists in {pair.name}")
        name = f"backbone {pair.region.id}/{pair.name}/{out.name} -> {flow.region.id}/{flow.name}"
        rtmp = out.protocol is OutputProtocol.RTMP_PULL
        return await self._backbone_leg(li, flow, pair, out, rtmp, li.hub, SrtDirection.PLAY, name)

    async def output_client(self, live: LiveFlow, lo: LiveOutput) -> Client:
        """The client of an RTMP-PUSH / SRT-Caller output, or of a Flow output (which pushes into the
        paired flow's RTMP-PUSH / SRT-Listener input over the backbone)."""
        host = self.host
        cfg = lo.config
        flow = live.flow
        if cfg.protocol is OutputProtocol.RTMP_PUSH:
            url = await host.lastmile.dial(flow, cfg, cfg.to_url)
            return RtmpPusher(url, live.hub, config=host.rtmp_client_config)
        if cfg.protocol is OutputProtocol.SRT_CALLER:
            url = await host.lastmile.dial(flow, cfg, cfg.to_url)
            return self.srt_caller(url, cfg, live.hub, SrtDirection.PUBLISH, f"{flow.name}/{cfg.name}")
        pair = host.manager.get_flow(cfg.pair_flow_id)
        inp = pair.input_named(cfg.pair_input_name)
        if inp is None:
            raise FlowStartError(f"PairInputName {cfg.pair_input_name!r} no longer exists in {pair.name}")
        name = f"backbone {flow.region.id}/{flow.name}/{cfg.name} -> {pair.region.id}/{pair.name}/{inp.name}"
        rtmp = inp.protocol is InputProtocol.RTMP_PUSH
        return await self._backbone_leg(lo, flow, pair, inp, rtmp, live.hub, SrtDirection.PUBLISH, name)

    async def _backbone_leg(
        self,
        end: LiveInput | LiveOutput,
        flow: Flow,
        pair: Flow,
        far: FlowInput | FlowOutput,
        rtmp: bool,
        hub: Hub,
        direction: SrtDirection,
        name: str,
    ) -> Client:
        """The client of a Flow input (``direction`` ``PLAY``) or output (``PUBLISH``) of ``flow``: a
        backbone link to the paired flow's endpoint ``far`` (its region's RTMP server when ``rtmp``, else
        its SRT listener), kept on ``end``, and the puller, pusher or caller that dials through it."""
        host = self.host
        if rtmp:
            address = host.rtmp_address(pair.region)
            end.link = link = await host.backbone.open_link(
                LinkKind.TCP, flow.region, pair.region, address, name
            )
            url = f"rtmp://{link.address[0]}:{link.port}/{host.backbone_app}/{far.stream_key}"
            if direction is SrtDirection.PUBLISH:
                return RtmpPusher(url, hub, config=host.rtmp_client_config)
            # The puller is our own code at both ends of the leg: it dials the link in-process, so the
            # stream crosses one socket (link -> far server) instead of two, and the link delivers on a grid
            # (issue 9: together a quarter of the RTMP chain's CPU at 4 chains). Impairments, counters and
            # outages are the link's.
            assert isinstance(link, TcpLink)
            return RtmpPuller(url, hub, config=host.rtmp_client_config, connector=link.connect_local)
        assert far.srt_port is not None
        target = (pair.region.host, far.srt_port)
        end.link = link = await host.backbone.open_link(LinkKind.UDP, flow.region, pair.region, target, name)
        return self.backbone_srt_caller(link, far, end.config.srt_latency, hub, direction, name)
