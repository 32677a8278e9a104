"""The stream hub: one publisher feeds it, any number of subscribers drain it.

A hub is protocol-neutral. It carries :class:`HubUnit` objects whose ``payload`` is whatever the
protocol adapter put there (for RTMP a message that caches its chunked bytes, for SRT one MPEG-TS
payload of up to 1316 bytes), so the same bytes go to every subscriber.

What the hub adds on top of plain fan-out:

* a late-joiner cache: the latest metadata, audio and video configuration units, and every unit since
  the last keyframe, capped in bytes (past the cap the cache is cleared until the next keyframe);
* a bounded queue per subscriber: a subscriber that falls more than ``max_queue_bytes`` behind loses
  its backlog and skips to the next keyframe instead of growing memory;
* publisher presence: when the publisher leaves, subscribers get :attr:`HubSignal.UNPUBLISHED`; when
  one comes back (within the subscriber's own grace period, which the adapter enforces) they get
  :attr:`HubSignal.PUBLISHED` and the stream resumes;
* counters from real traffic (units and bytes in and out, time of the last unit) for InputStatus and
  metrics;
* sharing (:meth:`Hub.share_from`): a hub fed a copy of what another hub of the same loop carries (a
  flow pulling a paired flow's output over the backbone) passes on that hub's cached unit in place of
  an identical one it was fed, so the two GOP caches hold one copy of the bytes.

The hub runs inside one asyncio loop and is not thread-safe; it never awaits while fanning out.
Time comes from an injected ``clock`` so the hub stays testable without a loop.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
"""Late-joiner cache cap: enough for several seconds of a high-bitrate GOP."""

DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024
"""Per-subscriber backlog before it skips to the next keyframe."""

SHARE_SCAN = 64
"""Units of the source's GOP cache compared, from the last match on, before a fed unit is kept as
is: the copy trails its source by one link delay, so its twin is normally the next one."""


class UnitKind(enum.IntEnum):
    """What a unit is, as far as the cache and keyframe skipping care."""

    METADATA = 1
    """Stream metadata (RTMP ``onMetaData``); the latest one is kept for late joiners."""
    AUDIO_CONFIG = 2
    """Audio sequence header (AAC AudioSpecificConfig); the latest one is kept."""
    VIDEO_CONFIG = 3
    """Video sequence header (AVC/HEVC decoder configuration); the latest one is kept."""
    KEYFRAME = 4
    """A random access point: the cache restarts here, a skipping subscriber resumes here."""
    FRAME = 5
    """Any other media unit (inter frame, audio frame, MPEG-TS payload)."""
    DATA = 6
    """A data message forwarded live but never cached (``onCuePoint`` and the like)."""


class HubSignal(enum.Enum):
    """Out-of-band notices delivered to subscribers in stream order."""

    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    CLOSED = "closed"


class HubUnit:
    """One unit of media as it travels through a hub.

    A plain slots class, not a frozen dataclass: one is built per message on the hot path and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) costs twice as much. Treat it as
    immutable: the same object is queued to every subscriber and kept in the late-joiner cache.
    """

    __slots__ = ("kind", "payload", "size", "timestamp_ms")

    kind: UnitKind
    timestamp_ms: int
    """Presentation-independent transport timestamp (RTMP message time, or arrival time for SRT)."""
    size: int
    """Bytes this unit weighs in caches and queues."""
    payload: Any
    """The protocol's own object; never copied by the hub."""

    def __init__(self, *, kind: UnitKind, timestamp_ms: int, size: int, payload: Any) -> None:
        self.kind = kind
        self.timestamp_ms = timestamp_ms
        self.size = size
        self.payload = payload

    def __repr__(self) -> str:
        return f"HubUnit(kind={self.kind!r}, timestamp_ms={self.timestamp_ms}, size={self.size})"


class PublisherBusy(Exception):
    """A second publisher tried to claim a hub that already has one."""


class HubClosed(Exception):
    """The hub was closed (its flow went offline)."""


@dataclass(slots=True)
class HubCounters:
    units_in: int = 0
    bytes_in: int = 0
    units_out: int = 0
    bytes_out: int = 0
    units_dropped: int = 0
    """Units a subscriber lost because it fell behind its queue cap."""
    last_unit_at: float | None = None
    """Clock time of the last unit the publisher fed, for "is media arriving right now"."""


