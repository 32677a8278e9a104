"""What the link relays share, sans-IO: directions, counters, seeded generators and the delivery queue.

:class:`DeliveryQueue` holds what a link will send, each entry keyed by its send time. A link whose
send times arrive in order (a constant delay, with or without a bandwidth cap: the backbone's default)
appends to a FIFO and pops from its head, O(1) each; only an entry due before the FIFO's tail (jitter,
``reorder_pct``, a delay that shrank at run time) goes to a heap, and the two are merged on the way out.
So the heap costs only what actually reorders. FIFO entries with equal times leave in arrival order;
a heap entry due at the same time as the FIFO's head leaves after it.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .models import Impairment, ImpairmentError

EARLY_WAKE_S = 0.0005
"""How long before a deadline the delivery timer is set (the selector wakes up to 1 ms late)."""
EARLY_WAKE_MS_LOOP_S = 0.001
"""The same on a loop that counts timers in whole milliseconds from a cached time (uvloop): its timer
fires up to about 1 ms after the millisecond it was set for (see ``call_at_clock``)."""
DELIVER_AHEAD_S = 0.0005
"""Deliveries due within this long of a timer's wake-up go out with that batch."""


class LinkDirection(enum.StrEnum):
    """A direction of a link relay, or both (the values are the admin API's and the stats' keys)."""

    FORWARD = "forward"
    """Client -> target."""
    REVERSE = "reverse"
    """Target -> client."""
    BOTH = "both"
    """Selects FORWARD and REVERSE (never a key of per-direction state)."""


FORWARD = LinkDirection.FORWARD
REVERSE = LinkDirection.REVERSE
BOTH = LinkDirection.BOTH
DIRECTIONS = (FORWARD, REVERSE)


def directions(direction: LinkDirection) -> tuple[LinkDirection, ...]:
    """``forward``, ``reverse`` or ``both`` as the directions it names (a plain string is accepted);
    raises :class:`ImpairmentError`."""
    try:
        direction = LinkDirection(direction)
    except ValueError:
        raise ImpairmentError(f"direction must be forward, reverse or both, got {direction!r}") from None
    return DIRECTIONS if direction is BOTH else (direction,)


def link_rng(seed: int | None, impairment: Impairment, label: str) -> random.Random:
    """The generator of one model of a link: derived from ``seed`` (else the impairment's seed) and
    ``label``, so each direction (and each TCP connection) draws its own repeatable sequence."""
    if seed is None:
        seed = impairment.seed
    if seed is None:
        return random.Random()
    return random.Random(f"{seed}:{label}")


@dataclass(slots=True)
class DirectionCounters:
    """Traffic through one direction of a link."""

    packets_in: int = 0
    """Datagrams (UDP) or reads (TCP) received."""
    bytes_in: int = 0
    dropped: int = 0
    """Datagrams the model dropped (loss, queue, outage) or the socket refused (UDP)."""
    delivered: int = 0
    """Datagrams (UDP) or writes (TCP) sent on."""
    bytes_delivered: int = 0
    queued: int = 0
    """Deliveries waiting for their time right now."""
    queued_bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "packets_in": self.packets_in,
            "bytes_in": self.bytes_in,
            "dropped": self.dropped,
            "delivered": self.delivered,
            "bytes_delivered": self.bytes_delivered,
            "queued": self.queued,
            "queued_bytes": self.queued_bytes,
        }


E = TypeVar("E", bound=tuple[Any, ...])
"""A queue entry: a tuple whose first element is its send time (seconds, on the caller's clock)."""

INFINITY = float("inf")


class DeliveryQueue(Generic[E]):
    """Entries ordered by send time (``entry[0]``): a FIFO for in-order times, a heap for the rest."""

    __slots__ = ("_fifo", "_heap", "_seq")

    def __init__(self) -> None:
        self._fifo: deque[E] = deque()
        self._heap: list[tuple[float, int, E]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._fifo) + len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._fifo) or bool(self._heap)

    def __repr__(self) -> str:
        return f"<DeliveryQueue fifo={len(self._fifo)} heap={len(self._heap)} next={self.next_due()}>"

    @property
    def reordered(self) -> int:
        """Entries waiting in the heap (due before an entry that arrived earlier)."""
        return len(self._heap)

    def push(self, entry: E) -> None:
        """Queue ``entry`` for its time ``entry[0]``."""
        fifo = self._fifo
        if not fifo or entry[0] >= fifo[-1][0]:
            fifo.append(entry)
        else:
            heapq.heappush(self._heap, (entry[0], next(self._seq), entry))

    def next_due(self) -> float:
        """The earliest send time queued (infinity when empty)."""
        fifo, heap = self._fifo, self._heap
        if heap:
            if fifo and fifo[0][0] <= heap[0][0]:
                return float(fifo[0][0])
            return heap[0][0]
        return float(fifo[0][0]) if fifo else INFINITY

    def pop_due(self, limit: float) -> list[E]:
        """Remove and return, earliest first, every entry due at or before ``limit``."""
        fifo, heap = self._fifo, self._heap
        out: list[E] = []
        if not heap:  # the constant-delay case: a slice of the FIFO's head
            while fifo and fifo[0][0] <= limit:
                out.append(fifo.popleft())
            return out
        while True:
            if heap and heap[0][0] <= limit and not (fifo and fifo[0][0] <= heap[0][0]):
                out.append(heapq.heappop(heap)[2])
            elif fifo and fifo[0][0] <= limit:
                out.append(fifo.popleft())
            else:
                return out

    def clear(self) -> None:
        self._fifo.clear()
        self._heap.clear()


__all__ = [
    "BOTH",
    "DELIVER_AHEAD_S",
    "DIRECTIONS",
    "EARLY_WAKE_MS_LOOP_S",
    "EARLY_WAKE_S",
    "FORWARD",
    "REVERSE",
    "DeliveryQueue",
    "DirectionCounters",
    "LinkDirection",
    "directions",
    "link_rng",
]
