"""TcpLink on real loopback sockets: delay, ordered bytes under jitter and loss, bandwidth, outages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from mediaplane.netem import Impairment
from mediaplane.netem.link import FORWARD, TcpLink

WAIT_S = 20.0
"""Generous bound on waiting for bytes or a close (a loaded loop wakes late; nothing is timed by it)."""


async def echo_server() -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def dial(link: TcpLink) -> Connection:
    return await asyncio.open_connection("127.0.0.1", link.port)


@contextlib.asynccontextmanager
async def echo_link(
    dialer: Callable[[TcpLink], Awaitable[Connection]] = dial,
    **link_kw: Any,
) -> AsyncIterator[tuple[TcpLink, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A TcpLink (given ``link_kw``) in front of an echo server, and one client connection through it
    (``dialer``: a socket to its address, or :func:`dial_local`)."""
    server = await echo_server()
    try:
        async with TcpLink(target=("127.0.0.1", port_of(server)), **link_kw) as link:
            reader, writer = await dialer(link)
            try:
                yield link, reader, writer
            finally:
                writer.close()
    finally:
        server.close()


async def assert_echoes(conn: Connection, data: bytes) -> None:
    reader, writer = conn
    writer.write(data)
    assert await asyncio.wait_for(reader.readexactly(len(data)), WAIT_S) == data


async def assert_a_stall_holds_then_delivers(link: TcpLink, conn: Connection) -> None:
    reader, writer = conn
    link.set_impairment("both", Impairment(outage=True, outage_mode="stall"))
    writer.write(b"held")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.3)
    link.set_impairment("both", Impairment())
    assert await asyncio.wait_for(reader.readexactly(4), WAIT_S) == b"held"


async def test_round_trip_delay_per_direction() -> None:
    async with echo_link(
        impairment=Impairment(delay_ms=30.0), reverse_impairment=Impairment(delay_ms=10.0)
    ) as (link, reader, writer):
        rtts = []
        for _ in range(5):
            start = time.monotonic()
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            rtts.append(time.monotonic() - start)
        # Only the lower bound is steady on a loaded machine: no reply comes back before 30 + 10 ms.
        assert all(r >= 0.039 for r in rtts), rtts
        assert link.connections == 1


async def test_bytes_arrive_intact_and_in_order_under_jitter_loss_and_rate() -> None:
    payload = os.urandom(400_000)
    imp = Impairment(
        delay_ms=5.0, jitter_ms=5.0, jitter_distribution="normal", loss_pct=1.0, rate_kbps=20_000.0, seed=3
    )
    async with echo_link(impairment=imp) as (link, reader, writer):
        start = time.monotonic()

        async def write() -> None:
            for i in range(0, len(payload), 10_000):
                writer.write(payload[i : i + 10_000])
                await writer.drain()

        writer_task = asyncio.create_task(write())
        echoed = await asyncio.wait_for(reader.readexactly(len(payload)), WAIT_S)
        elapsed = time.monotonic() - start
        await writer_task
        assert echoed == payload
        # both directions capped at 20 Mbps: at least 400 kB * 8 / 20 Mbps = 0.16 s
        assert elapsed >= 0.16
        stats = link.stats()
        assert stats[FORWARD]["bytes_delivered"] == len(payload)


async def test_bandwidth_cap_paces_the_stream() -> None:
    capped = Impairment(rate_kbps=4000.0)
    async with echo_link(impairment=capped, reverse_impairment=Impairment()) as (_, reader, writer):
        payload = b"x" * 500_000  # 1 s at 4 Mbps
        start = time.monotonic()
        writer.write(payload)
        await reader.readexactly(len(payload))
        elapsed = time.monotonic() - start
        assert elapsed >= 0.9, elapsed  # never faster than the cap (a loaded loop is only slower)


async def test_stall_outage_holds_bytes_then_delivers() -> None:
    async with echo_link() as (link, reader, writer):
        await assert_echoes((reader, writer), b"a")
        await assert_a_stall_holds_then_delivers(link, (reader, writer))
        assert link.connections == 1


async def test_reset_outage_cuts_and_refuses_connections() -> None:
    async with echo_link() as (link, reader, writer):
        await assert_echoes((reader, writer), b"a")
        link.set_impairment("forward", Impairment(outage=True, outage_mode="reset"))
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), WAIT_S)
        assert link.resets == 1
        # a new connection during the outage is cut at once
        reader2, writer2 = await dial(link)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            writer2.write(b"b")
            await asyncio.wait_for(reader2.readexactly(1), WAIT_S)
        link.set_impairment("forward", Impairment())
        third = await dial(link)
        await assert_echoes(third, b"c")
        writer2.close()
        third[1].close()


