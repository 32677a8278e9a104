"""Hostile numbers on the wire buy work only up to what the connection holds (issue 8), handshakes
cost constant work until they prove something, and the no-ACK retransmission timer follows the RTT,
not the latency.

Two cores pumped in memory with an explicit clock (the ``Sim`` of test_srt_pumped); forged control
packets are encoded with the real packet classes and fed to ``receive_datagram`` as a peer would send
them. Bounded work is asserted on what came out (packets retransmitted, DROPREQs) and on the stats
counters, never on elapsed time.
"""

from __future__ import annotations

import itertools
import logging
import random

import pytest
from test_srt_pumped import CALLER_ADDR, LISTENER_ADDR, Sim, is_data, payloads, received

from mediaplane.srt import RejectReason, SrtAcceptor, SrtConfig, SrtConnection
from mediaplane.srt.acceptor import TokenBucket
from mediaplane.srt.circular import SEQ_MASK, seq_add, seq_window_overlap
from mediaplane.srt.config import HandshakeLimits
from mediaplane.srt.handshake import Handshake, HandshakeType, SrtHandshakeExtension, parse_handshake
from mediaplane.srt.keymaterial import new_keyset
from mediaplane.srt.packet import Ack, AckAck, ControlType, DropRequest, Nak

ONE_WAY_80_MS = 0.080


def connected_sim(cfg: SrtConfig, *, one_way_s: float = 0.005, isn: int = 1000) -> Sim:
    sim = Sim(cfg, cfg, isn=isn, one_way_s=one_way_s)
    sim.start()
    sim.run_until(sim.now + 6 * one_way_s + 0.05)
    assert sim.caller.conn is not None and sim.caller.conn.connected
    assert sim.listener.conn is not None and sim.listener.conn.connected
    return sim


def sender_holding(n: int) -> tuple[Sim, SrtConnection]:
    """A connected caller with ``n`` packets sent and none acknowledged yet (nothing delivered)."""
    sim = connected_sim(SrtConfig(latency_ms=120))
    snd = sim.caller.conn
    assert snd is not None
    for p in payloads(n):
        snd.send(p, sim.now)
    snd.datagrams_to_send(sim.now)  # they left; the peer never sees them
    assert len(snd.sender.buffer) == n
    return sim, snd


def forge_nak(conn: SrtConnection, losses: tuple[tuple[int, int], ...]) -> bytes:
    return Nak(timestamp=0, dest_socket_id=conn.socket_id, losses=losses).encode()


def retransmissions(out: list[bytes]) -> list[int]:
    return [int.from_bytes(d[:4], "big") for d in out if is_data(d) and d[4] & 0x04]


def control_types(out: list[bytes]) -> list[int]:
    return [(d[0] << 8 | d[1]) & 0x7FFF for d in out if d[0] & 0x80]


# -- the circular window helper -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "count", "base", "size", "expected"),
    [
        (10, 5, 10, 100, [(0, 5)]),
        (5, 10, 10, 100, [(0, 5)]),  # starts before the window
        (105, 10, 10, 100, [(95, 100)]),  # runs past its end
        (200, 10, 10, 100, []),  # entirely after
        (0, 2**31, 10, 100, [(0, 100)]),  # the whole sequence space
        (50, 2**31, 10, 100, [(0, 100)]),  # whole space starting inside the window
        (SEQ_MASK - 2, 10, SEQ_MASK - 5, 100, [(3, 13)]),  # across the wrap
        (50, 2**31 - 20, 10, 100, [(0, 20), (40, 100)]),  # wraps round, leaves a hole at 20..40
        (50, 2**31 - 60, 10, 100, [(40, 100)]),  # the hole lies before its start
        (210, 2**31 - 50, 10, 100, [(0, 100)]),  # starts after the window, wraps over all of it
        (10, 0, 10, 100, []),
    ],
)
def test_seq_window_overlap(
    first: int, count: int, base: int, size: int, expected: list[tuple[int, int]]
) -> None:
    assert seq_window_overlap(first, count, base, size) == expected


