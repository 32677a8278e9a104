"""Events you can wait on: what happened in the emulator, as one JSON-ready dict each.

:class:`EventBus` is the in-process core (no asyncio in it): :meth:`EventBus.emit` numbers an event,
stamps it, keeps it in a bounded history (:data:`HISTORY_EVENTS`) and offers it to every subscriber's
bounded queue. A subscriber that falls :data:`SUBSCRIBER_QUEUE_EVENTS` behind loses the newest events
and counts them in ``dropped`` (the emitter never waits, so the data plane never blocks on a reader).
:func:`wait_for` and the ``GET /_emulator/events`` stream (:mod:`emulator.api.admin`) are its asyncio
readers.

Every event has ``id`` (1, 2, ... in emission order), ``type``, ``time`` (unix seconds, float) and, when
it concerns a flow, ``flow_id``, ``flow`` (its name) and ``region``. Types:

* ``flow.created``, ``flow.deleted``; ``flow.status`` with ``status`` (``online`` / ``offline``);
* ``input.connected`` / ``input.disconnected`` with ``input_name``, ``protocol``, ``peer`` (``host:port``
  of the publisher, or of the remote a pull input plays from) and ``backbone`` (true for a Flow input):
  a publisher took or left the input (RTMP publish accepted, an SRT caller's handshake done, a pull
  client playing); also ``disconnected`` when the flow stops under a publisher;
* ``output.player_joined`` / ``output.player_left`` with ``output_name``, ``protocol`` and ``peer``: a
  player of an RTMP-PULL or SRT-Listener output (never a backbone leg) started or stopped receiving;
* ``output.connected`` / ``output.disconnected`` with ``output_name`` and ``protocol``: the client of a
  push output (RTMP-PUSH, SRT-Caller, Flow) is or is no longer connected to its remote; the runtime's
  clients have no callback, so :class:`OutputWatcher` reads their state every
  :data:`OUTPUT_WATCH_S` (an event comes at most that late, and a shorter blip may go unseen);
* ``failover.switched`` with ``input_name`` (now feeding the flow) and ``from_input``: the flow's
  source moved from one input to the other (the first input of a flow to go live is no switch);
* ``link.changed`` with ``from`` and ``to`` (region ids) and ``impairment`` (the one now in force from
  ``from`` to ``to``): a backbone direction was set, cleared or changed by a timeline step;
* ``lastmile.changed`` with ``role``, ``name`` and ``to_region`` / ``from_region`` (null when cleared).

No event carries a stream key, a passphrase or a URL (a URL can hold a key).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediaplane.relay import Hub, Subscription

from .model.rules import listening

if TYPE_CHECKING:
    from .model.flow import Flow, FlowInput, FlowOutput

__all__ = [
    "EVENT_TYPES",
    "HISTORY_EVENTS",
    "OUTPUT_WATCH_S",
    "SUBSCRIBER_QUEUE_EVENTS",
    "EventBus",
    "EventSubscriber",
    "OutputWatcher",
    "WatchedHub",
    "failover_switched",
    "flow_fields",
    "flow_hub",
    "input_hub",
    "matches",
    "peer_text",
    "player_joined",
    "wait_for",
]

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "flow.created",
    "flow.deleted",
    "flow.status",
    "input.connected",
    "input.disconnected",
    "output.player_joined",
    "output.player_left",
    "output.connected",
    "output.disconnected",
    "failover.switched",
    "link.changed",
    "lastmile.changed",
)
"""Every type :class:`EventBus` carries (see the module docstring)."""

HISTORY_EVENTS = 10_000
"""Events the bus keeps for :func:`wait_for` and for a stream that resumes (``after`` / Last-Event-ID)."""

SUBSCRIBER_QUEUE_EVENTS = 1_000
"""Events a subscriber may have waiting before new ones are dropped (and counted)."""

OUTPUT_WATCH_S = 0.1
"""How often :class:`OutputWatcher` reads the push outputs' clients, in seconds."""


def matches(event: dict[str, Any], types: Iterable[str] | None, match: dict[str, Any]) -> bool:
    """True when ``event`` has one of ``types`` (None: any) and every ``match`` key with that value."""
    if types is not None and event["type"] not in types:
        return False
    return all(key in event and event[key] == value for key, value in match.items())


@dataclass(eq=False)
class EventSubscriber:
    """One reader's bounded queue of events (see :meth:`EventBus.subscribe`)."""

    types: frozenset[str] | None
    match: dict[str, Any]
    max_queue: int = SUBSCRIBER_QUEUE_EVENTS
    wakeup: Callable[[], None] | None = None
    """Called (from :meth:`EventBus.emit`) after an event was queued; must not block."""
    queue: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    dropped: int = 0
    """Events not queued because the queue was full (the reader was too slow)."""

    def offer(self, event: dict[str, Any]) -> None:
        if not matches(event, self.types, self.match):
            return
        if len(self.queue) >= self.max_queue:
            self.dropped += 1
            return
        self.queue.append(event)
        if self.wakeup is not None:
            self.wakeup()

    def take(self) -> list[dict[str, Any]]:
        """Every queued event, oldest first; the queue is empty afterwards."""
        items = list(self.queue)
        self.queue.clear()
        return items


