"""asyncio RTMP clients: :class:`RtmpPuller` plays a remote URL into a hub, :class:`RtmpPusher` publishes a
hub to a remote URL. Both reconnect with capped exponential backoff and are async context managers.

A hostile or broken server costs one session: every bad value is a protocol error of the session core,
which ends that session with a logged reason; the client then reconnects after its backoff. What the
server declares buys memory only within the chunk budgets (small until publish or play starts).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self, TypeAlias, cast

from ..relay.hub import DEFAULT_QUEUE_BYTES, Hub, HubClosed, HubSignal, HubUnit, PublisherBusy, Subscription
from .chunk import MAX_CHUNK_SIZE, MEDIA_LIMITS, UNAUTHORISED_LIMITS, ChunkLimits
from .errors import RtmpError
from .events import ConnectionClosed, MediaReceived, PlayStarted, PublishStarted, StatusReceived
from .server import HubFeeder, PrefixAdapter
from .session import DEFAULT_WINDOW_ACK_SIZE, ClientMode, RtmpClientSession, StatusCode

logger = logging.getLogger(__name__)

__all__ = ["RtmpClientConfig", "RtmpPuller", "RtmpPusher", "RtmpUrl", "parse_rtmp_url"]

DEFAULT_RTMP_PORT = 1935
READ_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class RtmpUrl:
    """``rtmp://host[:port]/app[/more]/key[?query]`` split the way ffmpeg and OBS split it."""

    host: str
    port: int
    app: str
    key: str
    """Stream name, with its query string if any (servers read tokens from it)."""

    @property
    def tc_url(self) -> str:
        return f"rtmp://{self.host}:{self.port}/{self.app}"


