"""The input switch of a flow: forwards the preferred input hub that has a publisher into the flow hub.

A flow has a primary input and optionally a backup. The primary wins whenever it has a publisher;
otherwise the backup (failover). A switch to an input that keeps a keyframe cache subscribes afresh, so
the flow resumes at that input's newest keyframe; an input hub without a cache (a flow with one input,
or SRT, which carries MPEG-TS) is subscribed while it waits for a publisher ("standby"), so nothing
its returning publisher sends is lost. When every input loses its publisher the flow hub stays claimed
for ``hold_s``: an input that comes back within it (a reconnecting pull, a backbone reset, a publisher
restarting) resumes the players without an unpublish (ffmpeg ends playback on
NetStream.Play.UnpublishNotify).

Media is forwarded synchronously: the active input's subscription hands each unit to the flow hub
from inside the input hub's ``feed``, without a task switch, unless its input is held to a MaxBitrate
(:mod:`.shaper`) or a signal is waiting for the switch task. The task only follows publishers
(signals and presence), and paces shaped inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from .hub import DEFAULT_QUEUE_BYTES, Hub, HubClosed, HubSignal, HubUnit, Subscription
from .shaper import MaxBitrateShaper

logger = logging.getLogger(__name__)

__all__ = ["InputSwitch", "SwitchInput"]


class SwitchInput(Protocol):
    """What the switch needs of a flow input."""

    @property
    def name(self) -> str:
        """The input's name (InputName), for logs and the switch callback."""
        ...

    @property
    def hub(self) -> Hub:
        """The input hub its publisher feeds."""
        ...

    def max_bitrate_shaper(self) -> MaxBitrateShaper | None:
        """The input's MaxBitrate shaper, or None when the input is not shaped."""
        ...


InputT = TypeVar("InputT", bound=SwitchInput)


class _Forwarder(Subscription):
    """A subscription to an input hub that, while ``direct``, feeds ``target`` from inside
    :meth:`Hub.feed` instead of queueing; it queues (and wakes the switch) whenever order or the switch
    needs it: a signal is waiting, or the hub that pre-empts this input (``yields_to``) has a
    publisher again."""

    def __init__(self, hub: Hub, *, name: str, target: Hub, yields_to: Hub | None) -> None:
        super().__init__(hub, name=name, max_queue_bytes=DEFAULT_QUEUE_BYTES)
        self.target = target
        self.yields_to = yields_to
        self.direct = False

    def _append(self, unit: HubUnit) -> None:
        if self.direct and not self._queue and (self.yields_to is None or not self.yields_to.has_publisher):
            size = unit.size
            self.units_out += 1
            self.bytes_out += size
            counters = self.hub.counters
            counters.units_out += 1
            counters.bytes_out += size
            self.target.feed(unit)
            return
        super()._append(unit)