async def test_upstream_refused_closes_the_client() -> None:
    server = await echo_server()
    port = port_of(server)
    server.close()
    await server.wait_closed()
    async with TcpLink(target=("127.0.0.1", port)) as link:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        assert await asyncio.wait_for(reader.read(10), WAIT_S) == b""
        writer.close()
        for _ in range(int(WAIT_S / 0.01)):
            if link.connections == 0:
                break
            await asyncio.sleep(0.01)
        assert link.connections == 0


async def test_timeline_and_recurring_reset_outage() -> None:
    from mediaplane.netem import Timeline

    flap = Impairment(outage_period_s=0.6, outage_duration_s=0.2, outage_mode="reset")
    async with echo_link() as (link, reader, _):
        done = link.run_timeline(
            Timeline.from_dict([{"at_s": 0.1, "impairment": flap.to_dict(), "duration_s": 1.0}])
        )
        assert link.impairment("forward") == Impairment()
        # the first recurring outage starts 0.1 + 0.4 s in and cuts the idle connection
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), WAIT_S)
        assert link.resets >= 1
        await asyncio.wait_for(done.wait(), WAIT_S)
        assert link.impairment("forward") == Impairment()  # reverted after 1 s
        second = await dial(link)
        await assert_echoes(second, b"ok")
        second[1].close()


# -- the in-process client end (connect_local: a backbone leg whose client is our own code) -------------
async def dial_local(link: TcpLink) -> Connection:
    """A stream pair over :meth:`TcpLink.connect_local` instead of a socket to :attr:`TcpLink.address`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await link.connect_local(lambda: protocol)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def test_a_local_connection_has_the_links_delay_counters_and_order() -> None:
    async with echo_link(
        dial_local, impairment=Impairment(delay_ms=30.0), reverse_impairment=Impairment(delay_ms=10.0)
    ) as (link, reader, writer):
        assert link.connections == 1
        rtts = []
        for i in range(5):
            start = time.monotonic()
            writer.write(b"ping%d" % i)
            assert await asyncio.wait_for(reader.readexactly(5), WAIT_S) == b"ping%d" % i
            rtts.append(time.monotonic() - start)
        # Each direction delivers within half a LOCAL_DELIVERY_GRID_S slot of its deadline.
        assert all(r >= 0.040 - 0.004 for r in rtts), rtts
        payload = os.urandom(300_000)
        await assert_echoes((reader, writer), payload)
        stats = link.stats()
        assert stats["forward"]["bytes_in"] == 25 + len(payload)
        assert stats["reverse"]["bytes_delivered"] == 25 + len(payload)
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), WAIT_S)
        for _ in range(int(WAIT_S / 0.01)):
            if link.connections == 0:
                break
            await asyncio.sleep(0.01)
        assert link.connections == 0


async def test_a_local_connection_is_cut_and_refused_by_a_reset_outage_and_held_by_a_stall() -> None:
    async with echo_link(dial_local) as (link, reader, writer):
        await assert_echoes((reader, writer), b"a")
        await assert_a_stall_holds_then_delivers(link, (reader, writer))
        link.set_impairment("forward", Impairment(outage=True, outage_mode="reset"))
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), WAIT_S)
        assert link.resets == 1
        with pytest.raises(ConnectionResetError):
            await dial_local(link)
        link.set_impairment("forward", Impairment())
        again = await dial_local(link)
        await assert_echoes(again, b"c")
        again[1].close()


async def test_a_local_connection_to_a_refusing_target_raises() -> None:
    server = await echo_server()
    port = port_of(server)
    server.close()
    await server.wait_closed()
    async with TcpLink(target=("127.0.0.1", port)) as link:
        with pytest.raises(OSError):
            await dial_local(link)
        assert link.connections == 0


def test_bytes_sent_before_the_upstream_connects_arrive_under_uvloop() -> None:
    """uvloop reads an accepted connection before the link has its upstream (its transports start reading
    after ``connection_made`` even when paused there): those bytes wait and leave once it connects (they
    were stranded, and the test above hung under ``MCEMU_LOOP=uvloop``)."""
    import uvloop

    async def body() -> None:
        server = await echo_server()
        async with TcpLink(target=("127.0.0.1", port_of(server))) as link:
            for n in range(5):  # each connection races its own upstream connect
                reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
                writer.write(b"first%d" % n)
                assert await asyncio.wait_for(reader.readexactly(6), WAIT_S) == b"first%d" % n
                writer.close()
        server.close()

    uvloop.run(body())