def parse_rtmp_url(url: str) -> RtmpUrl:
    """Split an RTMP URL. Raises ValueError for another scheme, no host, or no app/key."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "rtmp":
        raise ValueError(f"not an rtmp:// URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise ValueError(f"{url!r} needs /app/key")
    key = segments[-1] + (f"?{parts.query}" if parts.query else "")
    return RtmpUrl(
        host=parts.hostname, port=parts.port or DEFAULT_RTMP_PORT, app="/".join(segments[:-1]), key=key
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RtmpClientConfig:
    """Settings of a puller or pusher."""

    chunk_size: int = 4096
    """Outgoing chunk size in bytes."""
    window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE
    """Window Acknowledgement Size in bytes we announce."""
    connect_timeout_s: float = 10.0
    """Time allowed for TCP connect plus handshake plus publish/play to start."""
    idle_timeout_s: float = 15.0
    """After this long without bytes from the server a puller pings it (a stream without a publisher is
    silent); it reconnects when the answer does not come within as long again."""
    backoff_initial_s: float = 0.2
    """First wait before reconnecting; doubles after every failed attempt."""
    backoff_max_s: float = 5.0
    """Cap of the reconnect wait."""
    max_queue_bytes: int = DEFAULT_QUEUE_BYTES
    """Pusher: subscription backlog before it skips to the next keyframe."""
    write_buffer_high_bytes: int = 512 * 1024
    """Pusher: socket buffer above which it waits for the socket to drain."""
    unauthorised_limits: ChunkLimits = UNAUTHORISED_LIMITS
    """Chunk decoder budget until publish or play has started (what the server's answers may take)."""
    media_limits: ChunkLimits = MEDIA_LIMITS
    """Chunk decoder budget while publishing or playing (message sizes and pending bytes, in bytes)."""
    seed: int | None = None
    """Seed of the handshake's random bytes (None: from the OS)."""
    log_prefix: str = ""
    """Put in front of every log line of this client, e.g. ``"[eu-central-1] [flow FlowB]"``."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size {self.chunk_size} not in 1..{MAX_CHUNK_SIZE}")
        for name in ("window_ack_size", "max_queue_bytes", "write_buffer_high_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("connect_timeout_s", "idle_timeout_s", "backoff_initial_s", "backoff_max_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be at least backoff_initial_s")
        self.unauthorised_limits.validate()
        self.media_limits.validate()


Connector: TypeAlias = Callable[
    [Callable[[], asyncio.Protocol]], Awaitable[tuple[asyncio.Transport, asyncio.Protocol]]
]
"""Dials a protocol (as ``loop.create_connection`` with the address bound)."""


class _SessionEnded(Exception):
    """The remote ended the session (reason in args[0]); reconnect after backoff."""


class _RtmpClient(abc.ABC):
    """Reconnect loop and counters shared by puller and pusher."""

    _mode = ClientMode.PLAY

    def __init__(
        self,
        url: str,
        hub: Hub,
        *,
        config: RtmpClientConfig | None = None,
        local_addr: tuple[str, int] | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.url = url
        self.target = parse_rtmp_url(url)
        self.hub = hub
        self.config = config or RtmpClientConfig()
        self.config.validate()
        self.local_addr = local_addr
        self.connector = connector
        """Dials instead of ``loop.create_connection`` to the URL's address (the puller only): a
        backbone link's in-process end (``TcpLink.connect_local``)."""
        self._rng = random.Random(self.config.seed)
        self.connected = False
        """True while publishing or playing on the remote."""
        self.attempts = 0
        """Connection attempts so far."""
        self.sessions_started = 0
        """Sessions that reached publish/play start."""
        self.bytes_received = 0
        self.bytes_sent = 0
        self.messages = 0
        """Media messages moved (received by a puller, sent by a pusher)."""
        self.last_error = ""
        self._quiet = False
        """A failure was logged since media last moved: repeats (an idle reconnect loop) go to DEBUG."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wakeup = asyncio.Event()
        kind = "rtmp-pull" if self._mode is ClientMode.PLAY else "rtmp-push"
        self.log = PrefixAdapter(logger, f"{self.config.log_prefix} [{kind} {url}]".lstrip())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} connected={self.connected} attempts={self.attempts}>"

    async def start(self) -> None:
        """Start the connect/reconnect loop in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"{type(self).__name__} {self.url}"
            )

    async def close(self) -> None:
        """Stop reconnecting and leave the remote politely."""
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            # Cancel until it ends: on Python 3.11 asyncio.wait_for swallows a cancellation that races
            # with its inner read completing (gh-86296), and the session would read on.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
        self.connected = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _run(self) -> None:
        backoff = self.config.backoff_initial_s
        while not self._stopping:
            self.attempts += 1
            started_before = self.sessions_started
            messages_before = self.messages
            try:
                await self._session_once()
                self.last_error = "session ended"
            except (TimeoutError, OSError, RtmpError, _SessionEnded) as exc:
                self.last_error = str(exc) or type(exc).__name__
            except HubClosed:
                self.log.info("hub closed, stopping")
                return
            except Exception as exc:  # a bug must not end the reconnect loop silently
                self.log.exception("unexpected error")
                self.last_error = f"internal error: {exc!r}"
            finally:
                self.connected = False
            if self._stopping:
                return
            if self.sessions_started > started_before:
                backoff = self.config.backoff_initial_s
            if self.messages > messages_before:
                self._quiet = False
            # The first failure after media moved is news; its repeats while nothing moves are not.
            level = logging.DEBUG if self._quiet else logging.INFO
            self.log.log(level, "%s; reconnecting in %.1f s", self.last_error, backoff)
            self._quiet = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.config.backoff_max_s)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, RtmpClientSession]:
        t = self.target
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(t.host, t.port, local_addr=self.local_addr, limit=READ_BYTES),
            self.config.connect_timeout_s,
        )
        if writer.transport.is_closing():  # reset as it was accepted (a link in a reset outage)
            writer.close()
            raise ConnectionResetError(f"connection to {t.host}:{t.port} closed as it opened")
        # uvloop raises on a closed transport here where asyncio does not: checked just above.
        writer.transport.set_write_buffer_limits(high=self.config.write_buffer_high_bytes)
        session = self._new_session()
        session.initiate()
        return reader, writer, session

    def _new_session(self) -> RtmpClientSession:
        t = self.target
        return RtmpClientSession(
            self._rng,
            app=t.app,
            key=t.key,
            mode=self._mode,
            tc_url=t.tc_url,
            chunk_size=self.config.chunk_size,
            window_ack_size=self.config.window_ack_size,
            limits=self.config.unauthorised_limits,
            media_limits=self.config.media_limits,
        )

    def _flush(self, writer: asyncio.StreamWriter, session: RtmpClientSession) -> None:
        data = session.data_to_send()
        if data:
            writer.write(data)
            self.bytes_sent += len(data)

    @abc.abstractmethod
    async def _session_once(self) -> None:
        """One connection: connect, start, move media until it ends (raising why)."""


