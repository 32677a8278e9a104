"""A userspace TCP relay on real sockets: the asyncio adapter of the TCP impairment model.

:class:`TcpLink` accepts connections and opens one upstream connection for each. Each direction has its
own model, so ``forward`` (client -> target) and ``reverse`` (target -> client) can be impaired
differently. Each direction of a connection queues its byte runs in a FIFO keyed by their deadline on
the links' clock (the model's times never decrease: TCP delivers in order) and one
:class:`~mediaplane.netem.link_base.DeliveryTimer` writes everything due in one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from .link_base import Address, DeliveryTimer, Link, LinkKind, both_directions, call_at_clock, clock
from .models import Impairment, OutageMode
from .schedule import (
    DELIVER_AHEAD_S,
    DIRECTIONS,
    FORWARD,
    REVERSE,
    DirectionCounters,
    LinkDirection,
    directions,
    link_rng,
)
from .tcp_model import TcpModel
from .timeline import Timeline

logger = logging.getLogger(__name__)

LOCAL_DELIVERY_GRID_S = 0.004
"""Deliveries of an in-process connection (:meth:`TcpLink.connect_local`) go out on this grid, to the
nearest slot: each byte run is delivered within half a slot of its deadline (the mean delay is kept), and
one wake-up serves every run due in the slot. A run per wake-up, together with the socket pair of the
proxy, cost a quarter of an RTMP chain's CPU at 4 chains (issue 9; either alone gained nothing)."""


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


class _LocalSide(_Side):
    """The client end of a pipe dialled in-process (:meth:`TcpLink.connect_local`): no socket between the
    client and the link. What the link writes to ``transport`` goes to the client's protocol, and what
    the client writes to its :class:`_LocalTransport` enters the forward direction, so a leg whose two
    ends are our own code crosses one real socket (link -> target) instead of two."""

    def __init__(self, pipe: _TcpPipe) -> None:
        super().__init__(pipe, forward=True)
        self.protocol: asyncio.Protocol | None = None