class EventBus:
    """Numbers, stamps, keeps and fans out events (see the module docstring). ``clock`` returns unix
    seconds."""

    def __init__(self, *, clock: Callable[[], float] = time.time, history: int = HISTORY_EVENTS) -> None:
        self._clock = clock
        self._history: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        self._subscribers: list[EventSubscriber] = []
        self.last_id = 0
        """Id of the newest event (0 before the first): a marker for ``after=``."""

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        """Record an event of ``type`` with ``fields`` and offer it to every subscriber; returns it."""
        self.last_id += 1
        event: dict[str, Any] = {"id": self.last_id, "type": type, "time": self._clock(), **fields}
        self._history.append(event)
        for sub in list(self._subscribers):
            try:
                sub.offer(event)
            except Exception:  # a reader's wakeup must never break the emitter (the data plane)
                logger.exception("event subscriber failed; dropping it")
                self.unsubscribe(sub)
        return event

    def history(self, *, after: int = 0) -> list[dict[str, Any]]:
        """The kept events with an id above ``after``, oldest first."""
        return [e for e in self._history if e["id"] > after]

    def subscribe(
        self,
        *,
        types: Iterable[str] | None = None,
        match: dict[str, Any] | None = None,
        max_queue: int = SUBSCRIBER_QUEUE_EVENTS,
        wakeup: Callable[[], None] | None = None,
    ) -> EventSubscriber:
        """A new subscriber for events emitted from now on (of ``types``, with the ``match`` values)."""
        sub = EventSubscriber(
            frozenset(types) if types is not None else None, dict(match or {}), max_queue, wakeup
        )
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: EventSubscriber) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


async def wait_for(
    bus: EventBus,
    type: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 (the deadline is the point of the call)
    after: int = 0,
    **match: Any,
) -> dict[str, Any]:
    """The first event of ``type`` with an id above ``after`` whose keys have the ``match`` values.

    Looks in the bus's history first, so an event that happened before the call is found (the default
    ``after=0`` searches the whole history); pass ``after=bus.last_id`` taken before an action, or the
    ``id`` of an earlier match, to see only newer ones. Raises TimeoutError after ``timeout`` seconds,
    naming the last events of that type it saw.
    """
    types = (type,)
    for event in bus.history(after=after):
        if matches(event, types, match):
            return event
    ready = asyncio.Event()
    sub = bus.subscribe(types=types, match=match, wakeup=ready.set)
    # An event emitted between the history scan and subscribe() is impossible: both run without
    # awaiting on the one loop that emits.
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ready.wait()
                ready.clear()
                for event in sub.take():
                    if event["id"] > after:
                        return event
    except TimeoutError:
        seen = [e for e in bus.history(after=after) if e["type"] == type][-3:]
        raise TimeoutError(
            f"no {type} event matching {match!r} within {timeout:g} s"
            + (f"; the last ones: {seen}" if seen else f"; none of type {type} at all")
        ) from None
    finally:
        bus.unsubscribe(sub)


# -- event points of the runtime ---------------------------------------------------------------------
def flow_fields(flow: Flow) -> dict[str, Any]:
    """``flow_id``, ``flow`` (name) and ``region`` of an event about ``flow``."""
    return {"flow_id": flow.id, "flow": flow.name, "region": flow.region.id}


def peer_text(obj: object) -> str | None:
    """``host:port`` of a session (its peer) or client (its remote), else None."""
    peer = getattr(obj, "peer", None)
    if peer is None:
        conn = getattr(obj, "conn", None)
        peer = getattr(conn, "peer_addr", None)
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    target = getattr(obj, "target", obj)
    host, port = getattr(target, "host", None), getattr(target, "port", None)
    if isinstance(host, str) and isinstance(port, int):
        return f"{host}:{port}"
    return None


