"""What the link relays share on the event loop: the :class:`Link` interface, the delivery timer and the
timeline runner.

The selector rounds its timeout up to whole milliseconds (epoll), so :class:`DeliveryTimer` fires
``EARLY_WAKE_S`` before the deadline and the link sends anything due within ``DELIVER_AHEAD_S`` of the
wake-up with it: deliveries land within about half a millisecond of their deadline either way instead of
up to a millisecond late. One timer per queue, armed for the earliest deadline, never one per packet.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Callable
from typing import Self

from ..looptime import call_at_clock, clock
from .models import Impairment
from .schedule import BOTH, EARLY_WAKE_MS_LOOP_S, EARLY_WAKE_S, INFINITY, LinkDirection, directions
from .timeline import Timeline


class DeliveryTimer:
    """One timer for the earliest deadline (on :data:`clock`) of a queue; ``callback()`` runs when it fires
    (on uvloop possibly a little before the deadline: the callback arms again for what is not due yet)."""

    __slots__ = ("_at", "_callback", "_early", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._at = INFINITY
        self._early = EARLY_WAKE_S if isinstance(loop, asyncio.BaseEventLoop) else EARLY_WAKE_MS_LOOP_S

    def arm(self, due: float) -> None:
        """Fire (``EARLY_WAKE_S`` ahead) for ``due`` unless already armed for that time or earlier."""
        if due >= self._at:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._at = due
        self._handle = call_at_clock(self._loop, due - self._early, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._at = INFINITY
        self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = INFINITY


class TimelineRunner:
    """Applies a :class:`Timeline` to a link as time passes (one ``call_at`` per change)."""

    def __init__(self) -> None:
        self._handles: list[asyncio.TimerHandle] = []
        self.done = asyncio.Event()
        self.done.set()

    def cancel(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        self.done.set()

    def run(
        self,
        timeline: Timeline,
        bases: dict[LinkDirection, Impairment],
        apply: Callable[[LinkDirection, Impairment], None],
    ) -> None:
        """Run ``timeline`` from now over ``bases`` (direction -> impairment in force), calling
        ``apply(direction, impairment)`` at each change; replaces a running timeline."""
        self.cancel()
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.done.clear()
        last = 0.0
        for direction, base in bases.items():
            for at_s, imp in timeline.schedule(base):
                last = max(last, at_s)
                if at_s <= 0.0:
                    apply(direction, imp)
                else:
                    self._handles.append(loop.call_at(start + at_s, apply, direction, imp))
        self._handles.append(loop.call_at(start + last, self.done.set))


Address = tuple[str, int]


class LinkKind(enum.StrEnum):
    """What a link relays: an RTMP leg's TCP connection or an SRT leg's UDP datagrams (the values name
    the links and the backbone's legs)."""

    TCP = "tcp"
    UDP = "udp"


def both_directions(
    impairment: Impairment | None, reverse: Impairment | None
) -> tuple[Impairment, Impairment]:
    """A link's (forward, reverse) impairments, validated: ``reverse`` defaults to ``impairment``, which
    defaults to none. Raises :class:`ImpairmentError`."""
    forward = impairment or Impairment()
    reverse = reverse or forward
    forward.validate()
    reverse.validate()
    return forward, reverse


class Link(abc.ABC):
    """What the UDP and TCP relays offer their owner alike: ``async with`` around start and close, the
    listening port, and timelines run over the impairment in force per direction."""

    def __init__(
        self, *, kind: LinkKind, target: Address, listen: Address, timeline: Timeline | None, name: str
    ) -> None:
        """``timeline`` runs from :meth:`start`; ``name`` defaults to ``<kind>-><target host>:<port>``."""
        self.target = target
        self._listen_addr = listen
        self._timeline = timeline
        self.name = name or f"{kind}->{target[0]}:{target[1]}"
        self._timelines = TimelineRunner()

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def address(self) -> Address:
        """Where clients connect or send: the bound listening address."""

    @abc.abstractmethod
    def impairment(self, direction: LinkDirection) -> Impairment:
        """The impairment in force in ``direction`` (``forward`` or ``reverse``)."""

    @abc.abstractmethod
    def set_impairment(self, direction: LinkDirection, impairment: Impairment) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self.address[1]

    def run_timeline(self, timeline: Timeline, direction: LinkDirection = BOTH) -> asyncio.Event:
        """Run ``timeline`` from now over the impairments in force (replacing a running one).

        Returns an event set when its last change has been applied.
        """
        bases = {d: self.impairment(d) for d in directions(direction)}
        self._timelines.run(timeline, bases, self.set_impairment)
        return self._timelines.done


__all__ = [
    "Address",
    "DeliveryTimer",
    "Link",
    "LinkKind",
    "TimelineRunner",
    "both_directions",
    "call_at_clock",
    "clock",
]