class Subscription:
    """A subscriber's view of a hub: an async iterator of units and signals.

    ``forbidden`` stops delivery without disconnecting (the API's ForbidMediaConnectFlowOutput); when
    lifted, the subscriber resumes at the next keyframe so the player gets a decodable stream.
    """

    def __init__(self, hub: Hub, *, name: str, max_queue_bytes: int) -> None:
        self.hub = hub
        self.name = name
        self.max_queue_bytes = max_queue_bytes
        self._queue: collections.deque[HubUnit | HubSignal] = collections.deque()
        self._queued_bytes = 0
        self._waiter: asyncio.Future[None] | None = None
        self._listener: Callable[[], None] | None = None
        self._skip_to_keyframe = False
        self._forbidden = False
        self.closed = False
        self.units_out = 0
        self.bytes_out = 0
        self.units_dropped = 0
        self.skips = 0

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} on {self.hub.name!r} queued={self._queued_bytes}B>"

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    @property
    def forbidden(self) -> bool:
        return self._forbidden

    @forbidden.setter
    def forbidden(self, value: bool) -> None:
        if value and not self._forbidden:
            self._drop_backlog()
        if not value and self._forbidden:
            self._skip_to_keyframe = True
        self._forbidden = value

    # -- fed by the hub -------------------------------------------------------------------------
    def _offer(self, unit: HubUnit) -> None:
        if self.closed or self._forbidden:
            return
        if self._skip_to_keyframe:
            if unit.kind is not UnitKind.KEYFRAME:
                if unit.kind in (UnitKind.METADATA, UnitKind.AUDIO_CONFIG, UnitKind.VIDEO_CONFIG):
                    self._append(unit)
                else:
                    self.units_dropped += 1
                return
            self._skip_to_keyframe = False
        if self._queued_bytes + unit.size > self.max_queue_bytes and self._queue:
            # Too far behind: drop the backlog and resume at the next keyframe, with fresh configs.
            self._drop_backlog()
            self.skips += 1
            logger.info("%r fell behind; skipping to the next keyframe", self)
            self._skip_to_keyframe = True
            for cfg in self.hub.config_units():
                self._append(cfg)
            if unit.kind is not UnitKind.KEYFRAME:
                self.units_dropped += 1
                return
            self._skip_to_keyframe = False
        self._append(unit)

    def _signal(self, signal: HubSignal) -> None:
        if self.closed:
            return
        self._queue.append(signal)
        self._wake()

    def _append(self, unit: HubUnit) -> None:
        self._queue.append(unit)
        self._queued_bytes += unit.size
        self._wake()

    def _drop_backlog(self) -> None:
        kept: collections.deque[HubUnit | HubSignal] = collections.deque()
        for item in self._queue:
            if isinstance(item, HubSignal):
                kept.append(item)
            else:
                self.units_dropped += 1
        self._queue = kept
        self._queued_bytes = 0

    def _wake(self) -> None:
        if self._listener is not None:
            self._listener()
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener()`` whenever an item is queued (and once now if some are), instead of waking
        :meth:`get`: an adapter that drains with :meth:`get_nowait` from a callback it schedules needs
        no task per subscriber. None: back to :meth:`get`."""
        self._listener = listener
        if listener is not None and self._queue:
            listener()

    # -- drained by the adapter -----------------------------------------------------------------
    def get_nowait(self) -> HubUnit | HubSignal | None:
        """The next queued item, or None when the queue is empty."""
        if not self._queue:
            return None
        item = self._queue.popleft()
        if isinstance(item, HubUnit):
            self._queued_bytes -= item.size
            self.units_out += 1
            self.bytes_out += item.size
            self.hub.counters.units_out += 1
            self.hub.counters.bytes_out += item.size
        return item

    async def get(self) -> HubUnit | HubSignal:
        """Wait for the next unit or signal. After :attr:`HubSignal.CLOSED` it keeps returning CLOSED."""
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self.closed:
                return HubSignal.CLOSED
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> HubUnit | HubSignal:
        item = await self.get()
        if item is HubSignal.CLOSED and self.closed and not self._queue:
            raise StopAsyncIteration
        return item

    def drop_leading(self, signal: HubSignal) -> None:
        """Discard ``signal`` if it is the next queued item (a standby subscription taken over right
        after its publisher claimed the hub starts with a PUBLISHED its new owner already acted on)."""
        if self._queue and self._queue[0] is signal:
            self._queue.popleft()

    def close(self) -> None:
        """Leave the hub; pending items are discarded."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._queued_bytes = 0
        self.hub._remove(self)
        self._wake()
        self._listener = None