def _close_writer(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()


class _PullPipe(asyncio.Protocol):
    """One connection of an :class:`RtmpPuller`: bytes in -> session -> events -> hub, synchronously.

    ``ended`` gets the reason the session ended (or the exception that ended it); ``last_input`` the
    loop time of the last bytes, for the puller's idle check. A server that stops reading our
    acknowledgements pauses our reading too, so we never queue answers without end.
    """

    def __init__(self, client: RtmpPuller) -> None:
        self.client = client
        self.session = client._new_session()
        self.session.initiate()
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.ended: asyncio.Future[str] = loop.create_future()
        self.last_input = loop.time()
        self.pinged = False
        self.feeder: HubFeeder | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport has asyncio.Transport's API but is no subclass of it (issue 9).
        self.transport = cast("asyncio.Transport", transport)
        self.transport.set_write_buffer_limits(high=self.client.config.write_buffer_high_bytes)

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.client.bytes_sent += len(data)

    def _end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)

    def data_received(self, data: bytes) -> None:
        if self.ended.done():
            return
        client = self.client
        self.last_input = self.loop.time()
        self.pinged = False
        if client._stopping:
            self._end("closing")
            return
        client.bytes_received += len(data)
        session = self.session
        try:
            session.receive_data(data)
            while (event := session.next_event()) is not None:
                if isinstance(event, MediaReceived):
                    if self.feeder is not None:
                        client.messages += 1
                        self.feeder.feed(event.message)
                elif isinstance(event, PlayStarted):
                    client.connected = True
                    client.sessions_started += 1
                    self.feeder = client._claim()
                    client.log.log(logging.DEBUG if client._quiet else logging.INFO, "playing")
                elif isinstance(event, StatusReceived):
                    if event.code == StatusCode.PLAY_UNPUBLISH_NOTIFY and self.feeder is not None:
                        client.hub.release(client)
                        self.feeder = None
                    elif (
                        event.code in (StatusCode.PLAY_PUBLISH_NOTIFY, StatusCode.PLAY_START)
                        and client.connected
                        and self.feeder is None
                    ):
                        self.feeder = client._claim()
                elif isinstance(event, ConnectionClosed):
                    self.flush()
                    self._end(event.reason)
                    return
            self.flush()
        except Exception as exc:  # HubClosed (the flow went offline) or a bug: the puller's task decides
            if not self.ended.done():
                self.ended.set_exception(exc)

    def eof_received(self) -> bool | None:
        self._end("server closed the connection")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(f"connection lost: {exc}" if exc else "server closed the connection")

    def pause_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class RtmpPuller(_RtmpClient):
    """Plays ``url`` and feeds what arrives into ``hub`` as its publisher (an RTMP-PULL input).

    While the remote stream is unpublished (UnpublishNotify) the hub is released, so its players get
    UNPUBLISHED; when the remote publishes again the hub is claimed again.
    """

    _mode = ClientMode.PLAY

    async def _session_once(self) -> None:
        # A protocol, not a stream reader: what arrives goes from data_received through the session into
        # the hub at once, with no copy into a reader's buffer and no task wake-up per read; this task
        # only watches the deadlines.
        loop = asyncio.get_running_loop()
        t = self.target
        if self.connector is not None:
            dial = self.connector(lambda: _PullPipe(self))
        else:
            dial = loop.create_connection(lambda: _PullPipe(self), t.host, t.port, local_addr=self.local_addr)
        transport, protocol = await asyncio.wait_for(dial, self.config.connect_timeout_s)
        pipe = cast(_PullPipe, protocol)
        session = pipe.session
        deadline = loop.time() + self.config.connect_timeout_s
        try:
            pipe.flush()
            while not pipe.ended.done():
                now = loop.time()
                due = pipe.last_input + self.config.idle_timeout_s if self.connected else deadline
                if now >= due:
                    if not self.connected or pipe.pinged:
                        raise TimeoutError("no answer from the server")
                    # A stream without a publisher is silent: ask whether the server is still there
                    # (its PingResponse is bytes) rather than reconnecting every idle_timeout_s.
                    pipe.pinged = True
                    pipe.last_input = now
                    session.ping(int(time.monotonic() * 1000))
                    pipe.flush()
                    continue
                await asyncio.wait({pipe.ended}, timeout=due - now)
            raise _SessionEnded(pipe.ended.result())
        finally:
            if pipe.feeder is not None:
                pipe.feeder = None
                self.hub.release(self)
            if not session.closed:
                session.stop()
                with contextlib.suppress(Exception):
                    pipe.flush()
            transport.close()

    def _claim(self) -> HubFeeder | None:
        """Become the hub's publisher; None (and a warning) when another publisher holds it."""
        try:
            self.hub.claim(self)
        except PublisherBusy:
            self.log.warning("hub %s already has a publisher; not feeding it", self.hub.name)
            return None
        return HubFeeder(self.hub)