# -- NAK ------------------------------------------------------------------------------------------
def test_nak_covering_2_31_numbers_resends_only_the_send_buffer() -> None:
    sim, snd = sender_holding(300)
    base = snd.sender.buffer.first_seq
    snd.receive_datagram(forge_nak(snd, ((base, (base - 1) & SEQ_MASK),)), LISTENER_ADDR, sim.now)
    out = snd.datagrams_to_send(sim.now)
    assert snd.connected
    assert sorted(retransmissions(out)) == sorted(seq_add(base, i) for i in range(300))
    assert snd.stats.pkt_retrans_total == 300
    assert snd.stats.nak_clipped_total == 1
    assert snd.stats.pkt_snd_loss_total == 300  # what we hold, not the 2^31 on the wire


def test_nak_with_many_whole_space_ranges_resends_each_packet_once() -> None:
    sim, snd = sender_holding(200)
    base = snd.sender.buffer.first_seq
    # As many ranges as fit in one datagram, each claiming the whole sequence space.
    ranges = tuple((seq_add(base, 7 * i), seq_add(base, 7 * i - 1)) for i in range(180))
    snd.receive_datagram(forge_nak(snd, ranges), LISTENER_ADDR, sim.now)
    out = snd.datagrams_to_send(sim.now)
    assert len(retransmissions(out)) == 200 == len(set(retransmissions(out)))
    assert snd.stats.nak_clipped_total == 180
    assert snd.connected


def test_nak_of_2_23_numbers_from_a_player_costs_the_send_buffer() -> None:
    # The attack: a loss range ending at the last packet sent and reaching 2^23 back.
    sim, snd = sender_holding(150)
    last = (snd.sender.buffer.next_seq - 1) & SEQ_MASK
    snd.receive_datagram(forge_nak(snd, ((seq_add(last, -(2**23) + 1), last),)), LISTENER_ADDR, sim.now)
    out = snd.datagrams_to_send(sim.now)
    assert len(retransmissions(out)) == 150
    # The part before the buffer gets one DROPREQ, so a real receiver stops waiting for it.
    assert control_types(out).count(ControlType.DROPREQ) == 1
    assert snd.stats.nak_clipped_total == 0  # nothing in it lies beyond what was sent
    assert snd.connected


def test_nak_beyond_the_last_packet_sent_is_clipped_and_counted() -> None:
    sim, snd = sender_holding(100)
    nxt = snd.sender.buffer.next_seq
    snd.receive_datagram(forge_nak(snd, ((seq_add(nxt, -10), seq_add(nxt, 2**22)),)), LISTENER_ADDR, sim.now)
    snd.receive_datagram(forge_nak(snd, ((seq_add(nxt, 5), seq_add(nxt, 5)),)), LISTENER_ADDR, sim.now)
    out = snd.datagrams_to_send(sim.now)
    assert sorted(retransmissions(out)) == [seq_add(nxt, -10 + i) for i in range(10)]
    assert snd.stats.nak_clipped_total == 2
    assert control_types(out).count(ControlType.DROPREQ) == 0
    assert snd.connected


def test_stream_goes_on_after_hostile_naks() -> None:
    sim = connected_sim(SrtConfig(latency_ms=120))
    snd = sim.caller.conn
    assert snd is not None
    sent = payloads(400)
    start = sim.now
    sim.schedule_sends(sent, start, 0.001)
    sim.run_until(start + 0.2)
    base = snd.sender.buffer.first_seq
    for rng in (((base, (base - 1) & SEQ_MASK),), ((seq_add(base, 2**30), seq_add(base, 2**30 + 5)),)):
        snd.receive_datagram(forge_nak(snd, rng), LISTENER_ADDR, sim.now)
    sim.run_until(start + 1.5)
    assert [e.payload for _, e in received(sim.listener)] == sent
    assert snd.stats.nak_clipped_total == 2


