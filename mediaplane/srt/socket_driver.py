"""The asyncio side every SRT endpoint shares: the UDP socket drained in batches with kernel receive
times (:class:`UdpSocket`), a timer per endpoint for all its connections (:class:`Ticker`; every
ticker of a loop on one loop timer, :class:`_TickClock`), the :class:`Driver` that pumps one sans-IO
:class:`~.connection.SrtConnection` into them, and the loop that sends a hub subscription over a
connection (:class:`SubscriptionFeed`). Used by :mod:`.endpoint` (listener) and :mod:`.caller`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import struct
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ..looptime import call_at_clock, clock
from ..relay.hub import HubSignal, HubUnit, Subscription
from ..udp import GRO_ANC_BYTES, BatchSender, enable_gro, gro_segment_size, split_gro
from .config import SrtConfig
from .connection import SrtConnection
from .events import Event

logger = logging.getLogger(__name__)

_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else None)
_TIMESPEC = struct.Struct("@qq")
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
MAX_DATAGRAM_BYTES = 65536
DRAIN_BUDGET = 32
"""Datagrams read per wake-up of a socket before the loop gets a turn for everything else. Past
capacity every socket is always readable: a small budget keeps one loop iteration (every ready
socket's drain) short, so timers (ACK, NAK, TSBPD release) keep their timing and what the loop
cannot take is dropped by the kernel, in proportion, rather than delayed for everybody."""
TICK_S = 0.004
"""Granularity of the endpoints' shared timer (:class:`_TickClock`): it fires at the earliest deadline
of any connection, but no sooner than this after its last firing, so TSBPD releases, ACKs and NAKs
of busy connections are batched instead of one timer per packet (ACKs are due every 10 ms, the
latency is 120 ms or more)."""
_TIMER_SLACK_S = 0.0005


def tune_socket(sock: socket.socket, config: SrtConfig) -> None:
    for force, plain, size in (
        (_SO_RCVBUFFORCE, socket.SO_RCVBUF, config.udp_recv_buffer_bytes),
        (_SO_SNDBUFFORCE, socket.SO_SNDBUF, config.udp_send_buffer_bytes),
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, size)


def seeded_rng() -> random.Random:
    return random.Random(int.from_bytes(os.urandom(16), "big"))


class UdpSocket:
    """A non-blocking UDP socket read through ``loop.add_reader`` (asyncio and uvloop alike).

    Each wake-up drains up to :data:`DRAIN_BUDGET` datagrams, each handed to ``on_datagram(data,
    addr, at)`` with ``at`` the kernel's receive time (``SO_TIMESTAMPNS``) on the :data:`clock`, so
    the RTT and loss timing the connections measure do not include the time a datagram waited for a
    busy loop; then ``on_drained(now)`` runs once, where the owner pumps the connections it touched.
    A coalesced read (``UDP_GRO``: a peer's GSO run) counts as the datagrams it holds. Sends go straight
    to the socket, a connection's batch as GSO runs (:meth:`send_batch`); a full socket buffer drops
    the datagram (as the network would) and counts it in :attr:`send_dropped`."""

    def __init__(
        self,
        sock: socket.socket,
        on_datagram: Callable[[bytes, Any, float], None],
        on_drained: Callable[[float], None],
        *,
        connected: bool = False,
    ) -> None:
        self.sock = sock
        self.on_datagram = on_datagram
        self.on_drained = on_drained
        self.connected = connected
        self.loop = asyncio.get_running_loop()
        self.send_dropped = 0
        self.closed = False
        self._stamps = False
        if _SO_TIMESTAMPNS is not None and _ANC_SIZE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._stamps = True
            except OSError:
                self._stamps = False
        # Coalesced reads of a sender's GSO runs (ours: the peer endpoints and the backbone link).
        self._gro = enable_gro(sock)
        self._anc = (_ANC_SIZE if self._stamps else 0) + (GRO_ANC_BYTES if self._gro else 0)
        self._sender = BatchSender(sock)
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock = self.sock
        on_datagram = self.on_datagram
        anc_size = self._anc
        gro = self._gro
        now = clock()
        # Kernel stamps are CLOCK_REALTIME: moved onto the monotonic clock with one offset per wake-up.
        offset = time.time() - now
        unpack = _TIMESPEC.unpack_from
        budget = DRAIN_BUDGET
        while budget > 0:
            try:
                if anc_size:
                    data, anc, _flags, addr = sock.recvmsg(MAX_DATAGRAM_BYTES, anc_size)
                    at = now
                    for level, kind, value in anc:
                        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                            sec, nsec = unpack(value)
                            at = sec + nsec * 1e-9 - offset
                            if not now - 1.0 < at <= now:
                                at = now
                    segment = gro_segment_size(anc) if gro and anc else 0
                else:
                    data, addr = sock.recvfrom(MAX_DATAGRAM_BYTES)
                    at = now
                    segment = 0
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                # ICMP errors (port unreachable) surface on the next read of a connected socket.
                logger.debug("UDP receive error: %s", exc)
                break
            if segment and len(data) > segment:
                pieces = split_gro(data, segment)
                budget -= len(pieces)
                for piece in pieces:
                    on_datagram(piece, addr, at)
                    if self.closed:
                        return
                continue
            budget -= 1
            on_datagram(data, addr, at)
            if self.closed:
                return
        self.on_drained(clock())

    def sendto(self, data: bytes, addr: Any) -> None:
        try:
            if self.connected:
                self.sock.send(data)
            else:
                self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.send_dropped += 1
        except OSError as exc:
            if not self.closed:
                logger.debug("UDP send error: %s", exc)

    def send_batch(self, datagrams: list[bytes], addr: Any) -> None:
        """Send ``datagrams`` in order, consecutive ones of a size in one GSO call (:mod:`..udp`)."""
        sender = self._sender
        self.send_dropped += sender.send(datagrams, None if self.connected else addr)
        if sender.last_error is not None:
            if not self.closed:
                logger.debug("UDP send error: %s", sender.last_error)
            sender.last_error = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _TickClock:
    """The one loop timer behind every :class:`Ticker` of an event loop: it fires at the earliest
    deadline any ticker wants, no sooner than :data:`TICK_S` after its previous firing, and runs every
    ticker that is due. One timer per event loop instead of one per endpoint: a relay has four SRT
    endpoints per chain, and their separate timers cost more wake-ups than the packets did at a few
    chains (issue 9); a connection's timing is bounded by ``TICK_S`` either way."""

    __slots__ = ("__weakref__", "_at", "_firing", "_handle", "_last_fire", "loop", "wanting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.wanting: set[Ticker] = set()
        """Tickers with a deadline (their ``_at``)."""
        self._handle: asyncio.TimerHandle | None = None
        self._at = float("inf")
        self._last_fire = float("-inf")
        self._firing = False

    def want(self, ticker: Ticker, at: float) -> None:
        self.wanting.add(ticker)
        if not self._firing and at < self._at - _TIMER_SLACK_S:
            self._arm(at)

    def drop(self, ticker: Ticker) -> None:
        self.wanting.discard(ticker)
        if not self.wanting and self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._at = float("inf")

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        at = max(at, self._last_fire + TICK_S)
        self._at = at
        self._handle = call_at_clock(self.loop, at, self._fire)  # never early on uvloop either

    def _fire(self) -> None:
        self._handle = None
        self._at = float("inf")
        now = clock()
        self._last_fire = now
        due = now + _TIMER_SLACK_S
        self._firing = True
        try:
            for ticker in [t for t in self.wanting if t._at <= due]:
                ticker._fire(now)
        finally:
            self._firing = False
        earliest = float("inf")
        for ticker in list(self.wanting):
            if ticker._at == float("inf"):
                self.wanting.discard(ticker)
            elif ticker._at < earliest:
                earliest = ticker._at
        if earliest != float("inf"):
            self._arm(earliest)


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TickClock] = weakref.WeakKeyDictionary()


class Ticker:
    """The timer of one endpoint's connections (:class:`Driver`): it runs every connection that is due
    at their earliest deadline (``get_timer()``), on the loop's shared :class:`_TickClock`, so no
    sooner than :data:`TICK_S` after the previous firing of any endpoint's ticker."""

    __slots__ = ("_at", "_clock", "drivers")

    def __init__(self, drivers: Callable[[], Iterable[Driver]]) -> None:
        self.drivers = drivers
        loop = asyncio.get_running_loop()
        tick_clock = _clocks.get(loop)
        if tick_clock is None:
            tick_clock = _clocks[loop] = _TickClock(loop)
        self._clock = tick_clock
        self._at = float("inf")

    def want(self, at: float) -> None:
        """Make sure the timer fires by ``at`` (monotonic seconds, :data:`clock`)."""
        if at < self._at:
            self._at = at
            self._clock.want(self, at)

    def _fire(self, now: float) -> None:
        self._at = float("inf")
        due = now + _TIMER_SLACK_S
        earliest = float("inf")
        for driver in list(self.drivers()):
            t = driver.deadline
            if t is not None and t <= due:
                try:
                    driver.conn.handle_timer(now)
                except Exception:  # a bug in one connection must not stop the others' timers
                    logger.exception("SRT connection timer failed; closing %s", driver.addr)
                    driver.conn.close(now, "internal error in its timer")
                driver.pump(now)  # its want() may lower self._at below what this loop finds
                t = driver.deadline
            if t is not None and t < earliest:
                earliest = t
        if earliest < self._at:
            self._at = earliest
            self._clock.want(self, earliest)

    def cancel(self) -> None:
        self._at = float("inf")
        self._clock.drop(self)


class Driver:
    """Runs one connection: its output goes straight to the socket, its events to ``on_event``, its
    timer is its endpoint's :class:`Ticker`."""

    __slots__ = ("addr", "conn", "deadline", "dirty", "on_event", "sock", "ticker")

    def __init__(
        self, conn: SrtConnection, sock: UdpSocket, ticker: Ticker, on_event: Callable[[Event], None]
    ) -> None:
        self.conn = conn
        self.sock = sock
        self.ticker = ticker
        self.on_event = on_event
        self.addr = conn.peer_addr
        self.deadline: float | None = None
        self.dirty = False
        """Fed datagrams since the last pump (the owner pumps it once per socket wake-up)."""

    def pump(self, now: float | None = None) -> None:
        conn = self.conn
        self.dirty = False
        if now is None:
            now = clock()
        out = conn.datagrams_to_send(now)
        if out and not self.sock.closed:
            if len(out) == 1:
                self.sock.sendto(out[0], self.addr)
            else:
                self.sock.send_batch(out, self.addr)
        ev = conn.next_event()
        while ev is not None:
            self.on_event(ev)
            ev = conn.next_event()
        if conn.closed:
            self.deadline = None
            return
        t = self.deadline = conn.get_timer()
        if t is not None:
            self.ticker.want(t)

    def cancel(self) -> None:
        self.deadline = None


def split_payload(payload: bytes, size: int) -> list[bytes]:
    if len(payload) <= size:
        return [payload]
    return [payload[i : i + size] for i in range(0, len(payload), size)]


class SubscriptionFeed:
    """Sends every unit of ``sub`` over ``driver``'s connection until the hub closes, or, with
    ``on_unpublished``, until its publisher leaves: then the connection closes (SHUTDOWN, so the peer's
    player ends as an RTMP player does on UnpublishNotify) and ``on_unpublished`` runs.

    No task per output: the subscription's listener schedules one drain per loop iteration, which
    sends everything queued and pumps once (issue 9: a task woken through a future per hub feed cost a
    future, a task step and a ``getpid`` per wake-up). :meth:`cancel` stops it."""

    __slots__ = ("_done", "_scheduled", "driver", "loop", "on_closed", "on_unpublished", "sub")

    def __init__(
        self,
        sub: Subscription,
        driver: Driver,
        on_closed: Callable[[], None],
        on_unpublished: Callable[[], None] | None = None,
    ) -> None:
        self.sub = sub
        self.driver = driver
        self.on_closed = on_closed
        self.on_unpublished = on_unpublished
        self.loop = asyncio.get_running_loop()
        self._scheduled = False
        self._done = False
        sub.set_listener(self._schedule)

    def _schedule(self) -> None:
        if not self._scheduled and not self._done:
            self._scheduled = True
            self.loop.call_soon(self._drain)

    def cancel(self) -> None:
        if not self._done:
            self._done = True
            self.sub.set_listener(None)

    def _drain(self) -> None:
        self._scheduled = False
        if self._done:
            return
        driver = self.driver
        conn = driver.conn
        if conn.closed:
            self.cancel()
            return
        try:
            self._send_queued(driver, conn)
        except Exception:  # a bug in one output must not take the loop down
            logger.exception("SRT output feed failed; closing %s", driver.addr)
            self.cancel()
            conn.close(clock(), "internal error in its feed")
            driver.pump()

    def _send_queued(self, driver: Driver, conn: SrtConnection) -> None:
        sub = self.sub
        size = conn.config.payload_size
        now = clock()
        item = sub.get_nowait()
        while item is not None:
            if isinstance(item, HubUnit):
                payload = item.payload
                if isinstance(payload, (bytes, bytearray, memoryview)):
                    if len(payload) <= size:
                        conn.send(bytes(payload), now)
                    else:
                        for chunk in split_payload(bytes(payload), size):
                            conn.send(chunk, now)
            elif item is HubSignal.CLOSED:
                self._end(driver, conn, now, "stream closed", self.on_closed)
                return
            elif item is HubSignal.UNPUBLISHED and self.on_unpublished is not None:
                self._end(driver, conn, now, "source unpublished", self.on_unpublished)
                return
            item = sub.get_nowait()
        driver.pump(now)

    def _end(
        self, driver: Driver, conn: SrtConnection, now: float, reason: str, then: Callable[[], None]
    ) -> None:
        self.cancel()
        conn.close(now, reason)
        driver.pump(now)
        then()
