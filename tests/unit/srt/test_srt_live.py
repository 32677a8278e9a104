"""The live sender and the live receiver, each alone: packets in, an explicit clock, wire and events out."""

from __future__ import annotations

import collections
import logging

from mediaplane.srt.circular import SEQ_MASK, seq_add, seq_count, seq_next, seq_offset, seq_prev
from mediaplane.srt.events import Event, PacketsDropped, PayloadReceived
from mediaplane.srt.packet import Ack, DropRequest, Nak, parse_control, parse_data
from mediaplane.srt.receiver import LiveReceiver
from mediaplane.srt.sender import DATA_HEADER, REXMIT_TAIL_MAX_PACKETS, LiveSender
from mediaplane.srt.stats import RttEstimate, SrtStats

LOG = logging.LoggerAdapter(logging.getLogger("test"), {})
ISN = SEQ_MASK - 2
"""Near the wrap, so every test also crosses 2^31."""
PEER = 0x1234


def make_sender(*, max_packets: int = 8192, drop_after_s: float = 10.0) -> tuple[LiveSender, list[bytes]]:
    out: list[bytes] = []
    stats = SrtStats()
    snd = LiveSender(
        ISN, max_packets=max_packets, out=out, stats=stats, rtt=RttEstimate(stats), start=0.0, log=LOG
    )
    snd.peer_socket_id = PEER
    snd.start(0.0, drop_after_s=drop_after_s)
    return snd, out


def make_receiver(*, latency_ms: int = 120) -> tuple[LiveReceiver, list[bytes], collections.deque[Event]]:
    out: list[bytes] = []
    events: collections.deque[Event] = collections.deque()
    stats = SrtStats()
    rcv = LiveReceiver(
        ISN,
        capacity=8192,
        nak_report=True,
        out=out,
        events=events,
        stats=stats,
        rtt=RttEstimate(stats),
        start=0.0,
        log=LOG,
    )
    rcv.peer_socket_id = PEER
    rcv.start(0, 0.0, latency_ms=latency_ms, too_late_drop=True)
    return rcv, out, events


def data(seq: int, ts_us: int, payload: bytes) -> bytes:
    return DATA_HEADER.pack(seq, 0xC0000001, ts_us, PEER) + payload


def payloads(events: collections.deque[Event]) -> list[bytes]:
    got = [e.payload for e in events if isinstance(e, PayloadReceived)]
    return got


# -- circular helpers -------------------------------------------------------------------------------
def test_circular_helpers_wrap() -> None:
    assert seq_next(SEQ_MASK) == 0
    assert seq_prev(0) == SEQ_MASK
    assert seq_offset(1, SEQ_MASK) == 2
    assert seq_count(SEQ_MASK, 1) == 3
    assert seq_count(5, 5) == 1
    assert seq_add(SEQ_MASK, 3) == 2


# -- the sender --------------------------------------------------------------------------------------
def test_sender_push_numbers_stores_and_emits() -> None:
    snd, out = make_sender()
    for i in range(5):
        assert snd.push(b"p%d" % i, 0.001 * i) is False
    pkts = [parse_data(d) for d in out]
    assert [p.seq for p in pkts] == [seq_add(ISN, i) for i in range(5)]
    assert [p.msgno for p in pkts] == [1, 2, 3, 4, 5]
    assert [p.payload for p in pkts] == [b"p0", b"p1", b"p2", b"p3", b"p4"]
    assert all(p.dest_socket_id == PEER and not p.retransmitted for p in pkts)
    assert len(snd.buffer) == 5
    snd.handle_ack(seq_add(ISN, 3))
    assert len(snd.buffer) == 2 and snd.buffer.first_seq == seq_add(ISN, 3)
    assert snd.stats.pkt_sent_unique_total == 5


def test_sender_ack_outside_the_buffer_is_counted_and_ignored() -> None:
    snd, _ = make_sender()
    snd.push(b"x", 0.0)
    snd.handle_ack(seq_add(ISN, 100))
    snd.handle_ack(seq_add(ISN, -100))
    assert len(snd.buffer) == 1
    assert snd.stats.ack_bogus_total == 1 and snd.stats.ack_stale_total == 1


