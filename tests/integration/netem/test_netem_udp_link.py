"""UdpLink on real loopback sockets: delay, loss repeatability, bandwidth, timelines, mapping.

Timing is asserted against the link's own schedule (``record_deliveries``: for every datagram, when the
link read it, the send time its model computed and when it really sent it), never as a wall-clock figure
measured at a receiver: on a loaded machine the loop wakes late, which says nothing about the model. What
a receiver can check steadily is a lower bound (nothing arrives before its time) and what it received.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import struct
import time
from collections.abc import Callable

from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.link import DELIVER_AHEAD_S, FORWARD, REVERSE, Delivery, UdpLink

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


SINK_RCVBUF_BYTES = 4 * 1024 * 1024
"""The sink's receive buffer: room for a whole test's datagrams. The sink shares the loop with the link, so
after a stall the link's burst of due datagrams lands before the sink reads any; the default buffer
(~200 KiB) overflowed then and lost datagrams on a loaded machine."""


async def open_sink(echo: bool = False) -> tuple[asyncio.DatagramTransport, Sink]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SINK_RCVBUF_BYTES)
    sock.bind(("127.0.0.1", 0))
    transport, sink = await loop.create_datagram_endpoint(lambda: Sink(echo), sock=sock)
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


WAIT_S = 20.0
"""Generous bound on waiting for datagrams in flight (a loaded loop wakes late; nothing is timed by it)."""
FLOAT_EPS_S = 1e-9
"""``(now + delay) - now`` equals ``delay`` up to float rounding."""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def until(pred: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Wait (on the running loop) until ``pred()`` holds; AssertionError naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.01)


def assert_on_schedule(deliveries: list[Delivery], delay_s: float) -> None:
    """Every delivery was scheduled exactly ``delay_s`` after it arrived and sent no earlier than the
    link's batching allows."""
    for d in deliveries:
        assert abs(d.scheduled_at - d.arrived_at - delay_s) <= FLOAT_EPS_S, d
        assert d.sent_at >= d.scheduled_at - DELIVER_AHEAD_S, d


async def test_80ms_delay_with_20_concurrent_streams() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    imp = Impairment(delay_ms=80.0)
    async with UdpLink(target=("127.0.0.1", port), impairment=imp, record_deliveries=True) as link:
        senders = [await open_sender(link) for _ in range(20)]
        await asyncio.gather(*(send_stream(t, i, 150, 100.0) for i, (t, _) in enumerate(senders)))
        await until(lambda: len(sink.got) >= 20 * 150, "every datagram at the sink")
        assert link.clients == 20
        for t, _ in senders:
            t.close()
        deliveries = list(link.deliveries or [])
    sink_t.close()
    assert len(sink.got) == 20 * 150
    assert sorted((stream, seq) for stream, seq, *_ in sink.got) == [
        (i, n) for i in range(20) for n in range(150)
    ]
    assert len(deliveries) == 20 * 150 and all(d.forward for d in deliveries)
    assert_on_schedule(deliveries, 0.080)
    # At the receiver only the lower bound is steady: nothing arrives before its time.
    added_ms = [(recv - sent) * 1000.0 for _, _, sent, recv in sink.got]
    assert min(added_ms) >= 80.0 - DELIVER_AHEAD_S * 1000.0
    late_ms = [(d.sent_at - d.scheduled_at) * 1000.0 for d in deliveries]
    print(
        f"added delay at the sink: median {statistics.median(added_ms):.3f} ms"
        f" p99 {pct(added_ms, 99):.3f} ms; sent after schedule: median"
        f" {statistics.median(late_ms):.3f} ms p99 {pct(late_ms, 99):.3f} ms"
    )


async def test_each_direction_has_its_own_impairment_and_client_mapping() -> None:
    echo_t, _ = await open_sink(echo=True)
    port = echo_t.get_extra_info("sockname")[1]
    async with UdpLink(
        target=("127.0.0.1", port),
        impairment=Impairment(delay_ms=30.0),
        reverse_impairment=Impairment(delay_ms=10.0),
        record_deliveries=True,
    ) as link:
        a_t, a = await open_sender(link)
        b_t, b = await open_sender(link)
        await asyncio.gather(send_stream(a_t, 1, 20, 100.0), send_stream(b_t, 2, 20, 100.0))
        await until(lambda: len(a.got) + len(b.got) >= 40, "every echo back at its client")
        assert {s for s, *_ in a.got} == {1} and {s for s, *_ in b.got} == {2}  # replies went to their client
        rtts = [(recv - sent) * 1000.0 for _, _, sent, recv in a.got + b.got]
        assert len(rtts) == 40
        assert min(rtts) >= 40.0 - 2 * DELIVER_AHEAD_S * 1000.0
        deliveries = list(link.deliveries or [])
        assert_on_schedule([d for d in deliveries if d.forward], 0.030)
        assert_on_schedule([d for d in deliveries if not d.forward], 0.010)
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
        await until(
            lambda: link.stats()[FORWARD]["packets_in"] == 2000 and link.stats()[FORWARD]["queued"] == 0,
            "the link to have read and sent on every datagram",
        )
        dropped = link.stats()[FORWARD]["dropped"]
        await until(lambda: len(sink.got) + dropped >= 2000, "every datagram not dropped at the sink")
        t.close()
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
    async with UdpLink(target=("127.0.0.1", port), impairment=imp, record_deliveries=True) as link:
        t, _ = await open_sender(link)
        # offer ~6.3 Mbps of 1316-byte datagrams (600 pps) for 2.5 s
        await send_stream(t, 0, 1500, 600.0, size=1316)
        await until(lambda: link.stats()[FORWARD]["packets_in"] == 1500, "the link to read every datagram")
        await until(lambda: link.stats()[FORWARD]["queued"] == 0, "the queue to drain")
        stats = link.stats()[FORWARD]
        await until(lambda: len(sink.got) >= stats["delivered"], "every datagram sent on at the sink")
        t.close()
        deliveries = list(link.deliveries or [])
    sink_t.close()
    # More was offered than the cap carries: the queue overflowed, and what was not dropped arrived.
    assert stats["model"]["dropped_queue"] > 0
    assert stats["delivered"] + stats["dropped"] == 1500 and len(sink.got) == stats["delivered"]
    # The schedule never runs faster than the cap: each datagram's send time is at least its own
    # serialisation time (1316 bytes at 5 Mbps) after the previous one's, and never before it arrived
    # plus that time.
    serialise_s = 1316 * 8 / 5_000_000
    times = [d.scheduled_at for d in deliveries]
    assert len(times) == stats["delivered"]
    assert all(b - a >= serialise_s - FLOAT_EPS_S for a, b in itertools.pairwise(times))
    assert all(d.scheduled_at - d.arrived_at >= serialise_s - FLOAT_EPS_S for d in deliveries)
    assert all(d.sent_at >= d.scheduled_at - DELIVER_AHEAD_S for d in deliveries)
    span = times[-1] - times[0]
    print(f"scheduled {len(times) * 1316 * 8 / span / 1e6:.3f} Mbps over {span:.2f} s")