class InputSwitch(Generic[InputT]):
    """Forwards ``inputs`` (primary first; the sequence may be filled until :meth:`run` starts) into
    ``target``; see the module docstring.

    ``restart_at_keyframe``: a publisher that starts again on the active input restarts the flow hub
    (its cache, and every player at the new session's first keyframe), as RTMP needs; SRT leaves it
    off. ``on_switch(from_name, to_name)`` is called when the active input changes from one to another.
    """

    def __init__(
        self,
        target: Hub,
        inputs: Sequence[InputT],
        *,
        clock: Callable[[], float],
        hold_s: float,
        restart_at_keyframe: bool,
        on_switch: Callable[[str, str], None] | None = None,
        name: str = "",
    ) -> None:
        self.target = target
        self.inputs = inputs
        self._clock = clock
        self.hold_s = hold_s
        self.restart_at_keyframe = restart_at_keyframe
        self.on_switch = on_switch
        self.name = name
        self.active: InputT | None = None
        """The input being forwarded (also through the hold after it lost its publisher)."""
        self.switches = 0
        """Subscriptions taken over: every switch, and every new session of the active input."""

    def __repr__(self) -> str:
        active = self.active.name if self.active is not None else None
        return f"<InputSwitch {self.name!r} active={active!r} switches={self.switches}>"

    def _subscribe(self, inp: InputT, role: str) -> _Forwarder:
        primary = self.inputs[0]
        sub = _Forwarder(
            inp.hub,
            name=f"{role}:{inp.name}",
            target=self.target,
            yields_to=None if inp is primary else primary.hub,
        )
        inp.hub.add(sub)
        return sub

    async def run(self) -> None:
        """Forward until the active input's hub closes (the flow went offline) or the task is cancelled."""
        if not self.inputs:
            raise ValueError("a switch needs at least one input")
        sub: _Forwarder | None = None
        standby: dict[InputT, _Forwarder] = {}
        primary = self.inputs[0]
        try:
            while True:
                chosen = next((i for i in self.inputs if i.hub.has_publisher), None)
                if chosen is None:
                    if sub is not None:
                        sub.close()
                        sub = None
                    for i in self.inputs:
                        if not i.hub.cache_gop and i not in standby:
                            standby[i] = self._subscribe(i, "standby")
                    if self.active is not None:
                        if await _first_of(
                            [i.hub.wait_publisher() for i in self.inputs], within_s=self.hold_s
                        ):
                            continue  # an input is back within the hold
                        logger.info(
                            "[%s] no input for %.1f s: players get an unpublish", self.name, self.hold_s
                        )
                        self.target.release(self)
                        self.active = None
                    await _first_of([i.hub.wait_publisher() for i in self.inputs])
                    continue
                if chosen is not self.active or sub is None:
                    if sub is not None:
                        sub.close()
                    if self.active is not None and self.active is not chosen and self.on_switch is not None:
                        self.on_switch(self.active.name, chosen.name)
                    if chosen is not self.active:  # not again when the same input reconnects
                        logger.info("[%s] input %s is active", self.name, chosen.name)
                    self.active = chosen
                    self.switches += 1
                    # The flow hub stays claimed from one input (or session) to the next; claiming
                    # again restarts its cache and moves every player to the new input's first keyframe.
                    self.target.claim(self)
                    sub = standby.pop(chosen, None)
                    if sub is not None:
                        sub.drop_leading(HubSignal.PUBLISHED)  # the claim above stands for it
                    for waiting in standby.values():
                        waiting.close()
                    standby.clear()
                    if sub is None:
                        sub = self._subscribe(chosen, "switch")
                shaper = chosen.max_bitrate_shaper()
                sub.direct = shaper is None
                item: HubUnit | HubSignal | None = await sub.get()
                while item is not None:
                    if isinstance(item, HubUnit):
                        if shaper is not None and (pause := shaper.delay(item.size, self._clock())) > 0:
                            await asyncio.sleep(pause)
                        self.target.feed(item)
                    elif item is HubSignal.CLOSED:
                        return
                    elif item is HubSignal.PUBLISHED:
                        # A new session of the active input (its hub drops to the next keyframe
                        # itself when it keeps a cache): players restart at its first keyframe.
                        if self.restart_at_keyframe:
                            self.switches += 1
                            self.target.claim(self)
                    else:
                        # The input lost its publisher. A hub without a cache stays subscribed, so a
                        # publisher that returns loses nothing; the others are subscribed afresh.
                        sub.direct = False
                        if sub.hub.cache_gop:
                            sub.close()
                        else:
                            standby[chosen] = sub
                        sub = None
                        break
                    if chosen is not primary and primary.hub.has_publisher:
                        break  # the primary is back
                    item = sub.get_nowait()
        finally:
            if sub is not None:
                sub.close()
            for waiting in standby.values():
                waiting.close()


async def _first_of(waits: list[Any], within_s: float | None = None) -> bool:
    """Wait until one of ``waits`` completes (True) or ``within_s`` passes (False); cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, HubClosed):
                await t