# -- ACK / ACKACK ---------------------------------------------------------------------------------
def test_ack_far_ahead_or_behind_is_ignored_and_counted() -> None:
    sim, snd = sender_holding(50)
    sb = snd.sender.buffer
    first, nxt = sb.first_seq, sb.next_seq

    def ack(seq: int) -> bytes:
        return Ack(timestamp=0, dest_socket_id=snd.socket_id, ack_number=1, last_ack_seq=seq).encode()

    snd.receive_datagram(ack(seq_add(nxt, 2**30 - 1)), LISTENER_ADDR, sim.now)  # far past what was sent
    snd.receive_datagram(ack(seq_add(nxt, 1)), LISTENER_ADDR, sim.now)  # one past
    assert (sb.first_seq, len(sb)) == (first, 50)
    assert snd.stats.ack_bogus_total == 2
    snd.receive_datagram(ack(seq_add(first, 20)), LISTENER_ADDR, sim.now)
    assert (sb.first_seq, len(sb)) == (seq_add(first, 20), 30)
    snd.receive_datagram(ack(seq_add(first, 10)), LISTENER_ADDR, sim.now)  # behind: reordered
    assert snd.stats.ack_stale_total == 1 and len(sb) == 30
    snd.receive_datagram(ack(nxt), LISTENER_ADDR, sim.now)  # everything, exactly
    assert len(sb) == 0 and snd.connected


def test_ackack_for_an_unknown_ack_number_is_counted() -> None:
    sim = connected_sim(SrtConfig())
    rcv = sim.listener.conn
    assert rcv is not None
    rtt = rcv.stats.rtt_ms
    for number in (0, 0x7FFFFFFF, 123456):
        rcv.receive_datagram(
            AckAck(timestamp=0, dest_socket_id=rcv.socket_id, ack_number=number).encode(),
            CALLER_ADDR,
            sim.now,
        )
    assert rcv.stats.ackack_unknown_total == 3
    assert rcv.stats.rtt_ms == rtt and rcv.connected


# -- DROPREQ --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "where",
    [
        "2^22 ahead",  # entirely beyond the next expected packet
        "from next expected to 2^22 ahead",  # starts where the stream is, reaches far ahead
        "whole space",  # 2^31 numbers
    ],
)
def test_stream_goes_on_after_a_dropreq_far_ahead(where: str) -> None:
    sim = connected_sim(SrtConfig(latency_ms=120))
    rcv = sim.listener.conn
    assert rcv is not None
    sent = payloads(100)
    start = sim.now
    sim.schedule_sends(sent[:50], start, 0.002)
    sim.run_until(start + 0.5)
    assert len(received(sim.listener)) == 50
    nxt = rcv.receiver.buffer.next_expected
    first, last = {
        "2^22 ahead": (seq_add(nxt, 2**22), seq_add(nxt, 2**22 + 1000)),
        "from next expected to 2^22 ahead": (nxt, seq_add(nxt, 2**22)),
        "whole space": (nxt, seq_add(nxt, -1)),
    }[where]
    rcv.receive_datagram(
        DropRequest(
            timestamp=0, dest_socket_id=rcv.socket_id, msgno=0, first_seq=first, last_seq=last
        ).encode(),
        CALLER_ADDR,
        sim.now,
    )
    assert rcv.connected
    assert rcv.stats.dropreq_clipped_total == 1
    assert rcv.receiver.buffer.next_expected == nxt  # not waiting for anything that cannot come
    resume = sim.now
    sim.schedule_sends(sent[50:], resume, 0.002)
    sim.run_until(resume + 0.5)
    assert [e.payload for _, e in received(sim.listener)] == sent  # the next 50 are accepted and delivered
    assert rcv.stats.pkt_rcv_drop_total == 0


