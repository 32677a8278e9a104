"""asyncio adapter: :class:`SrtCaller`, one SRT connection dialed to a remote listener, fed from or
feeding a relay hub (the driver it runs on is in :mod:`.socket_driver`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ..looptime import clock
from ..relay.hub import Hub, HubClosed, HubSignal, HubUnit, PublisherBusy, Subscription
from ..relay.routing import Peer
from .config import SrtConfig, SrtDirection
from .connection import SrtConnection
from .errors import ConnectionRejected, ConnectTimeout, RejectReason, SrtError
from .events import ConnectionClosed, ConnectionEstablished, Event, PayloadReceived
from .mpegts import ts_unit_kind
from .socket_driver import Driver, SubscriptionFeed, Ticker, UdpSocket, seeded_rng, tune_socket
from .stats import SrtStats

logger = logging.getLogger(__name__)


class SrtCaller:
    """An SRT caller. ``direction`` :attr:`~SrtDirection.PUBLISH` sends ``hub``'s units to the remote
    listener (it subscribes itself, again after each reconnect); :attr:`~SrtDirection.PLAY` (the
    default; ``"receive"`` is its former name) claims ``hub`` and feeds it with what the remote sends.

    Without a ``hub`` (play only) a private ``Hub(cache_gop=False)`` is made and
    :meth:`payloads` yields the received payload bytes. With ``reconnect=True`` the caller retries
    with exponential backoff capped at ``max_backoff_s`` and :meth:`start` returns at once;
    otherwise :meth:`start` raises :class:`ConnectionRejected` (with the peer's reason) or
    :class:`ConnectTimeout`.

    ``end_on_unpublish`` (publish): when the hub's publisher leaves, the connection closes (SHUTDOWN),
    so the remote's players end as RTMP players do on UnpublishNotify; with ``reconnect`` the caller
    dials again once the hub has a publisher again, subscribed before dialing so that what the source
    sends during the handshake is queued, not lost. ``claim_on_media`` (play): the caller claims
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
        direction: SrtDirection = SrtDirection.PLAY,
        reconnect: bool = False,
        max_backoff_s: float = 10.0,
        local_addr: tuple[str, int] | None = None,
        name: str = "",
        end_on_unpublish: bool = False,
        claim_on_media: bool = False,
        media_gap_s: float = 2.0,
    ) -> None:
        direction = SrtDirection(direction)  # a plain string ("receive" too) is still accepted
        if direction is SrtDirection.STREAMID:
            raise ValueError("a caller's direction is publish or play")
        if hub is None and direction is SrtDirection.PUBLISH:
            raise ValueError("a publishing caller needs a hub")
        self.host = host
        self.port = port
        self.config = (config or SrtConfig()).validate()
        self.direction = direction
        self.reconnect = reconnect
        self.max_backoff_s = max_backoff_s
        self.local_addr = local_addr
        self.end_on_unpublish = end_on_unpublish and direction is SrtDirection.PUBLISH
        self.claim_on_media = claim_on_media and direction is SrtDirection.PLAY
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
        self._rng = seeded_rng()
        self._conn: SrtConnection | None = None
        self._driver: Driver | None = None
        self._sock: UdpSocket | None = None
        self._ticker: Ticker | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._established: asyncio.Future[None] | None = None
        self._ended: asyncio.Event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self.last_error: BaseException | None = None
        self._session_sub: Subscription | None = None
        self._session_feed: SubscriptionFeed | None = None
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
            tune_socket(sock, self.config)
            if self.local_addr is not None:
                sock.bind(self.local_addr)
            sock.connect(remote)
            udp = self._sock = UdpSocket(sock, self._on_datagram, self._on_drained, connected=True)
        except BaseException:
            sock.close()
            raise
        self._loop = loop
        now = clock()
        conn = SrtConnection(config=self.config, rng=self._rng, peer_addr=peer, now=now)
        conn.set_log_prefix(f"[srt caller {peer[0]}:{peer[1]}]")
        self._conn = conn
        driver = self._driver = Driver(conn, udp, Ticker(self._drivers), self._on_event)
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
        if self.direction is SrtDirection.PUBLISH:
            sub = self._early_sub or self.hub.subscribe(self.name)
            self._early_sub = None
            self._session_sub = sub
            driver = self._driver
            unpublished = self._on_source_unpublished if self.end_on_unpublish else None
            ended = functools.partial(self._teardown, "stream closed")
            self._session_feed = SubscriptionFeed(sub, driver, ended, unpublished)
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
            if self._session_feed is not None:
                self._session_feed.cancel()
                self._session_feed = None
            if self._session_sub is not None:
                self._session_sub.close()
                self._session_sub = None
            if self.direction is SrtDirection.PLAY and (self.reconnect or self._private_sub is None):
                self.hub.release(self)

    def _drivers(self) -> Iterable[Driver]:
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
