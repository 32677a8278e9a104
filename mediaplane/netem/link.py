"""Userspace link relays on real sockets: the asyncio adapters of the impairment models.

:class:`UdpLink` relays datagrams between its listening socket and a target; every client address gets
its own upstream socket, so the target sees one peer per client as it would through a NAT. :class:`TcpLink`
accepts connections and opens one upstream connection for each. Each direction has its own model, so
``forward`` (client -> target) and ``reverse`` (target -> client) can be impaired differently.

Scheduling: deliveries go into a heap (UDP) or a per-stream queue (TCP) keyed by their deadline on
``loop.time()``; one ``loop.call_at`` timer per link fires for the earliest deadline and delivers
everything due in a batch. The selector rounds its timeout up to whole milliseconds (epoll), so the
timer is set ``EARLY_WAKE_S`` before the deadline and anything due within ``DELIVER_AHEAD_S`` of the
wake-up goes out with it: deliveries land within about half a millisecond of their deadline either way
instead of up to a millisecond late.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from .models import Impairment, ImpairmentError, TcpModel, UdpModel
from .timeline import Timeline

logger = logging.getLogger(__name__)

Address = tuple[str, int]

EARLY_WAKE_S = 0.0005
"""How long before a deadline the delivery timer is set (the selector wakes up to 1 ms late)."""
DELIVER_AHEAD_S = 0.0005
"""Deliveries due within this long of a timer's wake-up go out with that batch."""
UDP_READ_BATCH = 64
"""Datagrams read per readiness event before yielding to the loop (small, so due deliveries wait at most
one batch behind a flood of arrivals)."""
UDP_MAX_DATAGRAM_BYTES = 65535
"""Largest datagram relayed."""
UDP_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
"""Requested SO_RCVBUF / SO_SNDBUF of the relay sockets (the kernel may cap it)."""
TCP_READ_BYTES = 64 * 1024
"""Largest chunk handed to the TCP model at once."""

FORWARD = "forward"
"""Client -> target."""
REVERSE = "reverse"
"""Target -> client."""
BOTH = "both"
DIRECTIONS = (FORWARD, REVERSE)


def _directions(direction: str) -> tuple[str, ...]:
    if direction == BOTH:
        return DIRECTIONS
    if direction not in DIRECTIONS:
        raise ImpairmentError(f"direction must be forward, reverse or both, got {direction!r}")
    return (direction,)


def _rng(seed: int | None, impairment: Impairment, label: str) -> random.Random:
    if seed is None:
        seed = impairment.seed
    if seed is None:
        return random.Random()
    return random.Random(f"{seed}:{label}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One datagram through a :class:`UdpLink`, on the link's clock (``loop.time()``, seconds)."""

    forward: bool
    """Client -> target (else target -> client)."""
    arrived_at: float
    """When the link read it."""
    scheduled_at: float
    """The send time the model computed for it."""
    sent_at: float
    """When the link handed it to the socket (at most ``DELIVER_AHEAD_S`` before ``scheduled_at``)."""


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


class _TimelineRunner:
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
        bases: dict[str, Impairment],
        apply: Callable[[str, Impairment], None],
    ) -> None:
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


# -- UDP -------------------------------------------------------------------------------------------


class _UdpSession:
    """One client address and its upstream socket."""

    __slots__ = ("addr", "last_active", "sock")

    def __init__(self, addr: Address, sock: socket.socket, now: float) -> None:
        self.addr = addr
        self.sock = sock
        self.last_active = now


