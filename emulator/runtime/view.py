"""RuntimeView: the one read of live state, for ``GET /_emulator/state``, ``GET /metrics`` and the CLI.

It reads the runtime's online flows, region RTMP servers and backbone links into plain readings, so no
reader walks the live flows by hand. Backbone legs (the paired flows' own traffic) are counted apart,
never as players.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mediaplane.relay import StreamPath
from mediaplane.rtmp import RtmpServer
from mediaplane.srt import SrtCaller

from ..model.flow import Flow, FlowInput, FlowOutput, InputStatus, OutputProtocol
from .backbone import Backbone
from .lastmile import LastMile
from .live import Client, LiveFlow, LiveOutput

__all__ = ["FlowReading", "InputReading", "OutputReading", "RuntimeView", "SrtReading", "ViewSource"]

SrtReading = tuple[str, Any]
"""(peer ``host:port``, libsrt statistics) of one SRT connection."""


class ViewSource(Protocol):
    """What the view reads of the runtime."""

    @property
    def rtmp_servers(self) -> Mapping[str, RtmpServer]: ...

    @property
    def live(self) -> Mapping[str, LiveFlow]: ...

    @property
    def backbone(self) -> Backbone: ...

    @property
    def lastmile(self) -> LastMile[LiveFlow]: ...

    def is_backbone_path(self, path: StreamPath | None) -> bool: ...

    def input_status(self, flow: Flow, input: FlowInput) -> str: ...


@dataclass(frozen=True, slots=True)
class InputReading:
    config: FlowInput
    hub_id: int
    """Identifies the input's hub while it lives (a bitrate's sample key)."""
    bytes_in: int
    publisher: bool
    connected: bool
    """Media reached the input within INPUT_ACTIVE_WINDOW_S (InputStatus ``connected``)."""
    client_connected: bool | None
    srt_callers: int | None
    max_bitrate_wait_s: float
    srt: tuple[SrtReading, ...]


@dataclass(frozen=True, slots=True)
class OutputReading:
    config: FlowOutput
    players: int
    """Clients playing the output (backbone legs not counted)."""
    backbone_legs: int
    plays: bool
    """Whether players connect to this output (a pull output or an SRT listener)."""
    client_connected: bool | None
    srt_callers: int | None
    """Callers of an SRT-Listener output, backbone legs not counted (None: no listener)."""
    srt: tuple[SrtReading, ...]


@dataclass(frozen=True, slots=True)
class FlowReading:
    flow: Flow
    active_input: str | None
    units_in: int
    bytes_in: int
    bytes_out: int
    inputs: tuple[InputReading, ...]
    outputs: dict[str, OutputReading]

    @property
    def players(self) -> int:
        return sum(o.players for o in self.outputs.values())


def _srt_readings(sessions: Iterable[Any], client: Client | None) -> tuple[SrtReading, ...]:
    found: list[SrtReading] = [(f"{s.peer[0]}:{s.peer[1]}", s.stats) for s in sessions]
    if isinstance(client, SrtCaller) and client.connected:
        found.append((f"{client.host}:{client.port}", client.stats))
    return tuple(found)


class RuntimeView:
    """Readings of the runtime's live state, taken when asked (nothing is cached)."""

    def __init__(self, source: ViewSource) -> None:
        self.source = source

    def flows(self) -> list[FlowReading]:
        """Every online flow."""
        return [self._flow(live) for live in self.source.live.values()]

    def flow(self, flow_id: str) -> FlowReading | None:
        live = self.source.live.get(flow_id)
        return self._flow(live) if live is not None else None

    def _flow(self, live: LiveFlow) -> FlowReading:
        c = live.hub.counters
        return FlowReading(
            flow=live.flow,
            active_input=live.active.config.name if live.active else None,
            units_in=c.units_in,
            bytes_in=c.bytes_in,
            bytes_out=c.bytes_out,
            inputs=tuple(
                InputReading(
                    config=li.config,
                    hub_id=id(li.hub),
                    bytes_in=li.hub.counters.bytes_in,
                    publisher=li.hub.has_publisher,
                    connected=self.source.input_status(live.flow, li.config) == InputStatus.CONNECTED,
                    client_connected=getattr(li.client, "connected", None),
                    srt_callers=len(li.listener.connections) if li.listener else None,
                    max_bitrate_wait_s=li.shaper.delayed_s if li.shaper is not None else 0.0,
                    srt=_srt_readings(li.listener.connections if li.listener else [], li.client),
                )
                for li in live.inputs
            ),
            outputs={name: self._output(lo) for name, lo in live.outputs.items()},
        )

    def _output(self, lo: LiveOutput) -> OutputReading:
        listener = lo.listener
        return OutputReading(
            config=lo.config,
            players=len(lo.live_players()),
            backbone_legs=len(lo.live_backbone_legs()),
            plays=listener is not None or lo.config.protocol is OutputProtocol.RTMP_PULL,
            client_connected=getattr(lo.client, "connected", None),
            srt_callers=(
                sum(1 for s in listener.connections if not self.source.is_backbone_path(s.path))
                if listener is not None
                else None
            ),
            srt=_srt_readings(listener.connections if listener else [], lo.client),
        )

    def snapshot(self) -> dict[str, Any]:
        """Live sessions, hubs and links as JSON, for ``GET /_emulator/state``."""
        regions = {
            rid: {
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
            for rid, server in self.source.rtmp_servers.items()
        }
        flows = {
            r.flow.id: {
                "name": r.flow.name,
                "active_input": r.active_input,
                "units_in": r.units_in,
                "bytes_in": r.bytes_in,
                "bytes_out": r.bytes_out,
                "inputs": {
                    i.config.name: {
                        "bytes_in": i.bytes_in,
                        "publisher": i.publisher,
                        "client_connected": i.client_connected,
                        "srt_callers": i.srt_callers,
                    }
                    for i in r.inputs
                },
                "outputs": {
                    name: {
                        "protocol": o.config.protocol.value,
                        "family": o.config.family.value,
                        "players": o.players,
                        "backbone_legs": o.backbone_legs,
                        "client_connected": o.client_connected,
                        "srt_callers": o.srt_callers,
                    }
                    for name, o in r.outputs.items()
                },
            }
            for r in self.flows()
        }
        links = [
            {"from": src, "to": dst, "name": link.name, "stats": link.stats()}
            for src, dst, link in self.source.backbone.links()
        ]
        return {
            "regions": regions,
            "live_flows": flows,
            "links": links,
            "last_mile": self.source.lastmile.view(),
        }