class WatchedHub(Hub):
    """A :class:`~mediaplane.relay.Hub` that reports its event points: ``on_publisher(publisher,
    present)`` when a publisher takes or leaves it (or the hub closes under one), and the end of a
    subscription passed to :meth:`track` (it left, or the hub closed)."""

    def __init__(
        self,
        name: str,
        *,
        on_publisher: Callable[[object, bool], None] | None = None,
        cache_gop: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(name, cache_gop=cache_gop, clock=clock)
        self.on_publisher = on_publisher
        self._tracked: dict[Subscription, Callable[[], object]] = {}

    def claim(self, publisher: object) -> None:
        before = self.publisher
        super().claim(publisher)
        if before is not publisher and self.on_publisher is not None:
            self.on_publisher(publisher, True)

    def release(self, publisher: object) -> None:
        if self.publisher is not publisher:
            return
        super().release(publisher)
        if self.on_publisher is not None:
            self.on_publisher(publisher, False)

    def track(self, sub: Subscription, on_end: Callable[[], object]) -> None:
        """Call ``on_end()`` once when ``sub`` leaves the hub."""
        self._tracked[sub] = on_end

    def _remove(self, sub: Subscription) -> None:
        super()._remove(sub)
        on_end = self._tracked.pop(sub, None)
        if on_end is not None:
            on_end()

    def close(self) -> None:
        if self.closed:
            return
        publisher = self.publisher
        tracked = list(self._tracked.values())
        self._tracked.clear()
        super().close()
        if publisher is not None and self.on_publisher is not None:
            self.on_publisher(publisher, False)
        for on_end in tracked:
            on_end()


def input_hub(
    bus: EventBus | None,
    flow: Flow,
    cfg: FlowInput,
    name: str,
    *,
    cache_gop: bool,
    clock: Callable[[], float],
) -> Hub:
    """The hub of an input of an online flow: emits ``input.connected`` / ``input.disconnected``."""
    if bus is None:
        return Hub(name, cache_gop=cache_gop, clock=clock)

    def on_publisher(publisher: object, present: bool) -> None:
        bus.emit(
            "input.connected" if present else "input.disconnected",
            **flow_fields(flow),
            input_name=cfg.name,
            protocol=cfg.protocol.value,
            backup=cfg.backup,
            backbone=cfg.protocol.value == "Flow",
            peer=peer_text(publisher),
        )

    return WatchedHub(name, on_publisher=on_publisher, cache_gop=cache_gop, clock=clock)


def flow_hub(name: str, *, cache_gop: bool, clock: Callable[[], float]) -> Hub:
    """The flow hub of an online flow (its players are reported through :func:`player_joined`)."""
    return WatchedHub(name, cache_gop=cache_gop, clock=clock)


def player_joined(
    bus: EventBus | None, hub: Hub, flow: Flow, output: FlowOutput, peer: Any, sub: Subscription
) -> None:
    """Emit ``output.player_joined`` for ``sub`` (a player, not a backbone leg) and, when it leaves
    ``hub``, ``output.player_left``."""
    if bus is None:
        return
    fields = {
        **flow_fields(flow),
        "output_name": output.name,
        "protocol": output.protocol.value,
        "peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else None,
    }
    bus.emit("output.player_joined", **fields)
    if isinstance(hub, WatchedHub):
        hub.track(sub, lambda: bus.emit("output.player_left", **fields))


def failover_switched(bus: EventBus | None, flow: Flow, from_input: str, to_input: str) -> None:
    if bus is not None:
        bus.emit("failover.switched", **flow_fields(flow), input_name=to_input, from_input=from_input)


class OutputWatcher:
    """Emits ``output.connected`` / ``output.disconnected`` for push outputs (see the module docstring).

    ``live()`` returns ``(flow, {output name: (FlowOutput, client or None)})`` for every online flow;
    :meth:`tick` compares each client's ``connected`` with the last reading.
    """

    def __init__(self, bus: EventBus, live: Callable[[], Iterable[tuple[Flow, dict[str, tuple[Any, Any]]]]]):
        self.bus = bus
        self._live = live
        self._connected: dict[tuple[str, str], tuple[Flow, Any]] = {}

    def tick(self) -> None:
        now: dict[tuple[str, str], tuple[Flow, Any]] = {}
        for flow, outputs in self._live():
            for name, (cfg, client) in outputs.items():
                if not listening(cfg) and bool(getattr(client, "connected", False)):
                    now[(flow.id, name)] = (flow, cfg)
        for key in [k for k in self._connected if k not in now]:
            flow, cfg = self._connected.pop(key)
            self._emit("output.disconnected", flow, cfg)
        for key, (flow, cfg) in now.items():
            if key not in self._connected:
                self._connected[key] = (flow, cfg)
                self._emit("output.connected", flow, cfg)

    def _emit(self, type: str, flow: Flow, cfg: Any) -> None:
        self.bus.emit(type, **flow_fields(flow), output_name=cfg.name, protocol=cfg.protocol.value)

    async def run(self, every_s: float = OUTPUT_WATCH_S) -> None:
        """Tick every ``every_s`` until cancelled."""
        while True:
            try:
                self.tick()
            except Exception:
                logger.exception("output watcher failed")
            await asyncio.sleep(every_s)