class UdpLink:
    """A datagram relay from ``listen`` to ``target`` applying an impairment in each direction.

    ``impairment`` applies to both directions unless ``reverse_impairment`` is given; ``seed`` (or the
    impairment's own seed) makes the run repeatable. Use as ``async with UdpLink(...) as link:`` and send
    to ``link.address``. Records each delivery's lateness (actual minus scheduled send time, seconds) in
    ``lateness`` when ``record_lateness`` is true, and every datagram it sent on (arrival, scheduled and
    actual send time: a :class:`Delivery`) in ``deliveries`` when ``record_deliveries`` is true.
    """

    def __init__(
        self,
        *,
        target: Address,
        listen: Address = ("127.0.0.1", 0),
        impairment: Impairment | None = None,
        reverse_impairment: Impairment | None = None,
        timeline: Timeline | None = None,
        seed: int | None = None,
        idle_timeout_s: float = 120.0,
        name: str = "",
        record_lateness: bool = False,
        record_deliveries: bool = False,
    ) -> None:
        forward = impairment or Impairment()
        reverse = reverse_impairment or forward
        forward.validate()
        reverse.validate()
        self.target = target
        self._listen_addr = listen
        self._timeline = timeline
        self.idle_timeout_s = idle_timeout_s
        self.name = name or f"udp->{target[0]}:{target[1]}"
        self.models = {
            FORWARD: UdpModel(forward, rng=_rng(seed, forward, FORWARD)),
            REVERSE: UdpModel(reverse, rng=_rng(seed, reverse, REVERSE)),
        }
        self.counters = {FORWARD: DirectionCounters(), REVERSE: DirectionCounters()}
        self.lateness: list[float] | None = [] if record_lateness else None
        self.deliveries: list[Delivery] | None = [] if record_deliveries else None
        self._sock: socket.socket | None = None
        self._sessions: dict[Address, _UdpSession] = {}
        self._by_fd: dict[int, _UdpSession] = {}
        self._heap: list[tuple[float, int, bytes, _UdpSession, bool, float]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timelines = _TimelineRunner()

    def __repr__(self) -> str:
        return f"<UdpLink {self.name} port={self.port if self._sock else None} clients={len(self._sessions)}>"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listening socket and start relaying."""
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        for model in self.models.values():
            model.set_impairment(model.impairment, now)
        family = socket.AF_INET6 if ":" in self._listen_addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            _grow_buffers(sock)
            sock.setblocking(False)
            sock.bind(self._listen_addr)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        loop.add_reader(sock.fileno(), self._on_listen_readable)
        self._sweeper = loop.call_later(self.idle_timeout_s / 4, self._sweep)
        if self._timeline is not None:
            self.run_timeline(self._timeline)
        logger.debug("%s listening on %s", self.name, sock.getsockname())

    async def close(self) -> None:
        """Stop relaying and close every socket; queued datagrams are discarded."""
        self._timelines.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for session in list(self._sessions.values()):
            self._close_session(session)
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._heap.clear()
        for counters in self.counters.values():
            counters.queued = counters.queued_bytes = 0

    async def __aenter__(self) -> UdpLink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> Address:
        """Where clients send: the bound listening address."""
        if self._sock is None:
            raise RuntimeError("link not started")
        host, port = self._sock.getsockname()[:2]
        return (host, port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def clients(self) -> int:
        """Client addresses currently mapped to an upstream socket."""
        return len(self._sessions)

    # -- control ---------------------------------------------------------------------------------

    def impairment(self, direction: str) -> Impairment:
        """The impairment in force in ``direction`` (``forward`` or ``reverse``)."""
        return self.models[_directions(direction)[0]].impairment

    def set_impairment(self, direction: str, impairment: Impairment) -> None:
        """Apply ``impairment`` from now on to ``forward``, ``reverse`` or ``both`` directions."""
        impairment.validate()
        now = self._loop.time() if self._loop is not None else 0.0
        for d in _directions(direction):
            self.models[d].set_impairment(impairment, now)
        logger.info("%s %s impairment: %s", self.name, direction, impairment.summary())

    def run_timeline(self, timeline: Timeline, direction: str = BOTH) -> asyncio.Event:
        """Run ``timeline`` from now over the impairments in force (replacing a running one).

        Returns an event set when its last change has been applied.
        """
        bases = {d: self.models[d].impairment for d in _directions(direction)}
        self._timelines.run(timeline, bases, self.set_impairment)
        return self._timelines.done

    def stats(self) -> dict[str, Any]:
        """Counters per direction, with the model's own counters under ``model``."""
        out: dict[str, Any] = {"clients": len(self._sessions)}
        for d in DIRECTIONS:
            row: dict[str, Any] = self.counters[d].to_dict()
            row["model"] = self.models[d].counters.to_dict()
            out[d] = row
        return out

    # -- datapath --------------------------------------------------------------------------------

    def _on_listen_readable(self) -> None:
        sock = self._sock
        loop = self._loop
        if sock is None or loop is None:
            return
        model = self.models[FORWARD]
        counters = self.counters[FORWARD]
        now = loop.time()
        sessions = self._sessions
        for _ in range(UDP_READ_BATCH):
            try:
                data, addr = sock.recvfrom(UDP_MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP errors reported on the socket
                logger.debug("%s listen socket error: %s", self.name, exc)
                continue
            addr = (addr[0], addr[1])
            session = sessions.get(addr)
            if session is None:
                session = self._open_session(addr, now)
                if session is None:
                    continue
            session.last_active = now
            self._admit(data, session, True, model, counters, now)
        self._arm()

    def _on_upstream_readable(self, session: _UdpSession) -> None:
        loop = self._loop
        if loop is None:
            return
        model = self.models[REVERSE]
        counters = self.counters[REVERSE]
        now = loop.time()
        session.last_active = now
        for _ in range(UDP_READ_BATCH):
            try:
                data = session.sock.recv(UDP_MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ECONNREFUSED: the target is not listening (ICMP port unreachable)
                logger.debug("%s upstream for %s: %s", self.name, session.addr, exc)
                continue
            self._admit(data, session, False, model, counters, now)
        self._arm()

    def _admit(
        self,
        data: bytes,
        session: _UdpSession,
        forward: bool,
        model: UdpModel,
        counters: DirectionCounters,
        now: float,
    ) -> None:
        """Count one received datagram and send it now, schedule it (once or twice), or drop it."""
        counters.packets_in += 1
        counters.bytes_in += len(data)
        if model.identity:
            model.decide(len(data), now)
            if self._send(data, session, forward, counters) and self.deliveries is not None:
                self.deliveries.append(
                    Delivery(forward=forward, arrived_at=now, scheduled_at=now, sent_at=now)
                )
            return
        times = model.decide(len(data), now)
        if not times:
            counters.dropped += 1
            return
        for t in times:
            heapq.heappush(self._heap, (t, next(self._seq), data, session, forward, now))
            counters.queued += 1
            counters.queued_bytes += len(data)

    def _send(self, data: bytes, session: _UdpSession, forward: bool, counters: DirectionCounters) -> bool:
        """Send one datagram on; False when the socket refused it (counted as dropped)."""
        try:
            if forward:
                session.sock.send(data)
            elif self._sock is not None:
                self._sock.sendto(data, session.addr)
        except (BlockingIOError, InterruptedError):
            counters.dropped += 1  # socket buffer full: the kernel would drop it too
            return False
        except OSError as exc:
            counters.dropped += 1
            logger.debug("%s send failed: %s", self.name, exc)
            return False
        counters.delivered += 1
        counters.bytes_delivered += len(data)
        return True

    def _arm(self) -> None:
        """Deliver what is due now (a busy loop may reach us late), then set the timer for the rest."""
        heap = self._heap
        loop = self._loop
        if loop is None:
            return
        while heap and heap[0][0] <= loop.time() + DELIVER_AHEAD_S:
            self._deliver_due()
        if not heap:
            return
        due = heap[0][0]
        if due >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = loop.call_at(due - EARLY_WAKE_S, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self._arm()

    def _deliver_due(self) -> None:
        loop = self._loop
        assert loop is not None
        heap = self._heap
        limit = loop.time() + DELIVER_AHEAD_S
        fwd, rev = self.counters[FORWARD], self.counters[REVERSE]
        lateness = self.lateness
        deliveries = self.deliveries
        while heap and heap[0][0] <= limit:
            t, _, data, session, forward, arrived = heapq.heappop(heap)
            counters = fwd if forward else rev
            counters.queued -= 1
            counters.queued_bytes -= len(data)
            if session.sock.fileno() < 0:
                continue  # the session was closed meanwhile
            sent = self._send(data, session, forward, counters)
            if lateness is not None:
                lateness.append(loop.time() - t)
            if sent and deliveries is not None:
                deliveries.append(
                    Delivery(forward=forward, arrived_at=arrived, scheduled_at=t, sent_at=loop.time())
                )

    def _open_session(self, addr: Address, now: float) -> _UdpSession | None:
        assert self._loop is not None and self._sock is not None
        family = socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            _grow_buffers(sock)
            sock.setblocking(False)
            sock.connect(self.target)
        except OSError as exc:
            sock.close()
            logger.warning("%s cannot open upstream for %s: %s", self.name, addr, exc)
            return None
        session = _UdpSession(addr, sock, now)
        self._sessions[addr] = session
        self._by_fd[sock.fileno()] = session
        self._loop.add_reader(sock.fileno(), self._on_upstream_readable, session)
        logger.debug("%s new client %s via %s", self.name, addr, sock.getsockname())
        return session

    def _close_session(self, session: _UdpSession) -> None:
        self._sessions.pop(session.addr, None)
        fd = session.sock.fileno()
        if fd >= 0:
            self._by_fd.pop(fd, None)
            if self._loop is not None:
                self._loop.remove_reader(fd)
            session.sock.close()

    def _sweep(self) -> None:
        if self._loop is None:
            return
        now = self._loop.time()
        for session in list(self._sessions.values()):
            if now - session.last_active > self.idle_timeout_s:
                logger.debug("%s client %s idle, closing its upstream", self.name, session.addr)
                self._close_session(session)
        self._sweeper = self._loop.call_later(self.idle_timeout_s / 4, self._sweep)


def _grow_buffers(sock: socket.socket) -> None:
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, UDP_SOCKET_BUFFER_BYTES)


# -- TCP -------------------------------------------------------------------------------------------


class _Side(asyncio.Protocol):
    """One socket of a :class:`_TcpPipe` (the accepted client or the upstream connection)."""

    def __init__(self, pipe: _TcpPipe, forward: bool) -> None:
        self.pipe = pipe
        self.forward = forward  # True: bytes read here travel forward (this is the client side)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport has asyncio.Transport's API but is no subclass of it (issue 9).
        self.transport = cast("asyncio.Transport", transport)
        self.pipe.side_made(self)

    def data_received(self, data: bytes) -> None:
        self.pipe.flows[FORWARD if self.forward else REVERSE].received(data)

    def eof_received(self) -> bool:
        self.pipe.flows[FORWARD if self.forward else REVERSE].source_done()
        return True  # keep our write side open until the other direction is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.side_lost(self, exc)

    def pause_writing(self) -> None:
        self.pipe.flows[REVERSE if self.forward else FORWARD].set_sink_paused(True)

    def resume_writing(self) -> None:
        self.pipe.flows[REVERSE if self.forward else FORWARD].set_sink_paused(False)


class _TcpFlow:
    """One direction of a pipe: reads from ``src``, schedules through a TcpModel, writes to ``dst``."""

    def __init__(self, pipe: _TcpPipe, direction: str, model: TcpModel) -> None:
        self.pipe = pipe
        self.direction = direction
        self.model = model
        self.counters = pipe.link.counters[direction]
        self.src: _Side | None = None
        self.dst: _Side | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.pending_bytes = 0
        self.held: list[bytes] = []  # bytes read during a stall outage
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = float("inf")
        self.outage_timer: asyncio.TimerHandle | None = None
        self.src_done = False
        self.sink_paused = False
        self.reading_paused = False

    def received(self, data: bytes) -> None:
        loop = self.pipe.loop
        now = loop.time()
        c = self.counters
        c.packets_in += 1
        c.bytes_in += len(data)
        outage = self.model.outage(now)
        if outage is not None:
            if outage.reset:
                self.pipe.reset("outage")
                return
            self.held.append(data)
            self._hold_until(outage.until)
            self._update_reading()
            return
        if self.held:
            self.held.append(data)
            self.release_held()
            return
        self._schedule(data, now)

    def _schedule(self, data: bytes, now: float) -> None:
        offset = 0
        c = self.counters
        for t, n in self.model.submit(len(data), now):
            piece = data[offset : offset + n] if (offset or n != len(data)) else data
            offset += n
            self.pending.append((t, piece))
            self.pending_bytes += n
            c.queued += 1
            c.queued_bytes += n
        self._arm()
        self._update_reading()

    def _hold_until(self, until: float | None) -> None:
        if until is None or self.outage_timer is not None:
            return  # an indefinite stall ends when the impairment changes (see release_held)
        self.outage_timer = self.pipe.loop.call_at(until, self._outage_over)

    def _outage_over(self) -> None:
        self.outage_timer = None
        self.release_held()

    def release_held(self) -> None:
        """Submit bytes held during a stall if the outage is over."""
        if not self.held:
            return
        now = self.pipe.loop.time()
        outage = self.model.outage(now)
        if outage is not None:
            if outage.reset:
                self.pipe.reset("outage")
            else:
                self._hold_until(outage.until)
            return
        data = b"".join(self.held)
        self.held.clear()
        self._schedule(data, now)
        if self.src_done and not self.pending:
            self._finish()

    def _arm(self) -> None:
        if not self.pending:
            return
        due = self.pending[0][0]
        if due >= self.timer_at:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = due
        self.timer = self.pipe.loop.call_at(due - EARLY_WAKE_S, self._deliver)

    def _deliver(self) -> None:
        self.timer = None
        self.timer_at = float("inf")
        if self.dst is None or self.dst.transport is None or self.dst.transport.is_closing():
            return
        limit = self.pipe.loop.time() + DELIVER_AHEAD_S
        batch: list[bytes] = []
        c = self.counters
        while self.pending and self.pending[0][0] <= limit:
            _, piece = self.pending.popleft()
            batch.append(piece)
            self.pending_bytes -= len(piece)
            c.queued -= 1
            c.queued_bytes -= len(piece)
        if batch:
            data = b"".join(batch)
            self.dst.transport.write(data)
            c.delivered += 1
            c.bytes_delivered += len(data)
        self._update_reading()
        if self.pending:
            self._arm()
        elif self.src_done and not self.held:
            self._finish()

    def set_sink_paused(self, paused: bool) -> None:
        self.sink_paused = paused
        self._update_reading()

    def _update_reading(self) -> None:
        src = self.src.transport if self.src is not None else None
        if src is None or src.is_closing():
            return
        high = self.model.high_water_bytes
        queued = self.pending_bytes + sum(len(b) for b in self.held)
        if not self.reading_paused and (self.sink_paused or queued > high):
            self.reading_paused = True
            src.pause_reading()
        elif self.reading_paused and not self.sink_paused and queued <= high // 2:
            self.reading_paused = False
            src.resume_reading()

    def source_done(self) -> None:
        self.src_done = True
        if not self.pending and not self.held:
            self._finish()

    def _finish(self) -> None:
        dst = self.dst.transport if self.dst is not None else None
        if dst is not None and not dst.is_closing():
            try:
                if dst.can_write_eof():
                    dst.write_eof()
                else:
                    dst.close()
            except OSError as exc:  # ENOTCONN: the peer reset meanwhile; nothing left to half-close
                logger.debug("%s %s: cannot half-close: %s", self.pipe.link.name, self.direction, exc)
                dst.close()
        self.pipe.flow_finished(self)

    def cancel(self) -> None:
        for timer in (self.timer, self.outage_timer):
            if timer is not None:
                timer.cancel()
        self.timer = self.outage_timer = None
        c = self.counters
        c.queued -= len(self.pending)
        c.queued_bytes -= self.pending_bytes
        self.pending.clear()
        self.pending_bytes = 0
        self.held.clear()


class _TcpPipe:
    """An accepted client connection and its upstream connection."""

    def __init__(self, link: TcpLink, index: int) -> None:
        self.link = link
        self.loop = asyncio.get_running_loop()
        self.index = index
        now = self.loop.time()
        self.flows = {
            d: _TcpFlow(self, d, TcpModel(link.impairments[d], rng=link.rng_for(d, index), now=now))
            for d in DIRECTIONS
        }
        self.client = _Side(self, forward=True)
        self.upstream: _Side | None = None
        self.closed = False
        self.finished: set[str] = set()
        self.connect_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<TcpPipe #{self.index} of {self.link.name}>"

    def side_made(self, side: _Side) -> None:
        assert side.transport is not None
        if side is self.client:
            if self.link.reset_outage_now():
                _abort(side.transport)
                self.closed = True
                self.link.pipe_closed(self)
                return
            side.transport.pause_reading()  # until upstream is connected
            self.connect_task = self.loop.create_task(self._connect())
        self._wire()

    async def _connect(self) -> None:
        host, port = self.link.target
        try:
            await self.loop.create_connection(lambda: self._upstream_side(), host, port)
        except OSError as exc:
            logger.info("%s upstream connect to %s:%s failed: %s", self, host, port, exc)
            self.close()
            return
        if self.closed and self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()
            return
        if self.client.transport is not None and not self.client.transport.is_closing():
            self.client.transport.resume_reading()

    def _upstream_side(self) -> _Side:
        self.upstream = _Side(self, forward=False)
        return self.upstream

    def _wire(self) -> None:
        fwd, rev = self.flows[FORWARD], self.flows[REVERSE]
        fwd.src, fwd.dst = self.client, self.upstream
        rev.src, rev.dst = self.upstream, self.client

    def side_lost(self, side: _Side, exc: Exception | None) -> None:
        if self.closed:
            return
        flow = self.flows[FORWARD if side.forward else REVERSE]
        if exc is not None:
            self.reset(f"{'client' if side.forward else 'upstream'} lost: {exc}")
            return
        flow.source_done()
        other = self.upstream if side.forward else self.client
        if other is None or other.transport is None or other.transport.is_closing():
            self.close()

    def flow_finished(self, flow: _TcpFlow) -> None:
        self.finished.add(flow.direction)
        if len(self.finished) == 2:
            self.close()

    def reset(self, reason: str) -> None:
        """Cut both connections at once (RST), as a reset outage does."""
        if self.closed:
            return
        logger.info("%s reset: %s", self, reason)
        self.link.resets += 1
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                _abort(side.transport)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for flow in self.flows.values():
            flow.cancel()
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None and not side.transport.is_closing():
                side.transport.close()
        if self.connect_task is not None and not self.connect_task.done():
            self.connect_task.cancel()
        self.link.pipe_closed(self)

    def set_impairment(self, direction: str, impairment: Impairment) -> None:
        flow = self.flows[direction]
        now = self.loop.time()
        flow.model.set_impairment(impairment, now)
        outage = flow.model.outage(now)
        if outage is not None and outage.reset:
            self.reset("outage")
            return
        flow.release_held()


def _abort(transport: asyncio.Transport) -> None:
    """Close with an RST (SO_LINGER 0) rather than a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class TcpLink:
    """A TCP relay from ``listen`` to ``target`` applying an impairment to each direction's bytes.

    Each accepted connection gets its own upstream connection and its own pair of models (the bandwidth
    cap is per connection). Jitter never reorders bytes; ``loss_pct`` shows as retransmission stalls;
    an outage in ``stall``/``drop`` mode holds the bytes until it ends, in ``reset`` mode it cuts every
    connection (RST) and refuses new ones while it lasts.
    """

    def __init__(
        self,
        *,
        target: Address,
        listen: Address = ("127.0.0.1", 0),
        impairment: Impairment | None = None,
        reverse_impairment: Impairment | None = None,
        timeline: Timeline | None = None,
        seed: int | None = None,
        name: str = "",
    ) -> None:
        forward = impairment or Impairment()
        reverse = reverse_impairment or forward
        forward.validate()
        reverse.validate()
        self.target = target
        self._listen_addr = listen
        self._timeline = timeline
        self._seed = seed
        self.name = name or f"tcp->{target[0]}:{target[1]}"
        self.impairments = {FORWARD: forward, REVERSE: reverse}
        self._epochs = {FORWARD: 0.0, REVERSE: 0.0}
        self.counters = {FORWARD: DirectionCounters(), REVERSE: DirectionCounters()}
        self.resets = 0
        self.connections_total = 0
        self._pipes: set[_TcpPipe] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._timelines = _TimelineRunner()
        self._index = itertools.count()

    def __repr__(self) -> str:
        return f"<TcpLink {self.name} connections={len(self._pipes)}>"

    def rng_for(self, direction: str, index: int) -> random.Random:
        """The generator of connection number ``index`` in ``direction`` (repeatable with a seed)."""
        return _rng(self._seed, self.impairments[direction], f"{direction}:{index}")

    async def start(self) -> None:
        """Listen and start relaying."""
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        self._epochs = {d: now for d in DIRECTIONS}
        host, port = self._listen_addr
        self._server = await loop.create_server(self._accept, host, port)
        self._watch_outages()
        if self._timeline is not None:
            self.run_timeline(self._timeline)

    def _accept(self) -> _Side:
        index = next(self._index)
        pipe = _TcpPipe(self, index)
        self._pipes.add(pipe)
        self.connections_total += 1
        return pipe.client

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        self._timelines.cancel()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpLink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> Address:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("link not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return (host, port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._pipes)

    def impairment(self, direction: str) -> Impairment:
        return self.impairments[_directions(direction)[0]]

    def set_impairment(self, direction: str, impairment: Impairment) -> None:
        """Apply ``impairment`` from now on to ``forward``, ``reverse`` or ``both`` directions, for open
        connections as for new ones."""
        impairment.validate()
        now = self._loop.time() if self._loop is not None else 0.0
        for d in _directions(direction):
            self.impairments[d] = impairment
            self._epochs[d] = now
            for pipe in list(self._pipes):
                pipe.set_impairment(d, impairment)
        logger.info("%s %s impairment: %s", self.name, direction, impairment.summary())
        self._watch_outages()

    def run_timeline(self, timeline: Timeline, direction: str = BOTH) -> asyncio.Event:
        """Run ``timeline`` from now over the impairments in force; returns an event set at its end."""
        bases = {d: self.impairments[d] for d in _directions(direction)}
        self._timelines.run(timeline, bases, self.set_impairment)
        return self._timelines.done

    def reset_outage_now(self) -> bool:
        """Whether a reset outage is in force in either direction (new connections are refused)."""
        if self._loop is None:
            return False
        now = self._loop.time()
        for d in DIRECTIONS:
            imp = self.impairments[d]
            if imp.outage_mode == "reset" and imp.outage_at(now - self._epochs[d]):
                return True
        return False

    def _watch_outages(self) -> None:
        """Cut connections when a recurring reset outage starts, even if no bytes flow then."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        starts = []
        for d in DIRECTIONS:
            imp = self.impairments[d]
            if imp.outage_mode != "reset":
                continue
            start = imp.next_outage_start(now - self._epochs[d])
            if start is not None:
                starts.append(self._epochs[d] + start)
        if starts:
            self._watch = loop.call_at(min(starts) + 0.0001, self._outage_started)

    def _outage_started(self) -> None:
        self._watch = None
        if self.reset_outage_now():
            for pipe in list(self._pipes):
                pipe.reset("outage")
        self._watch_outages()

    def pipe_closed(self, pipe: _TcpPipe) -> None:
        self._pipes.discard(pipe)

    def stats(self) -> dict[str, Any]:
        """Counters per direction, plus connections and resets."""
        out: dict[str, Any] = {
            "connections": len(self._pipes),
            "connections_total": self.connections_total,
            "resets": self.resets,
        }
        for d in DIRECTIONS:
            out[d] = self.counters[d].to_dict()
        return out


__all__ = ["BOTH", "FORWARD", "REVERSE", "DirectionCounters", "TcpLink", "UdpLink"]