def test_sender_nak_resends_each_held_packet_once_and_dropreqs_what_is_gone() -> None:
    snd, out = make_sender()
    for i in range(10):
        snd.push(bytes([i]), 0.0)
    snd.handle_ack(seq_add(ISN, 4))  # 0..3 acknowledged
    out.clear()
    # Overlapping ranges, one before the buffer, one reaching past the last packet sent.
    snd.handle_nak(
        (
            (seq_add(ISN, 2), seq_add(ISN, 5)),
            (seq_add(ISN, 5), seq_add(ISN, 6)),
            (seq_add(ISN, 9), seq_add(ISN, 50)),
        ),
        0.1,
    )
    resent = [parse_data(d) for d in out if not d[0] & 0x80]
    assert [p.seq for p in resent] == [seq_add(ISN, i) for i in (4, 5, 6, 9)]
    assert all(p.retransmitted for p in resent)
    drops = [parse_control(d) for d in out if d[0] & 0x80]
    assert len(drops) == 1 and isinstance(drops[0], DropRequest)
    assert (drops[0].first_seq, drops[0].last_seq) == (seq_add(ISN, 2), seq_add(ISN, 3))
    assert snd.stats.pkt_retrans_total == 4 and snd.stats.nak_clipped_total == 1


def test_sender_timeout_resends_the_first_packet_when_busy_and_the_tail_when_idle() -> None:
    snd, out = make_sender()
    for i in range(3):
        snd.push(bytes([i]), 0.0)
    out.clear()
    timeout = snd.rexmit_timeout()
    deadline = snd.next_deadline()
    assert deadline is not None and deadline <= timeout
    # Busy: a new packet just went out, only the first unacknowledged one is resent.
    snd.push(b"new", timeout)
    out.clear()
    snd.tick(timeout)
    assert [parse_data(d).seq for d in out] == [ISN]
    assert snd.rexmit_count == 2 and snd.rexmit_timeout() > timeout
    # Idle for longer than the (backed-off) timeout: the whole unacknowledged tail goes again.
    out.clear()
    later = timeout + 2 * snd.rexmit_timeout()
    snd.tick(later)
    assert [parse_data(d).seq for d in out] == [seq_add(ISN, i) for i in range(4)]
    # An ACK that makes progress resets the backoff.
    snd.handle_ack(seq_add(ISN, 2))
    assert snd.rexmit_count == 1


def test_sender_idle_tail_is_bounded() -> None:
    snd, out = make_sender()
    for _ in range(REXMIT_TAIL_MAX_PACKETS * 2):
        snd.push(b"x", 0.0)
    out.clear()
    snd.tick(10 * snd.rexmit_timeout())
    assert len(out) == REXMIT_TAIL_MAX_PACKETS


def test_sender_gives_up_old_packets_and_a_full_buffer_drops_the_oldest() -> None:
    snd, _ = make_sender(max_packets=4, drop_after_s=1.0)
    for i in range(6):
        snd.push(bytes([i]), 0.0)
    assert len(snd.buffer) == 4 and snd.stats.pkt_snd_drop_total == 2
    snd.tick(1.5)
    assert len(snd.buffer) == 0 and snd.stats.pkt_snd_drop_total == 6


# -- the receiver ------------------------------------------------------------------------------------
def test_receiver_releases_in_order_at_tsbpd_time() -> None:
    rcv, _, events = make_receiver(latency_ms=120)
    for i in range(3):
        rcv.push(data(seq_add(ISN, i), 10_000 * i, b"p%d" % i), 0.01 * i)
    assert rcv.next_deadline() is not None
    rcv.tick(0.119)
    assert payloads(events) == []
    rcv.tick(0.120)
    assert payloads(events) == [b"p0"]
    rcv.tick(0.141)
    assert payloads(events) == [b"p0", b"p1", b"p2"]
    assert [e.seq for e in events if isinstance(e, PayloadReceived)] == [seq_add(ISN, i) for i in range(3)]


def test_receiver_naks_a_gap_at_once_and_delivers_in_order_when_filled() -> None:
    rcv, out, events = make_receiver()
    rcv.push(data(ISN, 0, b"a"), 0.0)
    rcv.push(data(seq_add(ISN, 3), 3000, b"d"), 0.003)
    naks = [parse_control(d) for d in out]
    assert len(naks) == 1 and isinstance(naks[0], Nak)
    assert naks[0].losses == ((seq_add(ISN, 1), seq_add(ISN, 2)),)
    rcv.push(data(seq_add(ISN, 2), 2000, b"c"), 0.01)
    rcv.push(data(seq_add(ISN, 1), 1000, b"b"), 0.02)
    rcv.tick(0.2)
    assert payloads(events) == [b"a", b"b", b"c", b"d"]
    assert rcv.stats.pkt_rcv_loss_total == 2