async def test_timeline_outage_runs_by_itself() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    timeline = Timeline.from_dict([{"at_s": 0.4, "changes": {"outage": True}, "duration_s": 0.4}])
    async with UdpLink(
        target=("127.0.0.1", port),
        impairment=Impairment(delay_ms=5.0),
        timeline=timeline,
    ) as link:
        t, _ = await open_sender(link)
        await send_stream(t, 0, 120, 100.0)  # 1.2 s
        await until(lambda: link.stats()[FORWARD]["packets_in"] == 120, "the link to read every datagram")
        await until(lambda: link.stats()[FORWARD]["queued"] == 0, "the queue to drain")
        stats = link.stats()[FORWARD]
        await until(lambda: len(sink.got) >= stats["delivered"], "every datagram sent on at the sink")
        t.close()
    sink_t.close()
    # The outage came and went by itself: one unbroken run of datagrams was dropped for it, with
    # datagrams delivered before and after (when it began on the wall clock is the loop's business).
    assert stats["model"]["dropped_outage"] > 0
    assert stats["delivered"] + stats["model"]["dropped_outage"] == 120
    seqs = sorted(seq for _, seq, *_ in sink.got)
    first_dropped = next(i for i, seq in enumerate(seqs) if seq != i)
    last_dropped = seqs[first_dropped] - 1
    assert first_dropped > 0 and last_dropped < 119, seqs
    assert seqs == [*range(first_dropped), *range(last_dropped + 1, 120)], seqs


async def test_set_impairment_at_runtime_and_duplicates() -> None:
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    async with UdpLink(target=("127.0.0.1", port)) as link:
        t, _ = await open_sender(link)
        link.set_impairment("both", Impairment(duplicate_pct=100.0))
        await send_stream(t, 0, 50, 1000.0)
        await until(lambda: len(sink.got) >= 100, "50 datagrams twice at the sink")
        t.close()
    sink_t.close()
    assert sorted(seq for _, seq, *_ in sink.got) == sorted(list(range(50)) * 2)


async def test_a_delay_cut_at_run_time_overtakes_what_waits_under_the_old_delay() -> None:
    """The backbone's constant delay queues in order; when it shrinks (a timeline step, the admin API),
    what arrives under the new delay is due first and leaves first, and nothing misses its schedule."""
    sink_t, sink = await open_sink()
    port = sink_t.get_extra_info("sockname")[1]
    async with UdpLink(
        target=("127.0.0.1", port), impairment=Impairment(delay_ms=2000.0), record_deliveries=True
    ) as link:
        t, _ = await open_sender(link)
        await send_stream(t, 0, 20, 1000.0)
        await until(lambda: link.stats()[FORWARD]["packets_in"] == 20, "the first 20 read by the link")
        link.set_impairment(FORWARD, Impairment(delay_ms=10.0))
        await send_stream(t, 1, 20, 1000.0)
        await until(lambda: len(sink.got) >= 40, "all 40 datagrams at the sink")
        t.close()
        deliveries = list(link.deliveries or [])
    sink_t.close()
    late = [d for d in deliveries if d.scheduled_at - d.arrived_at < 1.0]
    early = [d for d in deliveries if d.scheduled_at - d.arrived_at > 1.0]
    assert len(late) == len(early) == 20
    assert max(d.sent_at for d in late) < min(d.sent_at for d in early)  # the second stream overtook
    assert [d.scheduled_at for d in deliveries] == sorted(d.scheduled_at for d in deliveries)
    assert all(d.sent_at >= d.scheduled_at - DELIVER_AHEAD_S for d in deliveries)
    assert [seq for stream, seq, *_ in sink.got if stream == 1] == list(range(20))


async def test_idle_clients_are_forgotten() -> None:
    echo_t, _ = await open_sink(echo=True)
    port = echo_t.get_extra_info("sockname")[1]
    async with UdpLink(target=("127.0.0.1", port), idle_timeout_s=0.2) as link:
        t, proto = await open_sender(link)
        await send_stream(t, 0, 3, 100.0)
        await until(lambda: len(proto.got) == 3, "the three echoes")
        assert link.clients == 1
        await until(lambda: link.clients == 0, "the idle client to be forgotten")
        await send_stream(t, 0, 2, 100.0)  # the same client comes back: a new mapping
        await until(lambda: len(proto.got) == 5, "the two new echoes")
        assert link.clients == 1
        t.close()
    echo_t.close()
