"""A userspace datagram relay on real sockets: the asyncio adapter of the UDP impairment model.

:class:`UdpLink` relays datagrams between its listening socket and a target; every client address gets
its own upstream socket, so the target sees one peer per client as it would through a NAT. Each
direction has its own model, so ``forward`` (client -> target) and ``reverse`` (target -> client) can be
impaired differently.

The datapath has no protocol objects and no callback per datagram: ``loop.add_reader`` on each socket,
and each wake-up drains up to ``UDP_READ_BATCH`` datagrams with ``recvfrom`` (measured faster than
``recvfrom_into`` plus the copy a queued datagram needs). Every datagram goes into its direction's
:class:`~mediaplane.netem.schedule.DeliveryQueue` (a FIFO for a constant delay, the backbone's case; a
heap only for what jitter or reordering moves ahead), and the pump that ends each wake-up sends what is
due straight on the socket and arms one :class:`~mediaplane.netem.link_base.DeliveryTimer` for the
earliest deadline left. It runs on any loop that implements ``add_reader`` (asyncio's, uvloop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import Any

from ..udp import GRO_ANC_BYTES, BatchSender, enable_gro, gro_segment_size, split_gro
from .link_base import Address, DeliveryTimer, Link, LinkKind, both_directions, clock
from .models import Impairment, UdpModel
from .schedule import (
    DELIVER_AHEAD_S,
    DIRECTIONS,
    FORWARD,
    INFINITY,
    REVERSE,
    DeliveryQueue,
    DirectionCounters,
    LinkDirection,
    directions,
    link_rng,
)
from .timeline import Timeline

logger = logging.getLogger(__name__)


UDP_READ_BATCH = 64
"""Datagrams read per readiness event before yielding to the loop (small, so due deliveries wait at most
one batch behind a flood of arrivals)."""
UDP_MAX_DATAGRAM_BYTES = 65535
"""Largest datagram relayed."""
UDP_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
"""Requested SO_RCVBUF / SO_SNDBUF of the relay sockets (the kernel may cap it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One datagram through a :class:`UdpLink`, in seconds on the links' clock (``link_base.clock``)."""

    forward: bool
    """Client -> target (else target -> client)."""
    arrived_at: float
    """When the link read it."""
    scheduled_at: float
    """The send time the model computed for it."""
    sent_at: float
    """When the link handed it to the socket (at most ``DELIVER_AHEAD_S`` before ``scheduled_at``)."""


class _UdpSession:
    """One client address and its upstream socket."""

    __slots__ = ("addr", "closed", "gro", "last_active", "sender", "sock")

    def __init__(self, addr: Address, sock: socket.socket, now: float) -> None:
        self.addr = addr
        self.sock = sock
        self.sender = BatchSender(sock)
        self.gro = enable_gro(sock)
        self.last_active = now
        self.closed = False


_Entry = tuple[float, bytes, _UdpSession, float]
"""A queued datagram: (send time, data, session, arrival time)."""
_Read = tuple[bytes, int, _UdpSession]
"""One read of a wake-up: (data, GRO segment size or 0, session)."""


class UdpLink(Link):
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
        forward, reverse = both_directions(impairment, reverse_impairment)
        super().__init__(kind=LinkKind.UDP, target=target, listen=listen, timeline=timeline, name=name)
        self.idle_timeout_s = idle_timeout_s
        self.models = {
            FORWARD: UdpModel(forward, rng=link_rng(seed, forward, FORWARD)),
            REVERSE: UdpModel(reverse, rng=link_rng(seed, reverse, REVERSE)),
        }
        self.counters = {FORWARD: DirectionCounters(), REVERSE: DirectionCounters()}
        self.lateness: list[float] | None = [] if record_lateness else None
        self.deliveries: list[Delivery] | None = [] if record_deliveries else None
        self._sock: socket.socket | None = None
        self._listen_sender: BatchSender | None = None
        self._gro = False
        self._sessions: dict[Address, _UdpSession] = {}
        self._forward: DeliveryQueue[_Entry] = DeliveryQueue()
        self._reverse: DeliveryQueue[_Entry] = DeliveryQueue()
        self._timer: DeliveryTimer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<UdpLink {self.name} port={self.port if self._sock else None} clients={len(self._sessions)}>"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listening socket and start relaying."""
        loop = self._loop = asyncio.get_running_loop()
        now = clock()
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
        self._listen_sender = BatchSender(sock)
        self._gro = enable_gro(sock)
        self._timer = DeliveryTimer(loop, self._pump)
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
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for session in list(self._sessions.values()):
            self._close_session(session)
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            self._listen_sender = None
        self._forward.clear()
        self._reverse.clear()
        for counters in self.counters.values():
            counters.queued = counters.queued_bytes = 0

    @property
    def address(self) -> Address:
        """Where clients send: the bound listening address."""
        if self._sock is None:
            raise RuntimeError("link not started")
        host, port = self._sock.getsockname()[:2]
        return (host, port)

    @property
    def clients(self) -> int:
        """Client addresses currently mapped to an upstream socket."""
        return len(self._sessions)

    # -- control ---------------------------------------------------------------------------------

    def impairment(self, direction: LinkDirection) -> Impairment:
        """The impairment in force in ``direction`` (``forward`` or ``reverse``)."""
        return self.models[directions(direction)[0]].impairment

    def set_impairment(self, direction: LinkDirection, impairment: Impairment) -> None:
        """Apply ``impairment`` from now on to ``forward``, ``reverse`` or ``both`` directions.

        Datagrams already queued keep their send times. Raises :class:`ImpairmentError`.
        """
        impairment.validate()
        now = clock()
        for d in directions(direction):
            self.models[d].set_impairment(impairment, now)
        logger.info("%s %s impairment: %s", self.name, direction, impairment.summary())

    def stats(self) -> dict[str, Any]:
        """Counters per direction, with the model's own counters under ``model``."""
        out: dict[str, Any] = {"clients": len(self._sessions)}
        for d in DIRECTIONS:
            row: dict[str, Any] = self.counters[d].to_dict()
            row["model"] = self.models[d].counters.to_dict()
            out[d.value] = row  # plain str keys, as the stats always had
        return out

    # -- datapath --------------------------------------------------------------------------------

    def _on_listen_readable(self) -> None:
        sock = self._sock
        if sock is None or self._loop is None:
            return
        now = clock()
        gro = self._gro
        recvfrom = sock.recvfrom
        recvmsg = sock.recvmsg
        sessions = self._sessions
        reads: list[_Read] = []
        for _ in range(UDP_READ_BATCH):
            try:
                if gro:
                    data, anc, _flags, addr = recvmsg(UDP_MAX_DATAGRAM_BYTES, GRO_ANC_BYTES)
                    segment = gro_segment_size(anc) if anc else 0
                else:
                    data, addr = recvfrom(UDP_MAX_DATAGRAM_BYTES)
                    segment = 0
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP errors reported on the socket
                logger.debug("%s listen socket error: %s", self.name, exc)
                continue
            session = sessions.get(addr)
            if session is None:
                addr = (addr[0], addr[1])  # IPv6 addresses come with flowinfo and scope id
                session = sessions.get(addr) or self._open_session(addr, now)
                if session is None:
                    continue
            session.last_active = now
            reads.append((data, segment, session))
        self._admit(FORWARD, reads, now)

    def _on_upstream_readable(self, session: _UdpSession) -> None:
        if self._loop is None or session.closed:
            return
        now = clock()
        session.last_active = now
        gro = session.gro
        recv = session.sock.recv
        recvmsg = session.sock.recvmsg
        reads: list[_Read] = []
        for _ in range(UDP_READ_BATCH):
            try:
                if gro:
                    data, anc, _flags, _addr = recvmsg(UDP_MAX_DATAGRAM_BYTES, GRO_ANC_BYTES)
                    segment = gro_segment_size(anc) if anc else 0
                else:
                    data = recv(UDP_MAX_DATAGRAM_BYTES)
                    segment = 0
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ECONNREFUSED: the target is not listening (ICMP port unreachable)
                logger.debug("%s upstream for %s: %s", self.name, session.addr, exc)
                continue
            reads.append((data, segment, session))
        self._admit(REVERSE, reads, now)

    def _admit(self, direction: LinkDirection, reads: list[_Read], now: float) -> None:
        """Impair one wake-up's reads datagram by datagram (a coalesced GRO read holds one sender's
        datagrams: each is decided on its own), queue them, count once and pump."""
        decide = self.models[direction].decide
        push = (self._forward if direction is FORWARD else self._reverse).push
        received = received_bytes = dropped = queued = queued_bytes = 0
        for data, segment, session in reads:
            for piece in split_gro(data, segment) if segment else (data,):
                size = len(piece)
                received += 1
                received_bytes += size
                times = decide(size, now)
                if not times:
                    dropped += 1
                    continue
                for t in times:
                    push((t, piece, session, now))
                    queued += 1
                    queued_bytes += size
        self._count(self.counters[direction], received, received_bytes, dropped, queued, queued_bytes)
        self._pump()

    @staticmethod
    def _count(
        c: DirectionCounters, received: int, received_bytes: int, dropped: int, queued: int, queued_bytes: int
    ) -> None:
        """Add one wake-up's reads to the counters (once per batch, not per datagram)."""
        c.packets_in += received
        c.bytes_in += received_bytes
        c.dropped += dropped
        c.queued += queued
        c.queued_bytes += queued_bytes

    def _pump(self) -> None:
        """Send what is due (a busy loop may reach us late), then arm the timer for the earliest rest."""
        loop = self._loop
        timer = self._timer
        if loop is None or timer is None:
            return
        forward, reverse = self._forward, self._reverse
        while True:
            limit = clock() + DELIVER_AHEAD_S
            due = forward.pop_due(limit)
            if due:
                self._send_all(due, True)
            back = reverse.pop_due(limit)
            if back:
                self._send_all(back, False)
            if not due and not back:
                break
        nxt = min(forward.next_due(), reverse.next_due())
        if nxt < INFINITY:
            timer.arm(nxt)

    def _send_all(self, entries: list[_Entry], forward: bool) -> None:
        """Send ``entries`` on (forward: on each session's upstream socket; reverse: from the listening
        socket to each client), each session's consecutive datagrams as GSO runs (:mod:`..udp`). A
        socket that refuses one counts it as dropped. While lateness or deliveries are recorded, each
        datagram goes out on its own so that its send time is its own."""
        if self._loop is None or self._listen_sender is None:
            return
        if self.lateness is not None or self.deliveries is not None:
            self._send_each(entries, forward)
            return
        c = self.counters[FORWARD if forward else REVERSE]
        listen = self._listen_sender
        sent = sent_bytes = refused = size_total = 0
        n = len(entries)
        i = 0
        while i < n:
            session = entries[i][2]
            j = i + 1
            while j < n and entries[j][2] is session:
                j += 1
            datagrams = [e[1] for e in entries[i:j]]
            nbytes = sum(map(len, datagrams))
            size_total += nbytes
            i = j
            if session.closed:
                continue  # the session was closed meanwhile
            sender = session.sender if forward else listen
            sender.refused_bytes = 0
            lost = sender.send(datagrams, None if forward else session.addr)
            if sender.last_error is not None:
                logger.debug("%s send failed: %s", self.name, sender.last_error)
                sender.last_error = None
            refused += lost
            sent += len(datagrams) - lost
            sent_bytes += nbytes - sender.refused_bytes
        c.queued -= n
        c.queued_bytes -= size_total
        c.delivered += sent
        c.bytes_delivered += sent_bytes
        c.dropped += refused

    def _send_each(self, entries: list[_Entry], forward: bool) -> None:
        """:meth:`_send_all` one datagram per call, recording each one's lateness and delivery."""
        sock = self._sock
        if sock is None:
            return
        c = self.counters[FORWARD if forward else REVERSE]
        lateness, deliveries = self.lateness, self.deliveries
        record = lateness is not None or deliveries is not None
        sendto = sock.sendto
        sent = sent_bytes = refused = size_total = 0
        for t, data, session, arrived in entries:
            size_total += len(data)
            if session.closed:
                continue  # the session was closed meanwhile
            try:
                if forward:
                    session.sock.send(data)
                else:
                    sendto(data, session.addr)
            except (BlockingIOError, InterruptedError):
                refused += 1  # socket buffer full: the kernel would drop it too
                ok = False
            except OSError as exc:
                refused += 1
                ok = False
                logger.debug("%s send failed: %s", self.name, exc)
            else:
                sent += 1
                sent_bytes += len(data)
                ok = True
            if record:
                at = clock()
                if lateness is not None:
                    lateness.append(at - t)
                if ok and deliveries is not None:
                    deliveries.append(
                        Delivery(forward=forward, arrived_at=arrived, scheduled_at=t, sent_at=at)
                    )
        c.queued -= len(entries)
        c.queued_bytes -= size_total
        c.delivered += sent
        c.bytes_delivered += sent_bytes
        c.dropped += refused

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
        self._loop.add_reader(sock.fileno(), self._on_upstream_readable, session)
        logger.debug("%s new client %s via %s", self.name, addr, sock.getsockname())
        return session

    def _close_session(self, session: _UdpSession) -> None:
        self._sessions.pop(session.addr, None)
        if session.closed:
            return
        session.closed = True
        if self._loop is not None:
            self._loop.remove_reader(session.sock.fileno())
        session.sock.close()

    def _sweep(self) -> None:
        if self._loop is None:
            return
        now = clock()
        for session in list(self._sessions.values()):
            if now - session.last_active > self.idle_timeout_s:
                logger.debug("%s client %s idle, closing its upstream", self.name, session.addr)
                self._close_session(session)
        self._sweeper = self._loop.call_later(self.idle_timeout_s / 4, self._sweep)


def _grow_buffers(sock: socket.socket) -> None:
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, UDP_SOCKET_BUFFER_BYTES)


__all__ = ["UDP_MAX_DATAGRAM_BYTES", "UDP_READ_BATCH", "UDP_SOCKET_BUFFER_BYTES", "Delivery", "UdpLink"]
