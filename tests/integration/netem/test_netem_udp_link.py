"""UdpLink on real loopback sockets: delay fidelity, loss repeatability, bandwidth, timelines, mapping."""

from __future__ import annotations

import asyncio
import statistics
import struct
import time

from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.link import FORWARD, REVERSE, UdpLink

STAMP = struct.Struct("!IId")  # stream, sequence, monotonic send time


class Sink(asyncio.DatagramProtocol):
    """Records (stream, seq, send time, receive time) of every datagram; optionally echoes."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.got: list[tuple[int, int, float, float]] = []
        self.bytes = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        stream, seq, sent = STAMP.unpack_from(data)
        self.got.append((stream, seq, sent, now))
        self.bytes += len(data)
        if self.echo and self.transport is not None:
            self.transport.sendto(data, addr)


async def open_sink(echo: bool = False) -> tuple[asyncio.DatagramTransport, Sink]:
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(lambda: Sink(echo), local_addr=("127.0.0.1", 0))
    return transport, sink


async def send_stream(
    transport: asyncio.DatagramTransport, stream: int, count: int, pps: float, size: int = 200
) -> None:
    pad = b"\0" * (size - STAMP.size)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for seq in range(count):
        await asyncio.sleep(max(0.0, start + seq / pps - loop.time()))
        transport.sendto(STAMP.pack(stream, seq, time.monotonic()) + pad)


async def open_sender(link: UdpLink) -> tuple[asyncio.DatagramTransport, Sink]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Sink, remote_addr=link.address)
    return transport, proto


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def test_80ms_delay_fidelity_with_20_concurrent_streams() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    async with UdpLink(target=("127.0.0.1", port), impairment=Impairment(delay_ms=80.0)) as link:
        senders = [await open_sender(link) for _ in range(20)]
        await asyncio.gather(*(send_stream(t, i, 150, 100.0) for i, (t, _) in enumerate(senders)))
        await asyncio.sleep(0.3)
        assert link.clients == 20
        for t, _ in senders:
            t.close()
    sink_t.close()
    assert len(sink.got) == 20 * 150
    added_ms = [(recv - sent) * 1000.0 for _, _, sent, recv in sink.got]
    median, p99 = statistics.median(added_ms), pct(added_ms, 99)
    print(f"added delay median {median:.3f} ms p99 {p99:.3f} ms")
    assert abs(median - 80.0) <= 2.0
    assert abs(p99 - 80.0) <= 5.0
    assert min(added_ms) >= 79.0


async def test_each_direction_has_its_own_impairment_and_client_mapping() -> None:
    echo_t, _ = await open_sink(echo=True)
    port = echo_t.get_extra_info("sockname")[1]
    async with UdpLink(
        target=("127.0.0.1", port),
        impairment=Impairment(delay_ms=30.0),
        reverse_impairment=Impairment(delay_ms=10.0),
    ) as link:
        a_t, a = await open_sender(link)
        b_t, b = await open_sender(link)
        await asyncio.gather(send_stream(a_t, 1, 20, 100.0), send_stream(b_t, 2, 20, 100.0))
        await asyncio.sleep(0.2)
        assert {s for s, *_ in a.got} == {1} and {s for s, *_ in b.got} == {2}  # replies went to their client
        rtts = [(recv - sent) * 1000.0 for _, _, sent, recv in a.got + b.got]
        assert len(rtts) == 40
        assert 39.0 <= statistics.median(rtts) <= 44.0
        stats = link.stats()
        assert stats[FORWARD]["delivered"] == 40 and stats[REVERSE]["delivered"] == 40
        assert link.impairment(REVERSE).delay_ms == 10.0
        a_t.close()
        b_t.close()
    echo_t.close()


async def lossy_run(seed: int) -> list[int]:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    imp = Impairment(loss_pct=10.0, delay_ms=2.0, jitter_ms=1.0)
    async with UdpLink(target=("127.0.0.1", port), impairment=imp, seed=seed) as link:
        t, _ = await open_sender(link)
        await send_stream(t, 0, 2000, 4000.0)
        await asyncio.sleep(0.1)
        t.close()
        dropped = link.stats()[FORWARD]["dropped"]
    sink_t.close()
    received = sorted(seq for _, seq, *_ in sink.got)
    assert len(received) + dropped == 2000
    return received


async def test_same_seed_drops_the_same_packets_through_the_link() -> None:
    first = await lossy_run(seed=1234)
    second = await lossy_run(seed=1234)
    other = await lossy_run(seed=4321)
    assert first == second
    assert first != other
    assert 1700 < len(first) < 1900


async def test_bandwidth_cap_5mbps_through_the_link() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    imp = Impairment(rate_kbps=5000.0, queue_limit_packets=100)
    async with UdpLink(target=("127.0.0.1", port), impairment=imp) as link:
        t, _ = await open_sender(link)
        # offer ~6.3 Mbps of 1316-byte datagrams (600 pps) for 2.5 s
        await send_stream(t, 0, 1500, 600.0, size=1316)
        await asyncio.sleep(0.4)
        t.close()
        assert link.stats()[FORWARD]["model"]["dropped_queue"] > 0
    sink_t.close()
    first = sink.got[0][3]
    window = [recv for *_, recv in sink.got if first + 0.5 <= recv < first + 2.0]
    rate = len(window) * 1316 * 8 / 1.5
    print(f"measured {rate / 1e6:.3f} Mbps")
    assert abs(rate / 5_000_000 - 1.0) < 0.03


async def test_timeline_outage_runs_by_itself() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    timeline = Timeline.from_dict([{"at_s": 0.4, "changes": {"outage": True}, "duration_s": 0.4}])
    async with UdpLink(
        target=("127.0.0.1", port), impairment=Impairment(delay_ms=5.0), timeline=timeline
    ) as link:
        start = time.monotonic()
        t, _ = await open_sender(link)
        await send_stream(t, 0, 120, 100.0)  # 1.2 s
        await asyncio.sleep(0.1)
        t.close()
        assert link.stats()[FORWARD]["model"]["dropped_outage"] > 25
    sink_t.close()
    sent_at = [sent - start for _, _, sent, _ in sink.got]
    assert not [s for s in sent_at if 0.45 < s < 0.75]  # nothing sent during the outage arrived
    assert [s for s in sent_at if s < 0.35] and [s for s in sent_at if s > 0.85]


async def test_set_impairment_at_runtime_and_duplicates() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    async with UdpLink(target=("127.0.0.1", port)) as link:
        t, _ = await open_sender(link)
        link.set_impairment("both", Impairment(duplicate_pct=100.0))
        await send_stream(t, 0, 50, 1000.0)
        await asyncio.sleep(0.1)
        t.close()
    sink_t.close()
    assert len(sink.got) == 100


async def test_idle_clients_are_forgotten() -> None:
    echo_t, _ = await open_sink(echo=True)
    port = echo_t.get_extra_info("sockname")[1]
    async with UdpLink(target=("127.0.0.1", port), idle_timeout_s=0.2) as link:
        t, proto = await open_sender(link)
        await send_stream(t, 0, 3, 100.0)
        await asyncio.sleep(0.05)
        assert link.clients == 1 and len(proto.got) == 3
        await asyncio.sleep(0.5)
        assert link.clients == 0
        await send_stream(t, 0, 2, 100.0)  # the same client comes back: a new mapping
        await asyncio.sleep(0.05)
        assert link.clients == 1 and len(proto.got) == 5
        t.close()
    echo_t.close()