def test_dropreq_inside_the_window_resolves_losses_in_bounded_work() -> None:
    # Every other packet of a burst is lost for good: the receiver holds many losses. A DROPREQ
    # claiming 2^31 numbers resolves exactly those it holds.
    def drop_c2l(i: int, d: bytes) -> bool:
        return (
            is_data(d)
            and int.from_bytes(d[:4], "big") % 2 == 1
            and 1000 <= int.from_bytes(d[:4], "big") < 1100
        )

    cfg = SrtConfig(latency_ms=1000, too_late_drop=False)
    sim = Sim(cfg, cfg, isn=1000, drop_c2l=drop_c2l)
    sim.start()
    sim.run_until(sim.now + 0.1)
    rcv = sim.listener.conn
    assert rcv is not None
    start = sim.now
    sim.schedule_sends(payloads(120), start, 0.001)
    sim.run_until(start + 0.13)
    missing = len(rcv.receiver.buffer.losses)
    assert missing == 50
    rcv.receive_datagram(
        DropRequest(
            timestamp=0, dest_socket_id=rcv.socket_id, msgno=0, first_seq=1000, last_seq=999
        ).encode(),
        CALLER_ADDR,
        sim.now,
    )
    assert not rcv.receiver.buffer.losses
    assert rcv.stats.pkt_rcv_drop_total == missing
    assert rcv.stats.dropreq_clipped_total == 1
    sim.run_until(start + 1.5)
    assert len(received(sim.listener)) == 70 and rcv.connected


# -- the no-ACK retransmission timer --------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["steady 10 Mbit/s", "25 fps frames of 8 packets"])
def test_no_retransmissions_on_a_lossless_path_whose_rtt_exceeds_the_latency(pattern: str) -> None:
    """160 ms RTT, 120 ms latency, no loss: libsrt resends nothing, nor do we (issue 8: the timer
    capped at half the latency resent packets that were merely still in flight)."""
    cfg = SrtConfig(latency_ms=120)
    sim = connected_sim(cfg, one_way_s=ONE_WAY_80_MS)
    snd, rcv = sim.caller.conn, sim.listener.conn
    assert snd is not None and rcv is not None
    sent = payloads(3000)
    start = sim.now
    if pattern == "steady 10 Mbit/s":
        times = [start + i * 0.001 for i in range(3000)]
    else:
        times = [start + (i // 8) * 0.040 + (i % 8) * 0.0002 for i in range(3000)]
    sim.sends = list(zip(times, sent, strict=True))[::-1]
    sim.run_until(times[-1] + 1.0)
    got = received(sim.listener)
    assert [e.payload for _, e in got] == sent
    for (t, _), t_sent in zip(got, times, strict=True):
        assert abs(t - (t_sent + ONE_WAY_80_MS + 0.120)) < 2e-6  # on time
    st = snd.stats
    assert st.pkt_sent_unique_total == 3000
    assert st.pkt_retrans_total < 0.01 * st.pkt_sent_total
    assert 150 < st.rtt_ms < 200  # the sender learned the path's RTT from the ACKs
    # The counters /metrics exports add up on both sides.
    assert st.pkt_sent_total == st.pkt_sent_unique_total + st.pkt_retrans_total
    assert st.byte_sent_total == st.byte_sent_unique_total + st.byte_retrans_total
    assert rcv.stats.pkt_recv_retrans_total == st.pkt_retrans_total
    assert rcv.stats.pkt_recv_total == st.pkt_sent_total
    assert rcv.stats.pkt_rcv_loss_total == 0 and rcv.stats.pkt_rcv_drop_total == 0


def test_losses_are_still_repaired_over_a_160_ms_rtt() -> None:
    def drop_c2l(i: int, d: bytes) -> bool:
        seq = int.from_bytes(d[:4], "big")
        return is_data(d) and not d[4] & 0x04 and (seq % 37 == 0 or 2000 <= seq < 2004)

    cfg = SrtConfig(latency_ms=500)
    sim = Sim(cfg, cfg, isn=1000, one_way_s=ONE_WAY_80_MS, drop_c2l=drop_c2l)
    sim.start()
    sim.run_until(sim.now + 0.6)
    snd, rcv = sim.caller.conn, sim.listener.conn
    assert snd is not None and rcv is not None and rcv.connected
    sent = payloads(2000)
    start = sim.now
    sim.schedule_sends(sent, start, 0.001)
    sim.run_until(start + 3.5)
    assert [e.payload for _, e in received(sim.listener)] == sent
    lost = sum(1 for i in range(2000) if (1000 + i) % 37 == 0) + 4
    assert rcv.stats.pkt_rcv_loss_total == lost
    # Each loss resent about once (NAK), not flooded.
    assert lost <= snd.stats.pkt_retrans_total <= 2 * lost
    assert rcv.stats.pkt_recv_retrans_total == snd.stats.pkt_retrans_total


def test_no_ack_timer_backs_off_while_acks_are_lost() -> None:
    cfg = SrtConfig(latency_ms=120, send_drop_delay_ms=3000)
    sim = connected_sim(cfg)
    snd = sim.caller.conn
    assert snd is not None
    rexmit_times: list[float] = []

    def drop_c2l(i: int, d: bytes) -> bool:
        if is_data(d) and d[4] & 0x04:
            rexmit_times.append(sim.now)
        return is_data(d)  # the packet and every resend of it are lost: no ACK ever moves

    sim.drop_c2l = drop_c2l
    sim.schedule_sends(payloads(1), sim.now, 0.001)
    sim.run_until(sim.now + 3.0)
    gaps = [b - a for a, b in itertools.pairwise(rexmit_times)]
    assert len(rexmit_times) >= 4
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps))  # backs off
    assert snd.stats.rexmit_timeouts_total == len(rexmit_times) == snd.stats.pkt_retrans_total