def test_receiver_drops_a_gap_that_is_too_late() -> None:
    rcv, _, events = make_receiver(latency_ms=120)
    rcv.push(data(ISN, 0, b"a"), 0.0)
    rcv.push(data(seq_add(ISN, 2), 2000, b"c"), 0.002)
    rcv.tick(0.121)
    assert payloads(events) == [b"a"]
    rcv.tick(0.122)
    assert payloads(events) == [b"a", b"c"]
    dropped = [e for e in events if isinstance(e, PacketsDropped)]
    assert len(dropped) == 1 and dropped[0].first_seq == dropped[0].last_seq == seq_add(ISN, 1)


def test_receiver_dropreq_stops_the_wait() -> None:
    rcv, _, events = make_receiver(latency_ms=120)
    rcv.push(data(ISN, 0, b"a"), 0.0)
    rcv.push(data(seq_add(ISN, 3), 30_000, b"d"), 0.03)
    rcv.handle_dropreq(seq_add(ISN, 1), seq_add(ISN, 2))
    assert not rcv.buffer.losses
    rcv.tick(0.2)
    assert payloads(events) == [b"a", b"d"]
    assert not [e for e in events if isinstance(e, PacketsDropped)]


def test_receiver_acks_every_period_and_samples_rtt_at_the_ackack_arrival() -> None:
    rcv, out, _ = make_receiver()
    rcv.push(data(ISN, 0, b"a"), 0.0)
    rcv.tick(0.010)
    acks = [parse_control(d) for d in out]
    assert len(acks) == 1 and isinstance(acks[0], Ack)
    assert acks[0].last_ack_seq == seq_add(ISN, 1)
    # The ACKACK arrived 30 ms after the ACK left, whenever it is processed: the sample is 30 ms.
    rcv.handle_ackack(acks[0].ack_number, 0.040)
    assert abs(rcv.rtt.rtt_us - 30_000) < 1
    assert rcv.stats.rtt_ms == rcv.rtt.rtt_us / 1000
    rcv.handle_ackack(acks[0].ack_number, 0.050)  # answered already: no second sample
    assert rcv.stats.ackack_unknown_total == 1


def test_receiver_an_idle_connection_wakes_for_the_ack_repeat_not_every_period() -> None:
    rcv, out, _ = make_receiver(latency_ms=20)
    rcv.push(data(ISN, 0, b"a"), 0.0)
    deadline = rcv.next_deadline()
    assert deadline is not None and deadline <= 0.010  # something new to acknowledge: the 10 ms ACK
    rcv.tick(0.010)
    rcv.tick(0.030)  # "a" released; nothing new since the ACK, no loss, no NAK report due
    assert len([d for d in out if isinstance(parse_control(d), Ack)]) == 1
    idle = rcv.next_deadline()
    assert idle is not None and idle >= 0.010 + 0.1  # the repeat: ACK_REPEAT_MIN_S or two RTTs
    rcv.tick(idle)
    assert len([d for d in out if isinstance(parse_control(d), Ack)]) == 2
    # A packet arriving wakes the ACK period again, and a gap wakes the NAK report.
    rcv.push(data(seq_add(ISN, 2), 40_000, b"c"), idle + 0.001)
    again = rcv.next_deadline()
    assert again is not None and again <= idle + 0.010


def test_receiver_an_ackack_stamped_before_its_ack_gives_no_negative_rtt() -> None:
    # Arrival stamps are kernel wall-clock stamps moved onto the monotonic clock; on loopback that
    # conversion's error can exceed the round trip. A negative first sample made every later ACK
    # fail to encode (struct.error: argument out of range), so the connection sent no more ACKs.
    rcv, out, _ = make_receiver()
    rcv.push(data(ISN, 0, b"a"), 0.0)
    rcv.tick(0.010)
    ack = parse_control(out[-1])
    assert isinstance(ack, Ack)
    rcv.handle_ackack(ack.ack_number, 0.009995)
    assert rcv.rtt.rtt_us >= 0 and rcv.rtt.var_us >= 0
    rcv.push(data(seq_add(ISN, 1), 20_000, b"b"), 0.02)
    rcv.tick(0.030)
    later = parse_control(out[-1])
    assert isinstance(later, Ack) and later.last_ack_seq == seq_add(ISN, 2) and later.rtt_us >= 0


def test_receiver_keeps_no_view_of_the_callers_buffer() -> None:
    rcv, _, events = make_receiver()
    buf = bytearray(data(ISN, 0, b"abc"))
    rcv.push(memoryview(buf), 0.0)  # type: ignore[arg-type]
    buf[16:19] = b"xyz"
    rcv.tick(0.2)
    assert payloads(events) == [b"abc"]
    assert all(type(p) is bytes for p in payloads(events))