class RtmpPusher(_RtmpClient):
    """Publishes ``hub`` to ``url`` (an RTMP-PUSH output). It subscribes to the hub itself on every
    (re)connect, so the remote gets metadata, sequence headers and a keyframe first. It connects only
    while the hub has a publisher, and unpublishes remotely when the hub's publisher leaves."""

    _mode = ClientMode.PUBLISH

    async def _session_once(self) -> None:
        await self.hub.wait_publisher()
        # Subscribe before connecting: what the source sends during the handshake (several round
        # trips, more across a slow backbone) is queued, not lost; the queue cap bounds it.
        sub = self.hub.subscribe(f"rtmp-push {self.url}", max_queue_bytes=self.config.max_queue_bytes)
        try:
            await self._publish_from(sub)
        finally:
            sub.close()

    async def _publish_from(self, sub: Subscription) -> None:
        reader, writer, session = await self._open()
        try:
            self._flush(writer, session)
            await asyncio.wait_for(
                self._read_loop(reader, writer, session, until_published=True), self.config.connect_timeout_s
            )
            self.connected = True
            self.sessions_started += 1
            self.log.log(logging.DEBUG if self._quiet else logging.INFO, "publishing")
            reading = asyncio.get_running_loop().create_task(self._read_loop(reader, writer, session))
            try:
                while True:
                    getter = asyncio.ensure_future(sub.get())
                    await asyncio.wait({getter, reading}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        await reading  # raises how the read side ended
                        raise _SessionEnded("read loop ended")
                    item: HubUnit | HubSignal | None = getter.result()
                    while item is not None:
                        if isinstance(item, HubUnit):
                            session.send_media(item.payload)
                            self.messages += 1
                        elif item is HubSignal.CLOSED:
                            self._flush(writer, session)
                            raise HubClosed(self.hub.name)
                        elif item is HubSignal.UNPUBLISHED:
                            # Mirror the source: unpublish remotely, publish again when it returns,
                            # so the remote sees a new stream rather than timestamps jumping back.
                            self._flush(writer, session)
                            raise _SessionEnded("source unpublished")
                        item = sub.get_nowait()
                    self._flush(writer, session)
                    await writer.drain()
                    if session.closed:
                        raise _SessionEnded(session.close_reason)
            finally:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading
        finally:
            if not session.closed:
                session.stop()
                with contextlib.suppress(Exception):
                    self._flush(writer, session)
            _close_writer(writer)

    async def _read_loop(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: RtmpClientSession,
        *,
        until_published: bool = False,
    ) -> None:
        """Feed the server's bytes to ``session`` and answer what it asks (acknowledgements, pings).

        With ``until_published``, returns once the server started the publish; otherwise reads until the
        connection ends. An error status or the server closing raises :class:`_SessionEnded`.
        """
        while True:
            data = await reader.read(READ_BYTES)
            if not data:
                raise _SessionEnded("server closed the connection")
            self.bytes_received += len(data)
            session.receive_data(data)
            started = False
            while (event := session.next_event()) is not None:
                if isinstance(event, PublishStarted):
                    started = True
                elif isinstance(event, ConnectionClosed):
                    self._flush(writer, session)
                    raise _SessionEnded(event.reason)
            self._flush(writer, session)
            if started and until_published:
                return
