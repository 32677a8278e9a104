"""asyncio adapters: :class:`SrtListener` (one UDP socket, many callers) and :class:`SrtCaller`.

Thin by design (STYLE.md): datagrams go into the sans-IO :class:`SrtConnection`, its datagrams go out,
its events feed or drain a :class:`~mediaplane.relay.hub.Hub`. Per endpoint (listener or caller) one
UDP socket is read with ``loop.add_reader`` and drained in batches (:class:`_UdpSocket`: kernel receive
times, the touched connections pumped once per wake-up, sends straight to the socket), and one timer
(:class:`_Ticker`) runs the ``handle_timer`` of all its connections. Payloads are MPEG-TS units of
up to 1316 bytes, carried as ``HubUnit(kind=UnitKind.FRAME, payload=bytes)``, or
``UnitKind.KEYFRAME`` when the unit starts a video random access point (:func:`.mpegts.ts_unit_kind`),
so a subscriber that lagged or was forbidden resumes on a decodable picture.
"""

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
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from ..relay.hub import Hub, HubClosed, HubSignal, HubUnit, PublisherBusy, Subscription
from ..relay.routing import Peer, Refused, StreamPath, StreamRouter
from .acceptor import SrtAcceptor
from .config import HandshakeLimits, SrtConfig
from .connection import SrtConnection
from .errors import ConnectionRejected, ConnectTimeout, RejectReason, SrtError
from .events import ConnectionClosed, ConnectionEstablished, Event, PayloadReceived
from .mpegts import ts_unit_kind
from .packet import HEADER_SIZE
from .stats import SrtStats
from .streamid import StreamMode, parse_stream_id

logger = logging.getLogger(__name__)

AcceptHook = Callable[[str, Peer], "int | None"]
"""``hook(stream_id, peer)``: return None to accept, a reject code (``RejectReason``) to refuse;
raising :class:`~mediaplane.relay.routing.Refused` refuses too."""

REFUSED_CODES: dict[str, int] = {
    "forbidden": RejectReason.X_FORBIDDEN,
    "not_found": RejectReason.X_NOTFOUND,
    "busy": RejectReason.X_CONFLICT,
    "unavailable": RejectReason.X_DOWN,
}
"""Router ``Refused.code`` -> the SRT access-control reject code sent to the caller."""

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
"""Granularity of an endpoint's timer: it fires at its connections' earliest deadline, but no sooner
than this after its last firing, so TSBPD releases, ACKs and NAKs of a busy connection are batched
instead of one timer per packet (ACKs are due every 10 ms, the latency is 120 ms or more)."""
_TIMER_SLACK_S = 0.0005

clock = time.monotonic
"""The connections' clock: monotonic seconds (uvloop's ``loop.time()`` has millisecond steps)."""


def _tune_socket(sock: socket.socket, config: SrtConfig) -> None:
    for force, plain, size in (
        (_SO_RCVBUFFORCE, socket.SO_RCVBUF, config.udp_recv_buffer_bytes),
        (_SO_SNDBUFFORCE, socket.SO_SNDBUF, config.udp_send_buffer_bytes),
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, size)


def _seeded_rng() -> random.Random:
    return random.Random(int.from_bytes(os.urandom(16), "big"))


