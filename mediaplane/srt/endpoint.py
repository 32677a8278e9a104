"""asyncio adapters: :class:`SrtListener` (one UDP socket, many callers) and :class:`SrtCaller` (in
:mod:`.caller`, re-exported here).

Thin by design (STYLE.md): datagrams go into the sans-IO :class:`SrtConnection`, its datagrams go out,
its events feed or drain a :class:`~mediaplane.relay.hub.Hub`. Per endpoint (listener or caller) one
UDP socket is read with ``loop.add_reader`` and drained in batches (:class:`.socket_driver.UdpSocket`:
kernel receive times, the touched connections pumped once per wake-up, sends straight to the socket),
and one timer (:class:`.socket_driver.Ticker`) runs the ``handle_timer`` of all its connections.
Payloads are MPEG-TS units of
up to 1316 bytes, carried as ``HubUnit(kind=UnitKind.FRAME, payload=bytes)``, or
``UnitKind.KEYFRAME`` when the unit starts a video random access point (:func:`.mpegts.ts_unit_kind`),
so a subscriber that lagged or was forbidden resumes on a decodable picture.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from ..looptime import clock
from ..relay.hub import Hub, HubClosed, HubUnit, PublisherBusy, Subscription
from ..relay.routing import Peer, Refused, StreamPath, StreamRouter
from .acceptor import SrtAcceptor
from .caller import SrtCaller
from .config import HandshakeLimits, SrtConfig, SrtDirection
from .connection import SrtConnection
from .errors import RejectReason, SrtError
from .events import ConnectionClosed, Event, PayloadReceived
from .mpegts import ts_unit_kind
from .packet import HEADER_SIZE
from .socket_driver import (
    Driver,
    SubscriptionFeed,
    Ticker,
    UdpSocket,
    seeded_rng,
    tune_socket,
)
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


class SrtSession:
    """One caller served by an :class:`SrtListener` (what ``.connections`` lists)."""

    def __init__(
        self, listener: SrtListener, conn: SrtConnection, *, path: StreamPath, direction: SrtDirection
    ) -> None:
        self.listener = listener
        self.conn = conn
        self.path = path
        self.direction = direction
        self.peer: Peer = conn.peer_addr
        self.stream_id = conn.stream_id
        self.hub: Hub | None = None
        self.subscription: Subscription | None = None
        self.driver: Driver | None = None
        self.feed: SubscriptionFeed | None = None
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
        if self.feed is not None:
            self.feed.cancel()
        if self.driver is not None:
            self.driver.cancel()
        self.listener._forget(self)


class SrtListener:
    """An SRT listener on one UDP socket serving many callers (demultiplexed by socket id and address).

    ``direction`` (:class:`~mediaplane.srt.config.SrtDirection`): ``PUBLISH`` (callers push into
    ``router.route_publish``), ``PLAY`` (callers receive from ``router.route_play``) or ``STREAMID``
    (the stream id's ``m=publish`` publishes, anything else plays). The stream id's ``r=`` resource
    (or the whole stream id when it is not in ``#!::`` form) is the :class:`StreamPath` key; ``app``
    is empty.

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
        direction: SrtDirection = SrtDirection.STREAMID,
        accept_hook: AcceptHook | None = None,
        name: str = "",
        limits: HandshakeLimits | None = None,
        end_on_unpublish: bool = False,
    ) -> None:
        direction = SrtDirection(direction)  # a plain string is still accepted
        self.router = router
        self.host = host
        self.port = port
        self.config = (config or SrtConfig()).validate()
        self.direction = direction
        self.accept_hook = accept_hook
        self.end_on_unpublish = end_on_unpublish
        self.name = name
        self._log_prefix = f"[{name}] " if name else ""
        self._rng = seeded_rng()
        self._acceptor = SrtAcceptor(
            config=self.config, rng=self._rng, limits=limits or HandshakeLimits(), log_prefix=self._log_prefix
        )
        self._sock: UdpSocket | None = None
        self._ticker: Ticker | None = None
        self._touched: list[Driver] = []
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
            tune_socket(sock, self.config)
            sock.bind(sockaddr)
            self._sock = UdpSocket(sock, self._on_datagram, self._on_drained)
        except BaseException:
            sock.close()
            raise
        self._ticker = Ticker(self._drivers)
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
    def _drivers(self) -> Iterable[Driver]:
        for session in self._by_id.values():
            if session.driver is not None:
                yield session.driver

    def _feed(self, driver: Driver, data: bytes, peer: Peer, at: float) -> None:
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
        if direction is SrtDirection.STREAMID:
            direction = SrtDirection.PUBLISH if sid.mode is StreamMode.PUBLISH else SrtDirection.PLAY
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
            if direction is SrtDirection.PUBLISH:
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
        driver = Driver(conn, self._sock, self._ticker, session.on_event)
        session.driver = driver
        self._by_id[socket_id] = session
        self._by_peer[(peer, hs.socket_id)] = session
        if sub is not None:
            session.subscription = sub
            unpublished = (lambda: session.close("source unpublished")) if self.end_on_unpublish else None
            session.feed = SubscriptionFeed(sub, driver, lambda: session.close("stream closed"), unpublished)
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


__all__ = ["REFUSED_CODES", "AcceptHook", "SrtCaller", "SrtListener", "SrtSession"]
