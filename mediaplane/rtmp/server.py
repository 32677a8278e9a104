"""The asyncio RTMP server: accepts publish and play on ``rtmp://host:port/app/key``.

A thin adapter around :class:`~mediaplane.rtmp.session.RtmpServerSession`: bytes in -> session ->
events -> hub (publishers) or subscription -> pre-chunked bytes -> socket (players). Routing goes
through the control plane's :class:`~mediaplane.relay.routing.StreamRouter`.

Players are flow-controlled: while a player's socket buffer is above the high-water mark nothing drains
its subscription, so the subscription's byte cap (not our memory) absorbs a slow player, which
then skips to the next keyframe. A player whose socket stays blocked for ``send_stall_timeout_s`` is
closed, and while any client's socket is blocked its input is not read either (a peer that does not
read our answers cannot make us queue them without end).

What an unauthenticated peer can hold is bounded: at most ``max_connections`` connections (one more is
closed at accept and counted), each with the small chunk budget of
:data:`~mediaplane.rtmp.chunk.UNAUTHORISED_LIMITS` and an absolute ``authorise_timeout_s`` from accept to
be accepted as a publisher or player, which no trickle of input extends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, cast

from ..relay.hub import Hub, HubClosed, HubSignal, HubUnit, PublisherBusy, Subscription, UnitKind
from ..relay.routing import Peer, Refused, StreamPath, StreamRouter
from .chunk import MAX_CHUNK_SIZE, MEDIA_LIMITS, UNAUTHORISED_LIMITS, ChunkLimits
from .events import (
    ConnectionClosed,
    HandshakeCompleted,
    MediaReceived,
    PlayRequested,
    PlayStopped,
    PublishRequested,
    PublishStopped,
)
from .message import MediaKind, MediaMessage, MessageType
from .session import DEFAULT_WINDOW_ACK_SIZE, RtmpServerSession

logger = logging.getLogger(__name__)

__all__ = ["HubFeeder", "RtmpServer", "RtmpServerConfig", "RtmpServerConnection"]

REFUSAL_LOG_INTERVAL_S = 10.0
"""Connections refused over the cap are logged as one summary line at most this often."""
LISTEN_BACKLOG = 1024
"""Pending connections the listening socket queues (asyncio's default 100 overflows under a connect burst,
and the kernel's SYN retry then costs a legitimate client a second)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RtmpServerConfig:
    """Settings of one RTMP server."""

    chunk_size: int = 60000
    """Outgoing chunk size in bytes, announced to every client (the same for all, so hub bytes are shared).
    60000, as SRS: most video messages go out as one chunk, so a puller (Flow B's, across the backbone)
    parses one chunk header per message instead of one per 4 KiB (issue 9)."""
    window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE
    """Window Acknowledgement Size in bytes we announce (the peer acknowledges every this many bytes)."""
    peer_bandwidth: int = DEFAULT_WINDOW_ACK_SIZE
    """Set Peer Bandwidth value in bytes we announce."""
    unpublish_grace_s: float = 10.0
    """How long a player stays connected after its publisher left, waiting for one to return."""
    player_max_queue_bytes: int | None = None
    """Backlog cap per player before it skips to the next keyframe (None: the router's choice)."""
    write_buffer_high_bytes: int = 512 * 1024
    """Socket write buffer above which nothing drains a player's subscription."""
    handshake_timeout_s: float = 10.0
    """Time a client has to complete the handshake."""
    authorise_timeout_s: float = 10.0
    """Seconds from accept (or from the end of publishing or playing) within which the router must have
    accepted the client's publish or play; absolute: input does not extend it."""
    max_connections: int = 1024
    """Client connections held at once; one more is closed at accept, counted and logged (keep it below
    the process's file descriptor limit)."""
    unauthorised_limits: ChunkLimits = UNAUTHORISED_LIMITS
    """Chunk decoder budget of a client not yet publishing or playing (a few command messages)."""
    media_limits: ChunkLimits = MEDIA_LIMITS
    """Chunk decoder budget of a publisher or player (message sizes and pending bytes, in bytes)."""
    idle_timeout_s: float = 30.0
    """Close a publisher, or a client not yet publishing or playing, after this long without input."""
    send_stall_timeout_s: float = 30.0
    """Close a player whose socket accepted nothing for this long."""
    max_batch_bytes: int = 256 * 1024
    """Most bytes a player's feed hands to the socket in one write."""
    seed: int | None = None
    """Seed of the handshake's random bytes (None: from the OS)."""
    log_prefix: str = ""
    """Put in front of every log line of this server, e.g. ``"[ap-southeast-1] [flow FlowA]"``."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size {self.chunk_size} not in 1..{MAX_CHUNK_SIZE}")
        for name in ("window_ack_size", "peer_bandwidth", "write_buffer_high_bytes", "max_batch_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.player_max_queue_bytes is not None and self.player_max_queue_bytes <= 0:
            raise ValueError("player_max_queue_bytes must be positive")
        if self.max_connections <= 0:
            raise ValueError("max_connections must be positive")
        if not self.authorise_timeout_s > 0:
            raise ValueError("authorise_timeout_s must be positive")
        self.unauthorised_limits.validate()
        self.media_limits.validate()
        for name in ("unpublish_grace_s", "handshake_timeout_s", "idle_timeout_s", "send_stall_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


_UNIT_KIND = {kind: UnitKind(kind) for kind in MediaKind}
"""The hub's kind of each RTMP media kind (the same values; a lookup is cheaper than a conversion)."""


class HubFeeder:
    """Turns one publisher's media messages into hub units, one unit per message (never copied).

    Audio frames that arrive before any video count as keyframes: an audio-only stream has no other
    random access point, and in an audio/video stream the few audio frames ahead of the first video
    keyframe still reach players that were waiting for the stream to start.
    """

    __slots__ = ("hub", "video_seen")

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.video_seen = False

    def feed(self, message: MediaMessage) -> None:
        kind = message.kind
        if message.type_id == MessageType.VIDEO:
            self.video_seen = True
        elif kind is MediaKind.FRAME and not self.video_seen and message.type_id == MessageType.AUDIO:
            kind = MediaKind.KEYFRAME
        self.hub.feed(
            HubUnit(
                kind=_UNIT_KIND[kind],
                timestamp_ms=message.timestamp,
                size=message.size,
                payload=message,
            )
        )


class PrefixAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every message (``[rtmp 127.0.0.1:53122]``); an outer prefix can be chained in front."""

    def __init__(self, base: logging.Logger | logging.LoggerAdapter[logging.Logger], prefix: str) -> None:
        super().__init__(base.logger if isinstance(base, logging.LoggerAdapter) else base, {})
        self.prefix: str = f"{base.prefix} {prefix}" if isinstance(base, PrefixAdapter) else prefix

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"{self.prefix} {msg}", kwargs


class RtmpServerConnection(asyncio.Protocol):
    """One client connection: its session, role, path and counters (what ``RtmpServer.sessions`` lists)."""

    def __init__(self, server: RtmpServer) -> None:
        self._server = server
        self._config = server.config
        # Made by the server's protocol factory, on its loop. Kept: asyncio.get_running_loop() costs a
        # getpid() system call each time (CPython 3.11), and _schedule_drain runs per message per player.
        self._loop = asyncio.get_running_loop()
        self.session = RtmpServerSession(
            server._rng,
            chunk_size=self._config.chunk_size,
            window_ack_size=self._config.window_ack_size,
            peer_bandwidth=self._config.peer_bandwidth,
            limits=self._config.unauthorised_limits,
            media_limits=self._config.media_limits,
        )
        self.transport: asyncio.Transport | None = None
        self.peer: Peer = ("?", 0)
        self.role: str | None = None
        """``"publish"`` or ``"play"`` once the router accepted the session."""
        self.path: StreamPath | None = None
        self.hub: Hub | None = None
        self.subscription: Subscription | None = None
        self._feeder: HubFeeder | None = None
        self.connected_at = time.monotonic()
        self.close_reason = ""
        self._last_input = self.connected_at
        self._timer: asyncio.TimerHandle | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._authorise_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._drain_scheduled = False
        self._writable = True
        """False while the socket is above its high-water mark (pause_writing until resume_writing)."""
        self._closed = False
        self.log: logging.LoggerAdapter[logging.Logger] = PrefixAdapter(logger, "[rtmp]")

    def __repr__(self) -> str:
        return f"<RtmpServerConnection {self.peer[0]}:{self.peer[1]} {self.role or '-'} {self.path or '-'}>"

    # -- counters ---------------------------------------------------------------------------------
    @property
    def bytes_received(self) -> int:
        return self.session.bytes_received

    @property
    def bytes_sent(self) -> int:
        return self.session.bytes_sent

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport has asyncio.Transport's API but is no subclass of it (issue 9).
        self.transport = transport = cast("asyncio.Transport", transport)
        peername = transport.get_extra_info("peername")
        if peername:
            self.peer = (str(peername[0]), int(peername[1]))
        if len(self._server._connections) >= self._config.max_connections:
            # Over the cap: no session state is kept, and the socket goes at once (RST, no TIME_WAIT).
            self._closed = True
            self.close_reason = "over the connection cap"
            self._server._note_refused(self.peer)
            transport.abort()
            return
        self.log = PrefixAdapter(
            logger, f"{self._config.log_prefix} [rtmp {self.peer[0]}:{self.peer[1]}]".lstrip()
        )
        self.session.log = self.log
        transport.set_write_buffer_limits(high=self._config.write_buffer_high_bytes)
        self._server._connections.add(self)
        self._timer = self._loop.call_later(self._config.handshake_timeout_s, self._on_handshake_timeout)
        self._arm_authorise_deadline()
        self.log.debug("connected")

    def data_received(self, data: bytes) -> None:
        self._last_input = time.monotonic()
        self.session.receive_data(data)
        self._process_events()
        self._flush()

    def eof_received(self) -> bool | None:
        self.close("peer closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed:
            self.close(f"connection lost: {exc}" if exc else "peer closed the connection")
        self._server._connections.discard(self)

    def pause_writing(self) -> None:
        self._writable = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        if self._stall_timer is None and self._config.send_stall_timeout_s > 0:
            self._stall_timer = self._loop.call_later(
                self._config.send_stall_timeout_s, self.close, "player stopped reading"
            )

    def resume_writing(self) -> None:
        self._writable = True
        self._schedule_drain()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    # -- session events ---------------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _process_events(self) -> None:
        session = self.session
        while (event := session.next_event()) is not None:
            if isinstance(event, MediaReceived):
                if self._feeder is not None:
                    self._feeder.feed(event.message)
            elif isinstance(event, HandshakeCompleted):
                self.log.debug("handshake done (%s)", "digest" if event.digest else "simple")
                self._rearm_idle()
            elif isinstance(event, PublishRequested):
                self._on_publish(event)
            elif isinstance(event, PlayRequested):
                self._on_play(event)
            elif isinstance(event, PublishStopped):
                self.log.info("publisher stopped %s", self.path)
                self._release_hub()
                self.role = None
                self._rearm_idle()
                self._arm_authorise_deadline()
            elif isinstance(event, PlayStopped):
                self.log.info("player stopped %s", self.path)
                self._stop_playing()
                self.role = None
                self._rearm_idle()
                self._arm_authorise_deadline()
            elif isinstance(event, ConnectionClosed):
                self.close(event.reason)

    def _path_for(self, key: str) -> StreamPath:
        return StreamPath(app=self.session.app, key=key)

    def _refuse(self, reason: str) -> None:
        """Flush the error status, then close: a refused client has nothing more to do here."""
        self._flush()
        self.close(reason)

    def _on_publish(self, event: PublishRequested) -> None:
        path = self._path_for(event.key)
        self.path = path
        try:
            hub = self._server.router.route_publish(path, self.peer)
            hub.claim(self)
        except Refused as exc:
            self.log.info("publish %s refused: %s (%s)", path, exc.reason, exc.code)
            self.session.reject_publish(event.stream_id, exc.reason)
            self._refuse(f"publish refused: {exc.reason}")
            return
        except PublisherBusy:
            self.log.info("publish %s refused: already publishing", path)
            self.session.reject_publish(event.stream_id, f"{path} is already being published")
            self._refuse("publish refused: stream busy")
            return
        except HubClosed:
            self.log.info("publish %s refused: stream closed", path)
            self.session.reject_publish(event.stream_id, f"{path} is closed")
            self._refuse("publish refused: stream closed")
            return
        self.hub = hub
        self._feeder = HubFeeder(hub)
        self.role = "publish"
        self._cancel_authorise_deadline()
        self.session.accept_publish(event.stream_id)
        self.log.info("publishing %s", path)

    def _on_play(self, event: PlayRequested) -> None:
        path = self._path_for(event.key)
        self.path = path
        try:
            sub = self._server.router.route_play(path, self.peer)
        except Refused as exc:
            self.log.info("play %s refused: %s (%s)", path, exc.reason, exc.code)
            self.session.reject_play(event.stream_id, exc.reason)
            self._refuse(f"play refused: {exc.reason}")
            return
        except HubClosed:
            self.session.reject_play(event.stream_id, f"{path} is closed")
            self._refuse("play refused: stream closed")
            return
        if self._config.player_max_queue_bytes is not None:
            sub.max_queue_bytes = self._config.player_max_queue_bytes
        self.subscription = sub
        self.role = "play"
        self._cancel_authorise_deadline()
        self.session.accept_play(event.stream_id)
        self._flush()
        self._cancel_timer()
        sub.set_listener(self._schedule_drain)
        self.log.info("playing %s", path)

    # -- player feed ------------------------------------------------------------------------------
    # No task per player: the subscription calls _schedule_drain when the hub queues something, and
    # one callback per loop iteration moves everything queued into one write (at most max_batch_bytes;
    # the rest in the next iteration). While the socket is above its high-water mark nothing is drained,
    # so the subscription's byte cap absorbs a slow player; resume_writing drains again.
    def _schedule_drain(self) -> None:
        if not self._drain_scheduled and not self._closed:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        sub = self.subscription
        if sub is None or self._closed or not self._writable:
            return
        session = self.session
        max_batch = self._config.max_batch_bytes
        batch = 0
        try:
            while (item := sub.get_nowait()) is not None:
                if isinstance(item, HubUnit):
                    session.send_media(item.payload)
                    batch += item.size
                    if batch >= max_batch:
                        self._schedule_drain()
                        break
                elif not self._handle_signal(item):
                    return
            self._flush()
        except Exception:  # a bug in one player must not take the loop down
            self.log.exception("player feed failed")
            self.close("internal error in player feed")

    def _handle_signal(self, signal: HubSignal) -> bool:
        """Apply a hub signal; False when the player must stop."""
        if signal is HubSignal.UNPUBLISHED:
            self.log.info("publisher of %s left; waiting %.1f s", self.path, self._config.unpublish_grace_s)
            self.session.notify_unpublished()
            if self._grace_timer is None:
                self._grace_timer = self._loop.call_later(
                    self._config.unpublish_grace_s, self._on_grace_expired
                )
            return True
        if signal is HubSignal.PUBLISHED:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
                self._grace_timer = None
            self.session.notify_published()
            return True
        self._flush()
        self.close("stream closed")
        return False

    def _on_grace_expired(self) -> None:
        self._grace_timer = None
        self.close("publisher did not return within the grace period")

    # -- timers -----------------------------------------------------------------------------------
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_authorise_deadline(self) -> None:
        self._cancel_authorise_deadline()
        if not self._closed:
            self._authorise_timer = self._loop.call_later(
                self._config.authorise_timeout_s, self._on_authorise_timeout
            )

    def _cancel_authorise_deadline(self) -> None:
        if self._authorise_timer is not None:
            self._authorise_timer.cancel()
            self._authorise_timer = None

    def _on_authorise_timeout(self) -> None:
        self._authorise_timer = None
        if self.role is None:
            self._server.authorise_timeouts += 1
            self.close(f"not publishing or playing within {self._config.authorise_timeout_s:g} s")

    def _on_handshake_timeout(self) -> None:
        self._timer = None
        self.close("handshake timeout")

    def _rearm_idle(self) -> None:
        self._cancel_timer()
        if self._config.idle_timeout_s > 0 and not self._closed:
            self._timer = self._loop.call_later(self._config.idle_timeout_s, self._check_idle)

    def _check_idle(self) -> None:
        self._timer = None
        if self._closed or self.role == "play":
            return
        idle = time.monotonic() - self._last_input
        if idle >= self._config.idle_timeout_s:
            self.close(f"idle for {idle:.1f} s")
        else:
            self._timer = self._loop.call_later(self._config.idle_timeout_s - idle, self._check_idle)

    # -- teardown ---------------------------------------------------------------------------------
    def _release_hub(self) -> None:
        self._feeder = None
        if self.hub is not None:
            self.hub.release(self)
            self.hub = None

    def _stop_playing(self) -> None:
        sub, self.subscription = self.subscription, None
        if sub is not None:
            sub.set_listener(None)
            sub.close()

    def close(self, reason: str) -> None:
        """End this session with a logged reason; the others are untouched. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        self.log.info("closing: %s", reason)
        self.session.close(reason)
        for timer in (self._timer, self._grace_timer, self._stall_timer, self._authorise_timer):
            if timer is not None:
                timer.cancel()
        self._release_hub()
        self._stop_playing()
        if self.transport is not None:
            self.transport.close()
            if self._stall_timer is not None:
                # A peer that stopped reading would keep close() waiting for the buffer forever.
                self.transport.abort()
        self._server._connections.discard(self)


class RtmpServer:
    """An RTMP server on ``host:port`` routing publish and play through ``router``.

    ``async with RtmpServer(router, port=0) as server:`` (or ``await start()`` / ``await close()``);
    :attr:`port` is the bound port; :attr:`sessions` the live connections.
    """

    def __init__(
        self,
        router: StreamRouter,
        *,
        host: str = "127.0.0.1",
        port: int = 1935,
        config: RtmpServerConfig | None = None,
    ) -> None:
        self.router = router
        self.host = host
        self.port = port
        self.config = config or RtmpServerConfig()
        self.config.validate()
        self._rng = random.Random(self.config.seed)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[RtmpServerConnection] = set()
        self.refused_connections = 0
        """Connections closed at accept because ``max_connections`` were open."""
        self.authorise_timeouts = 0
        """Connections closed because they were not publishing or playing within ``authorise_timeout_s``."""
        self._refusals_logged = 0
        self._next_refusal_log = 0.0

    def __repr__(self) -> str:
        return (
            f"<RtmpServer {self.host}:{self.port} sessions={len(self._connections)} "
            f"refused={self.refused_connections}>"
        )

    def _note_refused(self, peer: Peer) -> None:
        """Count a connection refused over the cap; log a summary line at most every few seconds."""
        self.refused_connections += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s refused %s:%d: over the connection cap", self.config.log_prefix, *peer)
        now = time.monotonic()
        if now >= self._next_refusal_log:
            logger.warning(
                "%s%d connection(s) refused: %d open, the cap (latest from %s:%d)",
                self.config.log_prefix + " " if self.config.log_prefix else "",
                self.refused_connections - self._refusals_logged,
                self.config.max_connections,
                *peer,
            )
            self._refusals_logged = self.refused_connections
            self._next_refusal_log = now + REFUSAL_LOG_INTERVAL_S

    @property
    def sessions(self) -> tuple[RtmpServerConnection, ...]:
        """Live client connections (peer, role, path, bytes_received, bytes_sent, session)."""
        return tuple(self._connections)

    async def start(self) -> None:
        """Bind and listen. Raises OSError when the address is taken."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: RtmpServerConnection(self), self.host, self.port, backlog=LISTEN_BACKLOG
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        logger.info(
            "%sRTMP server listening on %s:%d",
            self.config.log_prefix + " " if self.config.log_prefix else "",
            self.host,
            self.port,
        )

    def close_path(self, path: StreamPath, reason: str) -> int:
        """Close every session (publisher and players) of ``path``; returns how many were closed."""
        victims = [c for c in self._connections if c.path == path]
        for conn in victims:
            conn.close(reason)
        return len(victims)

    async def close(self, grace_s: float = 2.0) -> None:
        """Stop listening, close every session, and wait up to ``grace_s`` for the listener to finish."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close("server shutting down")
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), grace_s)
            self._server = None

    async def __aenter__(self) -> RtmpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