class _UdpSocket:
    """A non-blocking UDP socket read through ``loop.add_reader`` (asyncio and uvloop alike).

    Each wake-up drains up to :data:`DRAIN_BUDGET` datagrams, each handed to ``on_datagram(data,
    addr, at)`` with ``at`` the kernel's receive time (``SO_TIMESTAMPNS``) on the :data:`clock`, so
    the RTT and loss timing the connections measure do not include the time a datagram waited for a
    busy loop; then ``on_drained(now)`` runs once, where the owner pumps the connections it touched.
    Sends go straight to the socket; a full socket buffer drops the datagram (as the network would)
    and counts it in :attr:`send_dropped`."""

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
        self._anc = 0
        if _SO_TIMESTAMPNS is not None and _ANC_SIZE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._anc = _ANC_SIZE
            except OSError:
                self._anc = 0
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock = self.sock
        on_datagram = self.on_datagram
        anc_size = self._anc
        now = clock()
        # Kernel stamps are CLOCK_REALTIME: moved onto the monotonic clock with one offset per wake-up.
        offset = time.time() - now
        unpack = _TIMESPEC.unpack
        for _ in range(DRAIN_BUDGET):
            try:
                if anc_size:
                    data, anc, _flags, addr = sock.recvmsg(MAX_DATAGRAM_BYTES, anc_size)
                    if anc:
                        sec, nsec = unpack(anc[0][2][: _TIMESPEC.size])
                        at = sec + nsec * 1e-9 - offset
                        if not now - 1.0 < at <= now:
                            at = now
                    else:
                        at = now
                else:
                    data, addr = sock.recvfrom(MAX_DATAGRAM_BYTES)
                    at = now
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                # ICMP errors (port unreachable) surface on the next read of a connected socket.
                logger.debug("UDP receive error: %s", exc)
                break
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

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _Ticker:
    """One timer per endpoint for all its connections (:class:`_Driver`): it fires at their earliest
    deadline (``get_timer()``), no sooner than :data:`TICK_S` after its previous firing, and runs
    every connection that is due."""

    def __init__(self, drivers: Callable[[], Iterable[_Driver]]) -> None:
        self.drivers = drivers
        self.loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._at = float("inf")
        self._last_fire = float("-inf")
        self._firing = False
        self._pending = float("inf")

    def want(self, at: float) -> None:
        """Make sure the timer fires by ``at`` (monotonic seconds, :data:`clock`)."""
        if self._firing:
            # A connection already visited in this firing changed its deadline: seen at the end.
            if at < self._pending:
                self._pending = at
            return
        if at < self._at - _TIMER_SLACK_S:
            self._arm(at)

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        at = max(at, self._last_fire + TICK_S)
        self._at = at
        self._handle = self.loop.call_later(max(0.0, at - clock()), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._at = float("inf")
        now = clock()
        self._last_fire = now
        due = now + _TIMER_SLACK_S
        earliest = float("inf")
        self._pending = float("inf")
        self._firing = True
        try:
            for driver in list(self.drivers()):
                t = driver.deadline
                if t is not None and t <= due:
                    driver.conn.handle_timer(now)
                    driver.pump(now)
                    t = driver.deadline
                if t is not None and t < earliest:
                    earliest = t
        finally:
            self._firing = False
        earliest = min(earliest, self._pending)
        if earliest != float("inf"):
            self._arm(earliest)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = float("inf")


class _Driver:
    """Runs one connection: its output goes straight to the socket, its events to ``on_event``, its
    timer is its endpoint's :class:`_Ticker`."""

    __slots__ = ("addr", "conn", "deadline", "dirty", "on_event", "sock", "ticker")

    def __init__(
        self, conn: SrtConnection, sock: _UdpSocket, ticker: _Ticker, on_event: Callable[[Event], None]
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
            sendto = self.sock.sendto
            addr = self.addr
            for d in out:
                sendto(d, addr)
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


def _split(payload: bytes, size: int) -> list[bytes]:
    if len(payload) <= size:
        return [payload]
    return [payload[i : i + size] for i in range(0, len(payload), size)]


async def _drain_subscription(
    sub: Subscription,
    driver: _Driver,
    on_closed: Callable[[], None],
    on_unpublished: Callable[[], None] | None = None,
) -> None:
    """Send every unit of ``sub`` over ``driver``'s connection until the hub closes, or, with
    ``on_unpublished``, until its publisher leaves: then the connection closes (SHUTDOWN, so the peer's
    player ends as an RTMP player does on UnpublishNotify) and ``on_unpublished`` runs."""
    conn = driver.conn
    size = conn.config.payload_size
    while not conn.closed:
        item: HubUnit | HubSignal | None = await sub.get()
        now = clock()
        while item is not None:
            if isinstance(item, HubUnit):
                payload = item.payload
                if isinstance(payload, (bytes, bytearray, memoryview)):
                    if len(payload) <= size:
                        conn.send(bytes(payload), now)
                    else:
                        for chunk in _split(bytes(payload), size):
                            conn.send(chunk, now)
            elif item is HubSignal.CLOSED:
                conn.close(now, "stream closed")
                driver.pump(now)
                on_closed()
                return
            elif item is HubSignal.UNPUBLISHED and on_unpublished is not None:
                conn.close(now, "source unpublished")
                driver.pump(now)
                on_unpublished()
                return
            item = sub.get_nowait()
        driver.pump(now)


class SrtSession:
    """One caller served by an :class:`SrtListener` (what ``.connections`` lists)."""

    def __init__(
        self, listener: SrtListener, conn: SrtConnection, *, path: StreamPath, direction: str
    ) -> None:
        self.listener = listener
        self.conn = conn
        self.path = path
        self.direction = direction
        self.peer: Peer = conn.peer_addr
        self.stream_id = conn.stream_id
        self.hub: Hub | None = None
        self.subscription: Subscription | None = None
        self.driver: _Driver | None = None
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<SrtSession {self.peer[0]}:{self.peer[1]} {self.direction} {str(self.path)!r}>"

    @property
    def stats(self) -> SrtStats:
        return self.conn.stats

    @property
    def connected(self) -> bool:
        return self.conn.connected

    def close(self, reason: str = "closed by server") -> None:
        if self.driver is not None and not self.conn.closed:
            self.conn.close(clock(), reason)
            self.driver.pump()
        self._cleanup()

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, PayloadReceived):
            hub = self.hub
            if hub is not None and not hub.closed:
                p = ev.payload
                hub.feed(
                    HubUnit(
                        kind=ts_unit_kind(p),
                        timestamp_ms=int(self.listener.loop_time() * 1000),
                        size=len(p),
                        payload=p,
                    )
                )
        elif isinstance(ev, ConnectionClosed):
            self._cleanup()

    def _cleanup(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.hub is not None:
            self.hub.release(self)
        if self.subscription is not None:
            self.subscription.close()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.driver is not None:
            self.driver.cancel()
        self.listener._forget(self)


class SrtListener:
    """An SRT listener on one UDP socket serving many callers (demultiplexed by socket id and address).

    ``direction``: ``"publish"`` (callers push into ``router.route_publish``), ``"play"`` (callers
    receive from ``router.route_play``) or ``"streamid"`` (the stream id's ``m=publish`` publishes,
    anything else plays). The stream id's ``r=`` resource (or the whole stream id when it is not in
    ``#!::`` form) is the :class:`StreamPath` key; ``app`` is empty.

    ``limits`` (:class:`~mediaplane.srt.config.HandshakeLimits`) bounds the handshake work done for
    callers that proved nothing yet: inductions and cookie-checked conclusions per source address
    and in total; over a limit they are dropped silently (the caller repeats its handshake). Refused
    callers are logged at INFO up to a budget per interval, then at DEBUG with a summary line.

    ``end_on_unpublish``: a playing caller's connection closes (SHUTDOWN) when its stream's publisher
    leaves (the hub's UNPUBLISHED), so the player ends, as an RTMP player does on UnpublishNotify;
    otherwise it stays connected and resumes when a publisher returns.
    """

    def __init__(
        self,
        router: StreamRouter,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SrtConfig | None = None,
        direction: str = "streamid",
        accept_hook: AcceptHook | None = None,
        name: str = "",
        limits: HandshakeLimits | None = None,
        end_on_unpublish: bool = False,
    ) -> None:
        if direction not in ("publish", "play", "streamid"):
            raise ValueError("direction must be 'publish', 'play' or 'streamid'")
        self.router = router
        self.host = host
        self.port = port
        self.config = (config or SrtConfig()).validate()
        self.direction = direction
        self.accept_hook = accept_hook
        self.end_on_unpublish = end_on_unpublish
        self.name = name
        self._log_prefix = f"[{name}] " if name else ""
        self._rng = _seeded_rng()
        self._acceptor = SrtAcceptor(
            config=self.config, rng=self._rng, limits=limits or HandshakeLimits(), log_prefix=self._log_prefix
        )
        self._sock: _UdpSocket | None = None
        self._ticker: _Ticker | None = None
        self._touched: list[_Driver] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_id: dict[int, SrtSession] = {}
        self._by_peer: dict[tuple[Peer, int], SrtSession] = {}
        self.garbage_datagrams = 0

    def __repr__(self) -> str:
        return f"<SrtListener {self.host}:{self.port} {self.direction} sessions={len(self._by_id)}>"

    def loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    @property
    def connections(self) -> list[SrtSession]:
        return list(self._by_id.values())

    @property
    def acceptor_stats(self) -> Any:
        return self._acceptor.stats

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        infos = await self._loop.getaddrinfo(
            self.host, self.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            _tune_socket(sock, self.config)
            sock.bind(sockaddr)
            self._sock = _UdpSocket(sock, self._on_datagram, self._on_drained)
        except BaseException:
            sock.close()
            raise
        self._ticker = _Ticker(self._drivers)
        self.port = sock.getsockname()[1]
        logger.info("SRT listener on %s:%d (%s)", self.host, self.port, self.direction)

    async def close(self) -> None:
        for session in list(self._by_id.values()):
            session.close("listener closing")
        if self._ticker is not None:
            self._ticker.cancel()
        if self._sock is not None:
            # The SHUTDOWN datagrams left already: sends go straight to the socket.
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> SrtListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def close_path(self, path: StreamPath, reason: str = "closed by server") -> int:
        """Disconnect every caller on ``path``; returns how many."""
        victims = [s for s in self._by_id.values() if s.path == path]
        for s in victims:
            s.close(reason)
        return len(victims)

    def _forget(self, session: SrtSession) -> None:
        conn = session.conn
        if self._by_id.get(conn.socket_id) is session:
            del self._by_id[conn.socket_id]
        key = (session.peer, conn.peer_socket_id)
        if self._by_peer.get(key) is session:
            del self._by_peer[key]

    # -- datagrams ------------------------------------------------------------------------------
    def _drivers(self) -> Iterable[_Driver]:
        for session in self._by_id.values():
            if session.driver is not None:
                yield session.driver

    def _feed(self, driver: _Driver, data: bytes, peer: Peer, at: float) -> None:
        driver.conn.receive_datagram(data, peer, at)
        if not driver.dirty:
            driver.dirty = True
            self._touched.append(driver)

    def _on_drained(self, now: float) -> None:
        touched = self._touched
        if touched:
            self._touched = []
            for driver in touched:
                driver.pump(now)

    def _on_datagram(self, data: bytes, addr: Any, at: float) -> None:
        if len(data) < HEADER_SIZE:
            self.garbage_datagrams += 1
            return
        peer: Peer = (addr[0], addr[1])
        dst = int.from_bytes(data[12:16], "big")
        if dst:
            session = self._by_id.get(dst)
            if session is None or session.peer != peer or session.driver is None:
                self.garbage_datagrams += 1
                return
            self._feed(session.driver, data, peer, at)
            return
        if data[0] != 0x80 or data[1] != 0:
            self.garbage_datagrams += 1
            return
        now = at
        hs = self._acceptor.receive_handshake(data, peer, now)
        self._flush_acceptor()
        if hs is None:
            return
        existing = self._by_peer.get((peer, hs.socket_id))
        if existing is not None and existing.driver is not None:
            self._feed(existing.driver, data, peer, at)
            return
        self._accept(hs, peer, now)

    def _flush_acceptor(self) -> None:
        assert self._sock is not None
        for wire, addr in self._acceptor.datagrams_to_send():
            self._sock.sendto(wire, addr)

    def _accept(self, hs: Any, peer: Peer, now: float) -> None:
        stream_id = hs.stream_id or ""
        try:
            sid = parse_stream_id(stream_id)
        except SrtError as exc:
            logger.log(
                self._refusal_level(now),
                "%srefusing %s:%d: bad stream id %r (%s)",
                self._log_prefix,
                peer[0],
                peer[1],
                stream_id,
                exc,
            )
            self._reject(hs, peer, RejectReason.X_BAD_REQUEST)
            return
        path = StreamPath(app="", key=sid.resource)
        direction = self.direction
        if direction == "streamid":
            direction = "publish" if sid.mode is StreamMode.PUBLISH else "play"
        try:
            if self.accept_hook is not None:
                code = self.accept_hook(stream_id, peer)
                if code is not None:
                    logger.log(
                        self._refusal_level(now),
                        "%saccept hook refused %s:%d (%r): %d",
                        self._log_prefix,
                        peer[0],
                        peer[1],
                        stream_id,
                        code,
                    )
                    self._reject(hs, peer, code)
                    return
            hub: Hub | None = None
            sub: Subscription | None = None
            if direction == "publish":
                hub = self.router.route_publish(path, peer)
            else:
                sub = self.router.route_play(path, peer)
        except Refused as exc:
            logger.log(
                self._refusal_level(now),
                "%srefusing %s:%d for %r: %s",
                self._log_prefix,
                peer[0],
                peer[1],
                stream_id,
                exc.reason,
            )
            self._reject(hs, peer, REFUSED_CODES.get(exc.code, RejectReason.X_FORBIDDEN))
            return
        except HubClosed:
            self._reject(hs, peer, RejectReason.X_DOWN)
            return
        except Exception:
            # A bug in the hook or router must not take the listener down: refuse this caller only.
            logger.exception("accept hook / router failed for %s:%d (%r)", peer[0], peer[1], stream_id)
            self._reject(hs, peer, RejectReason.X_ISE)
            return
        socket_id = self._new_socket_id()
        conn = SrtConnection.accept(
            hs,
            config=self.config,
            rng=self._rng,
            peer_addr=peer,
            now=now,
            socket_id=socket_id,
            log_prefix=f"{self._log_prefix}[srt {peer[0]}:{peer[1]}]",
        )
        if conn.closed:
            # Handshake refused by the core (bad secret, unsecure, version): send the rejection.
            logger.log(
                self._refusal_level(now),
                "%srefusing %s:%d (%r): %s",
                self._log_prefix,
                peer[0],
                peer[1],
                stream_id,
                conn.close_reason,
            )
            self._acceptor.stats.rejected += 1
            assert self._sock is not None
            for d in conn.datagrams_to_send(now):
                self._sock.sendto(d, peer)
            if sub is not None:
                sub.close()
            return
        session = SrtSession(self, conn, path=path, direction=direction)
        if hub is not None:
            try:
                hub.claim(session)
            except (PublisherBusy, HubClosed) as exc:
                code = RejectReason.X_CONFLICT if isinstance(exc, PublisherBusy) else RejectReason.X_DOWN
                logger.log(
                    self._refusal_level(now),
                    "%srefusing publisher %s:%d on %s: %s",
                    self._log_prefix,
                    peer[0],
                    peer[1],
                    path,
                    type(exc).__name__,
                )
                self._reject(hs, peer, code)
                return
            session.hub = hub
        assert self._sock is not None and self._ticker is not None
        driver = _Driver(conn, self._sock, self._ticker, session.on_event)
        session.driver = driver
        self._by_id[socket_id] = session
        self._by_peer[(peer, hs.socket_id)] = session
        if sub is not None:
            session.subscription = sub
            unpublished = (lambda: session.close("source unpublished")) if self.end_on_unpublish else None
            session.task = asyncio.get_running_loop().create_task(
                _drain_subscription(sub, driver, lambda: session.close("stream closed"), unpublished)
            )
        driver.pump(clock())

    def _refusal_level(self, now: float) -> int:
        return self._acceptor.refusal_log_level(now)

    def _reject(self, hs: Any, peer: Peer, code: int) -> None:
        self._acceptor.reject(hs, peer, code)
        self._flush_acceptor()

    def _new_socket_id(self) -> int:
        while True:
            sid = self._rng.randrange(1, 1 << 31)
            if sid not in self._by_id:
                return sid


class SrtCaller:
    """An SRT caller. ``direction="publish"`` sends ``hub``'s units to the remote listener (it
    subscribes itself, again after each reconnect); ``"receive"`` claims ``hub`` and feeds it with
    what the remote sends.

    Without a ``hub`` (receive only) a private ``Hub(cache_gop=False)`` is made and
    :meth:`payloads` yields the received payload bytes. With ``reconnect=True`` the caller retries
    with exponential backoff capped at ``max_backoff_s`` and :meth:`start` returns at once;
    otherwise :meth:`start` raises :class:`ConnectionRejected` (with the peer's reason) or
    :class:`ConnectTimeout`.

    ``end_on_unpublish`` (publish): when the hub's publisher leaves, the connection closes (SHUTDOWN),
    so the remote's players end as RTMP players do on UnpublishNotify; with ``reconnect`` the caller
    dials again once the hub has a publisher again, subscribed before dialing so that what the source
    sends during the handshake is queued, not lost. ``claim_on_media`` (receive): the caller claims
    the hub at the first payload rather than at the handshake, so a connection that carries nothing
    (a remote without a source) is not the hub's publisher; and it gives the hub up after
    ``media_gap_s`` without a payload (SRT has no unpublish message: a remote that stays connected but
    sends nothing has lost its source), claiming it again at the next payload.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        config: SrtConfig | None = None,
        hub: Hub | None = None,
        direction: str = "receive",
        reconnect: bool = False,
        max_backoff_s: float = 10.0,
        local_addr: tuple[str, int] | None = None,
        name: str = "",
        end_on_unpublish: bool = False,
        claim_on_media: bool = False,
        media_gap_s: float = 2.0,
    ) -> None:
        if direction not in ("publish", "receive"):
            raise ValueError("direction must be 'publish' or 'receive'")
        if hub is None and direction == "publish":
            raise ValueError("a publishing caller needs a hub")
        self.host = host
        self.port = port
        self.config = (config or SrtConfig()).validate()
        self.direction = direction
        self.reconnect = reconnect
        self.max_backoff_s = max_backoff_s
        self.local_addr = local_addr
        self.end_on_unpublish = end_on_unpublish and direction == "publish"
        self.claim_on_media = claim_on_media and direction == "receive"
        self.media_gap_s = media_gap_s
        self._await_source = False
        self._early_sub: Subscription | None = None
        self._last_payload_at = 0.0
        self._gap_timer: asyncio.TimerHandle | None = None
        self.name = name or f"srt-caller {host}:{port}"
        self._private_sub: Subscription | None = None
        if hub is None:
            hub = Hub(self.name, cache_gop=False)
            self._private_sub = hub.subscribe("payloads", max_queue_bytes=64 * 1024 * 1024)
        self.hub = hub
        self._rng = _seeded_rng()
        self._conn: SrtConnection | None = None
        self._driver: _Driver | None = None
        self._sock: _UdpSocket | None = None
        self._ticker: _Ticker | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._established: asyncio.Future[None] | None = None
        self._ended: asyncio.Event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self.last_error: BaseException | None = None
        self._session_sub: Subscription | None = None
        self._session_task: asyncio.Task[None] | None = None
        self.connections_made = 0
        self.stats: SrtStats = SrtStats()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<SrtCaller {self.host}:{self.port} {self.direction} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.connected

    @property
    def connection(self) -> SrtConnection | None:
        return self._conn

    async def __aenter__(self) -> SrtCaller:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.reconnect:
            self._task = asyncio.get_running_loop().create_task(self._run_forever())
            return
        await self._connect()
        self._begin_session()
        self._task = asyncio.get_running_loop().create_task(self._serve_then_end())

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until a connection is up (raises TimeoutError after ``timeout_s``)."""
        await asyncio.wait_for(self._connected_event.wait(), timeout_s)

    async def wait_closed(self) -> None:
        """Return when the connection has ended (and, with reconnect, the caller was closed)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def close(self) -> None:
        self._closing = True
        self._teardown("caller closing")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, SrtError):
                await self._task
            self._task = None
        if self._private_sub is not None:
            self.hub.close()

    async def payloads(self) -> AsyncIterator[bytes]:
        """Received payloads in order (only for a caller made without a hub). Ends when the
        connection ends (without reconnect) or the caller is closed."""
        sub = self._private_sub
        if sub is None:
            raise SrtError("payloads() needs a caller created without a hub")
        while True:
            item = await sub.get()
            if isinstance(item, HubUnit):
                yield item.payload
            elif item is HubSignal.CLOSED or (item is HubSignal.UNPUBLISHED and not self.reconnect):
                return

    # -- internals ------------------------------------------------------------------------------
    async def _run_forever(self) -> None:
        backoff = 0.5
        while not self._closing:
            try:
                if self._await_source:
                    await self.hub.wait_publisher()
                    self._await_source = False
                if self.end_on_unpublish:
                    self._early_sub = self.hub.subscribe(self.name)
                await self._connect()
                backoff = 0.5
                self._begin_session()
                await self._serve()
            except HubClosed:
                logger.info("%s: hub closed; caller stops", self.name)
                self._teardown("hub closed")
                return
            except (SrtError, OSError, PublisherBusy) as exc:
                self.last_error = exc
                logger.info("%s: %s; retrying in %.1f s", self.name, exc, backoff)
            self._teardown("reconnecting")
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _serve_then_end(self) -> None:
        try:
            await self._serve()
        finally:
            self._teardown("connection ended")
            if self._private_sub is not None:
                self.hub.release(self)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        remote = infos[0][4]
        peer: Peer = (str(remote[0]), int(remote[1]))
        self._ended = asyncio.Event()
        self._established = loop.create_future()
        sock = socket.socket(infos[0][0], socket.SOCK_DGRAM)
        try:
            _tune_socket(sock, self.config)
            if self.local_addr is not None:
                sock.bind(self.local_addr)
            sock.connect(remote)
            udp = self._sock = _UdpSocket(sock, self._on_datagram, self._on_drained, connected=True)
        except BaseException:
            sock.close()
            raise
        self._loop = loop
        now = clock()
        conn = SrtConnection(config=self.config, rng=self._rng, peer_addr=peer, now=now)
        conn.set_log_prefix(f"[srt caller {peer[0]}:{peer[1]}]")
        self._conn = conn
        driver = self._driver = _Driver(conn, udp, _Ticker(self._drivers), self._on_event)
        self._ticker = driver.ticker
        conn.connect(now)
        driver.pump(now)
        try:
            await self._established
            self.stats = conn.stats
        except BaseException:
            self._teardown("connect failed")
            raise

    def _begin_session(self) -> None:
        """Subscribe to (publish) or claim (receive) the hub right after the handshake, before any
        other task runs, so no unit fed in between is missed."""
        assert self._driver is not None
        self.connections_made += 1
        self._connected_event.set()
        if self.direction == "publish":
            sub = self._early_sub or self.hub.subscribe(self.name)
            self._early_sub = None
            self._session_sub = sub
            driver = self._driver
            unpublished = self._on_source_unpublished if self.end_on_unpublish else None
            self._session_task = asyncio.get_running_loop().create_task(
                _drain_subscription(sub, driver, lambda: self._teardown("stream closed"), unpublished)
            )
        elif not self.claim_on_media:
            self.hub.claim(self)

    def _on_source_unpublished(self) -> None:
        logger.info("%s: source unpublished; closed, dialing again when it returns", self.name)
        self._await_source = True
        self._teardown("source unpublished")

    async def _serve(self) -> None:
        try:
            await self._ended.wait()
        finally:
            self._connected_event.clear()
            if self._session_task is not None:
                self._session_task.cancel()
                self._session_task = None
            if self._session_sub is not None:
                self._session_sub.close()
                self._session_sub = None
            if self.direction == "receive" and (self.reconnect or self._private_sub is None):
                self.hub.release(self)

    def _drivers(self) -> Iterable[_Driver]:
        return () if self._driver is None else (self._driver,)

    def _on_datagram(self, data: bytes, addr: Any, at: float) -> None:
        driver = self._driver
        if driver is not None:
            driver.conn.receive_datagram(data, driver.addr, at)
            driver.dirty = True

    def _on_drained(self, now: float) -> None:
        driver = self._driver
        if driver is not None and driver.dirty:
            driver.pump(now)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, PayloadReceived):
            p = ev.payload
            hub = self.hub
            loop = self._loop
            assert loop is not None
            if self.claim_on_media:
                self._last_payload_at = loop.time()
                if hub.publisher is not self and not hub.closed:
                    try:
                        hub.claim(self)
                    except PublisherBusy as exc:
                        self.last_error = exc
                        logger.info("%s: %s already has a publisher; closing", self.name, hub.name)
                        self._teardown("the hub has another publisher")
                        return
                    if self._gap_timer is None:
                        self._gap_timer = loop.call_later(self.media_gap_s, self._check_media_gap)
            if not hub.closed and hub.publisher is self:
                ms = int(loop.time() * 1000)
                hub.feed(HubUnit(kind=ts_unit_kind(p), timestamp_ms=ms, size=len(p), payload=p))
        elif isinstance(ev, ConnectionEstablished):
            if self._established is not None and not self._established.done():
                self._established.set_result(None)
        elif isinstance(ev, ConnectionClosed):
            fut = self._established
            if fut is not None and not fut.done():
                if ev.reject_reason == RejectReason.TIMEOUT:
                    fut.set_exception(ConnectTimeout(f"no answer from {self.host}:{self.port}"))
                else:
                    fut.set_exception(ConnectionRejected(ev.reject_reason or 0, ev.reason))
            self._ended.set()

    def _check_media_gap(self) -> None:
        """Give the hub up when no payload came for ``media_gap_s`` (``claim_on_media``)."""
        self._gap_timer = None
        if self.hub.publisher is not self:
            return
        loop = asyncio.get_running_loop()
        silent_s = loop.time() - self._last_payload_at
        if silent_s >= self.media_gap_s:
            logger.debug(
                "%s: no media for %.1f s; the hub has no publisher until it resumes", self.name, silent_s
            )
            self.hub.release(self)
        else:
            self._gap_timer = loop.call_later(self.media_gap_s - silent_s, self._check_media_gap)

    def _teardown(self, reason: str) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        if self._early_sub is not None:
            self._early_sub.close()
            self._early_sub = None
        if self._conn is not None and self._driver is not None and not self._conn.closed:
            now = clock()
            self._conn.close(now, reason)
            self._driver.pump(now)
        if self._driver is not None:
            self._driver.cancel()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._ended.set()