class _ToProtocol:
    """The link's view of a local client: ``write`` delivers to the client's protocol; pausing reading
    pauses the client's writing (the forward queue is over its high-water mark)."""

    def __init__(self, side: _LocalSide, peer: _LocalTransport) -> None:
        self.side = side
        self.peer = peer

    def write(self, data: bytes) -> None:
        protocol = self.side.protocol
        if protocol is not None and not self.peer.closing:
            protocol.data_received(data)

    def is_closing(self) -> bool:
        return self.peer.closing

    def pause_reading(self) -> None:
        protocol = self.side.protocol
        if protocol is not None and not self.peer.closing:
            protocol.pause_writing()

    def resume_reading(self) -> None:
        protocol = self.side.protocol
        if protocol is not None and not self.peer.closing:
            protocol.resume_writing()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        protocol = self.side.protocol
        if protocol is not None and not self.peer.closing and not protocol.eof_received():
            self.peer.lost(None)

    def close(self) -> None:
        self.peer.lost(None)

    def abort(self) -> None:
        self.peer.lost(ConnectionResetError("reset by the link"))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _LocalTransport(asyncio.Transport):
    """The transport a local client writes to (see :class:`_LocalSide`)."""

    def __init__(self, side: _LocalSide, sockname: Address, peername: Address) -> None:
        super().__init__()
        self.side = side
        self.closing = False
        self._extra = {"sockname": sockname, "peername": peername}

    # -- the client's calls ------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closing and data:
            self.side.pipe.flows[FORWARD].received(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.side.pipe.flows[REVERSE].set_sink_paused(True)

    def resume_reading(self) -> None:
        self.side.pipe.flows[REVERSE].set_sink_paused(False)

    def is_reading(self) -> bool:
        return not self.side.pipe.flows[REVERSE].sink_paused

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # the forward flow's high-water mark pauses the client (pause_writing)

    def get_write_buffer_size(self) -> int:
        return self.side.pipe.flows[FORWARD].pending_bytes

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self.closing:
            self.side.pipe.flows[FORWARD].source_done()

    def close(self) -> None:
        if not self.closing:
            self.side.pipe.side_lost(self.side, None)
            self.lost(None)

    def abort(self) -> None:
        if not self.closing:
            self.side.pipe.reset("client aborted")
            self.lost(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    # -- the link's calls --------------------------------------------------------------------------
    def lost(self, exc: Exception | None) -> None:
        """The connection is gone: the client's ``connection_lost`` runs soon, once (as a socket's)."""
        if self.closing:
            return
        self.closing = True
        protocol = self.side.protocol
        if protocol is not None:
            self.side.pipe.loop.call_soon(protocol.connection_lost, exc)


class _TcpFlow:
    """One direction of a pipe: reads from ``src``, schedules through a TcpModel, writes to ``dst``."""

    def __init__(self, pipe: _TcpPipe, direction: LinkDirection, model: TcpModel) -> None:
        self.pipe = pipe
        self.direction = direction
        self.model = model
        self.counters = pipe.link.counters[direction]
        self.src: _Side | None = None
        self.dst: _Side | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.pending_bytes = 0
        self.held: list[bytes] = []  # bytes read during a stall outage
        self.timer = DeliveryTimer(pipe.loop, self._deliver)
        self.outage_timer: asyncio.TimerHandle | None = None
        self.src_done = False
        self.sink_paused = False
        self.reading_paused = False

    def received(self, data: bytes) -> None:
        now = clock()
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
        self.outage_timer = call_at_clock(self.pipe.loop, until, self._outage_over)

    def _outage_over(self) -> None:
        self.outage_timer = None
        self.release_held()

    def release_held(self) -> None:
        """Submit bytes held during a stall if the outage is over."""
        if not self.held:
            return
        now = clock()
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
        if self.pending:
            due = self.pending[0][0]
            grid = self.pipe.grid_s
            if grid:
                due = round(due / grid) * grid
            self.timer.arm(due)

    def dst_ready(self) -> None:
        """The destination is connected: send what queued before it was (see ``_deliver``)."""
        self._arm()
        self._update_reading()

    def _deliver(self) -> None:
        if self.dst is None or self.dst.transport is None or self.dst.transport.is_closing():
            return  # not connected yet (dst_ready arms again) or closing (the pipe discards the bytes)
        grid = self.pipe.grid_s
        limit = clock() + (grid / 2 if grid else DELIVER_AHEAD_S)
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
        self.timer.cancel()
        if self.outage_timer is not None:
            self.outage_timer.cancel()
        self.outage_timer = None
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
        now = clock()
        self.flows = {
            d: _TcpFlow(self, d, TcpModel(link.impairments[d], rng=link.rng_for(d, index), now=now))
            for d in DIRECTIONS
        }
        self.client = _Side(self, forward=True)
        self.upstream: _Side | None = None
        self.closed = False
        self.finished: set[LinkDirection] = set()
        self.connect_task: asyncio.Task[None] | None = None
        self.grid_s = 0.0
        """Deliveries on this grid (seconds, nearest slot), 0 for each at its own deadline (see
        :data:`LOCAL_DELIVERY_GRID_S`)."""

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
            # Until upstream is connected. uvloop starts reading after connection_made regardless, so
            # bytes may still come in early: they queue, and the upstream's arrival sends them.
            side.transport.pause_reading()
            self.connect_task = self.loop.create_task(self._connect())
        self._wire()
        if side is self.upstream:
            for flow in self.flows.values():
                flow.dst_ready()

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

    def set_impairment(self, direction: LinkDirection, impairment: Impairment) -> None:
        flow = self.flows[direction]
        now = clock()
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


class TcpLink(Link):
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
        forward, reverse = both_directions(impairment, reverse_impairment)
        super().__init__(kind=LinkKind.TCP, target=target, listen=listen, timeline=timeline, name=name)
        self._seed = seed
        self.impairments = {FORWARD: forward, REVERSE: reverse}
        self._epochs = {FORWARD: 0.0, REVERSE: 0.0}
        self.counters = {FORWARD: DirectionCounters(), REVERSE: DirectionCounters()}
        self.resets = 0
        self.connections_total = 0
        self._pipes: set[_TcpPipe] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._index = itertools.count()

    def __repr__(self) -> str:
        return f"<TcpLink {self.name} connections={len(self._pipes)}>"

    def rng_for(self, direction: LinkDirection, index: int) -> random.Random:
        """The generator of connection number ``index`` in ``direction`` (repeatable with a seed)."""
        return link_rng(self._seed, self.impairments[direction], f"{direction}:{index}")

    async def start(self) -> None:
        """Listen and start relaying."""
        loop = self._loop = asyncio.get_running_loop()
        now = clock()
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

    async def connect_local(
        self, protocol_factory: Callable[[], asyncio.Protocol]
    ) -> tuple[asyncio.Transport, asyncio.Protocol]:
        """Dial through the link from inside this process, as ``loop.create_connection`` would dial
        :attr:`address`: the same impairments, counters and outages, but the client end is in-process
        (:class:`_LocalSide`), so its bytes cross one socket, link -> target, not two. For a leg whose
        client is our own code (a backbone puller); a foreign client dials :attr:`address`.
        Raises ConnectionResetError during a reset outage, OSError when the target refuses."""
        if self._loop is None:
            raise RuntimeError("link not started")
        if self.reset_outage_now():
            raise ConnectionResetError(f"{self.name}: reset outage")
        index = next(self._index)
        pipe = _TcpPipe(self, index)
        pipe.grid_s = LOCAL_DELIVERY_GRID_S
        side = _LocalSide(pipe)
        pipe.client = side
        self._pipes.add(pipe)
        self.connections_total += 1
        try:
            host, port = self.target
            await self._loop.create_connection(pipe._upstream_side, host, port)
        except BaseException:
            pipe.close()
            raise
        if pipe.closed:
            raise ConnectionResetError(f"{self.name}: reset while connecting")
        transport = _LocalTransport(side, ("127.0.0.1", 0), self.address)
        side.transport = cast("asyncio.Transport", _ToProtocol(side, transport))
        protocol = protocol_factory()
        side.protocol = protocol
        for flow in pipe.flows.values():  # wired when upstream connected; now the client end can take bytes
            flow.dst_ready()
        protocol.connection_made(transport)
        return transport, protocol

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

    @property
    def address(self) -> Address:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("link not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return (host, port)

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._pipes)

    def impairment(self, direction: LinkDirection) -> Impairment:
        return self.impairments[directions(direction)[0]]

    def set_impairment(self, direction: LinkDirection, impairment: Impairment) -> None:
        """Apply ``impairment`` from now on to ``forward``, ``reverse`` or ``both`` directions, for open
        connections as for new ones."""
        impairment.validate()
        now = clock()
        for d in directions(direction):
            self.impairments[d] = impairment
            self._epochs[d] = now
            for pipe in list(self._pipes):
                pipe.set_impairment(d, impairment)
        logger.info("%s %s impairment: %s", self.name, direction, impairment.summary())
        self._watch_outages()

    def reset_outage_now(self) -> bool:
        """Whether a reset outage is in force in either direction (new connections are refused)."""
        if self._loop is None:
            return False
        now = clock()
        for d in DIRECTIONS:
            imp = self.impairments[d]
            if imp.outage_mode == OutageMode.RESET and imp.outage_at(now - self._epochs[d]):
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
        now = clock()
        starts = []
        for d in DIRECTIONS:
            imp = self.impairments[d]
            if imp.outage_mode != OutageMode.RESET:
                continue
            start = imp.next_outage_start(now - self._epochs[d])
            if start is not None:
                starts.append(self._epochs[d] + start)
        if starts:
            self._watch = call_at_clock(loop, min(starts) + 0.0001, self._outage_started)

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
            out[d.value] = self.counters[d].to_dict()  # plain str keys, as always
        return out


__all__ = ["TcpLink"]