_SHARED_KINDS = frozenset((UnitKind.KEYFRAME, UnitKind.FRAME))
"""What a hub takes from its share source: the GOP's units (the configs are a few bytes)."""


@dataclass(slots=True)
class _Cache:
    metadata: HubUnit | None = None
    audio_config: HubUnit | None = None
    video_config: HubUnit | None = None
    gop: list[HubUnit] = field(default_factory=list)
    gop_bytes: int = 0
    gop_valid: bool = False


Same = Callable[[HubUnit, HubUnit], bool]
"""Whether two units of the same kind, timestamp and size carry the same bytes (protocol-specific)."""


class Hub:
    """A stream hub; see the module docstring.

    ``cache_gop`` turns the keyframe cache on (RTMP); SRT hubs carry MPEG-TS and leave it off.
    """

    def __init__(
        self,
        name: str,
        *,
        cache_gop: bool = True,
        max_cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.name = name
        self.cache_gop = cache_gop
        self.max_cache_bytes = max_cache_bytes
        self._clock = clock
        self._subscriptions: list[Subscription] = []
        self._publisher: object | None = None
        self._cache = _Cache()
        self._gop_serial = 0
        """Bumped whenever the GOP cache restarts, so a hub sharing from this one rescans it."""
        self.counters = HubCounters()
        self.closed = False
        self._publisher_waiters: list[asyncio.Future[None]] = []
        self._share_source: Callable[[], Hub | None] | None = None
        self._share_same: Same | None = None
        self._share_at: tuple[int, int] = (0, -1)
        """(id of the source hub, its GOP serial) the position below is in."""
        self._share_pos = 0
        """Index in the source's GOP cache after the last unit taken from it."""
        self.units_shared = 0
        """Units passed on from the share source in place of the identical copy fed here."""

    def __repr__(self) -> str:
        publisher = self._publisher is not None
        return f"<Hub {self.name!r} publisher={publisher} subscribers={len(self._subscriptions)}>"

    # -- publisher side -------------------------------------------------------------------------
    @property
    def publisher(self) -> object | None:
        return self._publisher

    @property
    def has_publisher(self) -> bool:
        return self._publisher is not None

    def claim(self, publisher: object) -> None:
        """Make ``publisher`` the hub's only source. Raises PublisherBusy or HubClosed."""
        if self.closed:
            raise HubClosed(self.name)
        if self._publisher is not None and self._publisher is not publisher:
            raise PublisherBusy(self.name)
        self._publisher = publisher
        self._reset_cache()
        for sub in list(self._subscriptions):
            sub._signal(HubSignal.PUBLISHED)
            # A returning publisher starts a new stream: players resume at its first keyframe.
            sub._skip_to_keyframe = self.cache_gop
        for waiter in self._publisher_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._publisher_waiters.clear()

    def release(self, publisher: object) -> None:
        """The publisher left; subscribers get UNPUBLISHED (they decide how long to wait)."""
        if self._publisher is not publisher:
            return
        self._publisher = None
        self._reset_cache()
        for sub in list(self._subscriptions):
            sub._signal(HubSignal.UNPUBLISHED)

    async def wait_publisher(self) -> None:
        """Return once the hub has a publisher."""
        if self._publisher is not None:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._publisher_waiters.append(fut)
        await fut

    def feed(self, unit: HubUnit) -> None:
        """Fan one unit out to every subscriber and update the cache."""
        c = self.counters
        c.units_in += 1
        c.bytes_in += unit.size
        if self._clock is not None:
            c.last_unit_at = self._clock()
        if self._share_source is not None and unit.kind in _SHARED_KINDS:
            unit = self._shared(unit)
        if self.cache_gop:
            self._update_cache(unit)
        for sub in self._subscriptions:
            sub._offer(unit)

    def _update_cache(self, unit: HubUnit) -> None:
        cache = self._cache
        kind = unit.kind
        if kind is UnitKind.METADATA:
            cache.metadata = unit
        elif kind is UnitKind.AUDIO_CONFIG:
            cache.audio_config = unit
        elif kind is UnitKind.VIDEO_CONFIG:
            cache.video_config = unit
        elif kind is UnitKind.KEYFRAME:
            cache.gop = [unit]
            cache.gop_bytes = unit.size
            cache.gop_valid = True
            self._gop_serial += 1
        elif kind is UnitKind.FRAME and cache.gop_valid:
            if cache.gop_bytes + unit.size > self.max_cache_bytes:
                cache.gop = []
                cache.gop_bytes = 0
                cache.gop_valid = False
                self._gop_serial += 1
            else:
                cache.gop.append(unit)
                cache.gop_bytes += unit.size

    def _reset_cache(self) -> None:
        self._cache = _Cache()
        self._gop_serial += 1

    # -- sharing ----------------------------------------------------------------------------------
    def share_from(self, source: Callable[[], Hub | None] | None, same: Same | None = None) -> None:
        """Pass on units of ``source()``'s GOP cache in place of identical ones fed here (``same``
        compares two units' bytes); ``source`` is asked per unit, so it may come and go (None: not
        now). Nothing of the source is kept here but an index: its cache stays the only one that
        holds its units. ``source=None`` turns sharing off."""
        if source is not None and same is None:
            raise ValueError("sharing needs a comparison of the units' bytes")
        self._share_source = source
        self._share_same = same
        self._share_at = (0, -1)
        self._share_pos = 0

    def _shared(self, unit: HubUnit) -> HubUnit:
        """The source's unit identical to ``unit``, or ``unit`` itself."""
        assert self._share_source is not None and self._share_same is not None
        src = self._share_source()
        if src is None or src is self or not src._cache.gop_valid:
            return unit
        at = (id(src), src._gop_serial)
        if at != self._share_at:
            self._share_at = at
            self._share_pos = 0
        gop = src._cache.gop
        ts, size, kind = unit.timestamp_ms, unit.size, unit.kind
        for i in range(self._share_pos, min(len(gop), self._share_pos + SHARE_SCAN)):
            twin = gop[i]
            if twin.timestamp_ms == ts and twin.size == size and twin.kind is kind:
                if not self._share_same(twin, unit):
                    return unit
                self._share_pos = i + 1
                self.units_shared += 1
                return twin
        return unit

    def config_units(self) -> list[HubUnit]:
        """Metadata and sequence headers currently in force, in the order a player needs them."""
        c = self._cache
        return [u for u in (c.metadata, c.video_config, c.audio_config) if u is not None]

    # -- subscriber side ------------------------------------------------------------------------
    def subscribe(self, name: str, *, max_queue_bytes: int = DEFAULT_QUEUE_BYTES) -> Subscription:
        """A new subscriber, primed with the late-joiner cache. Raises HubClosed."""
        if self.closed:
            raise HubClosed(self.name)
        return self.add(Subscription(self, name=name, max_queue_bytes=max_queue_bytes))

    def add(self, sub: Subscription) -> Subscription:
        """Register ``sub`` (a :class:`Subscription` made for this hub, or a subclass of it), primed
        with the late-joiner cache; returns it. Raises HubClosed."""
        if self.closed:
            raise HubClosed(self.name)
        if sub.hub is not self:
            raise ValueError(f"{sub!r} belongs to another hub")
        for unit in self.config_units():
            sub._append(unit)
        if self.cache_gop:
            if self._cache.gop_valid:
                for unit in self._cache.gop:
                    sub._append(unit)
            else:
                sub._skip_to_keyframe = True
        self._subscriptions.append(sub)
        return sub

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def close(self) -> None:
        """Close the hub: every subscriber gets CLOSED, later claims and subscribes fail."""
        if self.closed:
            return
        self.closed = True
        self._publisher = None
        self._reset_cache()  # its GOP goes now, not with the last reference to the hub
        self._share_source = self._share_same = None
        for sub in list(self._subscriptions):
            sub._signal(HubSignal.CLOSED)
            sub.closed = True
        self._subscriptions.clear()
        for waiter in self._publisher_waiters:
            if not waiter.done():
                waiter.set_exception(HubClosed(self.name))
        self._publisher_waiters.clear()
