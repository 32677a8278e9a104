"""One online flow as the runtime holds it: its hubs, the failover switch, and per input and output the
clients, listeners and links that are live."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mediaplane.relay import Hub, HubUnit, Subscription
from mediaplane.relay.failover import InputSwitch
from mediaplane.relay.shaper import MaxBitrateShaper
from mediaplane.rtmp import MediaMessage, RtmpPuller, RtmpPusher
from mediaplane.srt import SrtCaller, SrtListener

from ..events import EventBus, failover_switched, flow_hub
from ..model.flow import DEFAULT_MAX_BITRATE, Family, Flow, FlowInput, FlowOutput, InputProtocol
from .backbone import Link

__all__ = [
    "INPUT_ACTIVE_WINDOW_S",
    "INPUT_HOLD_S",
    "STALE_PUBLISHER_S",
    "Client",
    "LiveFlow",
    "LiveInput",
    "LiveOutput",
    "cancel_and_wait",
    "same_media",
]

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


@dataclass(eq=False)
class LiveInput:
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
class LiveOutput:
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


class LiveFlow:
    """One online flow: hubs, the failover switch (:class:`~mediaplane.relay.failover.InputSwitch`),
    clients, listeners and links."""

    def __init__(
        self,
        flow: Flow,
        clock: Callable[[], float],
        hold_s: float = 3.0,
        events: EventBus | None = None,
        online: Mapping[str, LiveFlow] | None = None,
    ) -> None:
        self.flow = flow
        self.events = events
        self.online = online
        """The runtime's online flows by FlowId: where a Flow input finds the hub it shares from."""
        self._clock = clock
        self.hold_s = hold_s
        self.rtmp = flow.family is Family.RTMP
        self.hub = flow_hub(f"{flow.region.id}/{flow.name}", cache_gop=self.rtmp, clock=clock)
        self.inputs: list[LiveInput] = []
        self.outputs: dict[str, LiveOutput] = {}
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
    def active(self) -> LiveInput | None:
        """The input being forwarded into the flow hub."""
        return self.switch.active

    @property
    def switches(self) -> int:
        return self.switch.switches

    def _on_switch(self, from_input: str, to_input: str) -> None:
        failover_switched(self.events, self.flow, from_input, to_input)

    def input_for(self, config: FlowInput) -> LiveInput | None:
        return next((i for i in self.inputs if i.config is config), None)

    async def run_switch(self) -> None:
        """Forward the preferred input that has a publisher into the flow hub (failover)."""
        self.share_paired_inputs()
        await self.switch.run()

    def share_paired_inputs(self) -> None:
        """An RTMP Flow input receives over the backbone what its paired flow's hub holds: its hub
        passes on the paired hub's units instead of the copies, so a chain caches each GOP once."""
        if not self.rtmp or self.online is None:
            return
        for li in self.inputs:
            if li.config.protocol is InputProtocol.FLOW and li.config.pair_flow_id:
                li.hub.share_from(functools.partial(self._online_hub, li.config.pair_flow_id), same_media)

    def _online_hub(self, flow_id: str) -> Hub | None:
        live = self.online.get(flow_id) if self.online is not None else None
        return live.hub if live is not None else None


def same_media(a: HubUnit, b: HubUnit) -> bool:
    """Whether two RTMP units (of equal kind, timestamp and size) carry the same message."""
    x, y = a.payload, b.payload
    return (
        isinstance(x, MediaMessage)
        and isinstance(y, MediaMessage)
        and x.type_id == y.type_id
        and x.timestamp == y.timestamp
        and x.payload == y.payload
    )


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` until it has ended (a cancellation can be swallowed on Python 3.11, gh-86296)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("task %s ended with %r", task.get_name(), task.exception())