# -- the listener's front door: handshakes cost constant work until they prove something ---------
def induction(socket_id: int = 1) -> bytes:
    return Handshake(version=4, extension_field=2, socket_id=socket_id).encode()


def conclusion_for(
    acc: SrtAcceptor, addr: tuple[str, int], now: float, *, kmreq: bytes | None = None
) -> bytes:
    assert acc.receive_handshake(induction(), addr, now) is None
    (reply, to), *_ = acc.datagrams_to_send()
    assert to == addr
    return Handshake(
        handshake_type=HandshakeType.CONCLUSION,
        socket_id=7,
        syn_cookie=parse_handshake(reply).syn_cookie,
        hsreq=SrtHandshakeExtension(),
        kmreq=kmreq,
    ).encode()


def test_token_bucket_with_an_explicit_clock() -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # never above the burst


def test_conclusions_are_limited_per_address_and_in_total() -> None:
    limits = HandshakeLimits(
        conclusion_per_addr_per_s=2.0, conclusion_burst_per_addr=3, conclusion_per_s=5.0, conclusion_burst=5
    )
    acc = SrtAcceptor(config=SrtConfig(), rng=random.Random(1), limits=limits)
    a, b, c = ("10.0.0.1", 4000), ("10.0.0.2", 4000), ("10.0.0.3", 4000)
    wire = {addr: conclusion_for(acc, addr, 10.0) for addr in (a, b, c)}
    passed = [acc.receive_handshake(wire[a], a, 10.0) is not None for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7  # a's own burst
    assert acc.stats.conclusions_limited == 7
    assert [acc.receive_handshake(wire[b], b, 10.0) is not None for _ in range(3)] == [True, True, False]
    assert acc.receive_handshake(wire[c], c, 10.0) is None  # the listener's total is spent
    assert acc.receive_handshake(wire[c], c, 10.5) is not None  # refilled at 5 per second
    assert acc.receive_handshake(wire[a], a, 11.0) is not None  # a refilled too


def test_bad_cookies_cost_no_tokens() -> None:
    limits = HandshakeLimits(conclusion_burst_per_addr=2, conclusion_burst=2)
    acc = SrtAcceptor(config=SrtConfig(), rng=random.Random(1), limits=limits)
    addr = ("10.0.0.1", 4000)
    good = conclusion_for(acc, addr, 10.0)
    forged = bytearray(good)
    forged[44:48] = (int.from_bytes(good[44:48], "big") ^ 1).to_bytes(4, "big")
    for _ in range(5000):
        assert acc.receive_handshake(bytes(forged), addr, 10.0) is None
    assert acc.stats.bad_cookies == 5000
    assert acc.receive_handshake(good, addr, 10.0) is not None
    assert acc.stats.conclusions_limited == 0


def test_induction_flood_is_answered_up_to_the_limit_and_summed_up_in_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = HandshakeLimits(summary_interval_s=10.0)
    acc = SrtAcceptor(config=SrtConfig(), rng=random.Random(1), limits=limits)
    caplog.set_level(logging.DEBUG, logger="mediaplane.srt")
    now = 100.0
    for i in range(15_000):  # 15,000 inductions a second, for two seconds, from one address
        acc.receive_handshake(induction(i + 1), ("10.0.0.66", 1024 + i % 50_000), now + i / 7500)
    answered = len(acc.datagrams_to_send())
    # One address gets its burst plus its rate: 100 + 50 per second.
    assert 100 <= answered <= 100 + 50 * 2 + 1
    assert acc.stats.inductions == 15_000
    assert acc.stats.inductions_limited == 15_000 - answered
    # A caller elsewhere still gets an answer.
    acc.receive_handshake(induction(), ("10.0.0.7", 5000), now + 2.0)
    assert len(acc.datagrams_to_send()) == 1
    acc.receive_handshake(induction(), ("10.0.0.7", 5000), now + 11.0)  # past the summary interval
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(info) == 1 and "inductions over the limit" in info[0].getMessage()


def test_pbkdf2_only_for_conclusions_within_the_limit() -> None:
    """A forged conclusion with a valid cookie and parseable key material under a wrong passphrase
    costs a PBKDF2 only while the limit lasts; the rest are dropped before the unwrap."""
    cfg = SrtConfig(passphrase="the listener's passphrase")
    limits = HandshakeLimits(conclusion_burst_per_addr=5, conclusion_per_addr_per_s=1.0)
    acc = SrtAcceptor(config=cfg, rng=random.Random(1), limits=limits)
    addr = ("10.0.0.66", 4000)
    km = new_keyset(random.Random(2), 16).to_message("an attacker's guess").encode()
    wire = conclusion_for(acc, addr, 10.0, kmreq=km)
    rejections = []
    for i in range(1000):
        hs = acc.receive_handshake(wire, addr, 10.0 + i / 1000)
        if hs is None:
            continue
        conn = SrtConnection.accept(
            hs, config=cfg, rng=random.Random(i), peer_addr=addr, now=10.0, socket_id=9
        )
        assert conn.closed
        rejections.append(conn.reject_reason)
    assert rejections == [RejectReason.BADSECRET] * 5  # libsrt's reject code, for the few processed
    assert acc.stats.conclusions_limited == 995


def test_refusals_log_at_info_within_a_budget() -> None:
    acc = SrtAcceptor(
        config=SrtConfig(),
        rng=random.Random(1),
        limits=HandshakeLimits(info_refusals_per_interval=3, summary_interval_s=5.0),
    )
    levels = [acc.refusal_log_level(1.0) for _ in range(5)]
    assert levels == [logging.INFO] * 3 + [logging.DEBUG] * 2
    assert acc.stats.refusals_logged_quietly == 2
    assert acc.refusal_log_level(7.0) == logging.INFO  # a new interval


def test_send_buffer_is_bounded_so_is_a_nak() -> None:
    cfg = SrtConfig(send_buffer_packets=64)
    sim = connected_sim(cfg)
    snd = sim.caller.conn
    assert snd is not None
    for p in payloads(200):
        snd.send(p, sim.now)
    snd.datagrams_to_send(sim.now)
    assert len(snd.sender.buffer) == 64
    assert snd.stats.pkt_snd_drop_total == 136
    base = snd.sender.buffer.first_seq
    snd.receive_datagram(forge_nak(snd, ((base, (base - 1) & SEQ_MASK),)), LISTENER_ADDR, sim.now)
    assert len(retransmissions(snd.datagrams_to_send(sim.now))) == 64 == cfg.send_buffer_packets
