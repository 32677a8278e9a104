"""Two SRT cores pumped in memory with an explicit clock and fixed loss patterns (no sockets, no loop).

The simulation is event driven: time jumps to the next datagram arrival, timer or application send,
so the TSBPD release times can be checked exactly.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from mediaplane.srt import (
    ConnectionClosed,
    ConnectionEstablished,
    PacketsDropped,
    PayloadReceived,
    RejectReason,
    SrtAcceptor,
    SrtConfig,
    SrtConnection,
)
from mediaplane.srt.events import Event, KeysRefreshed
from mediaplane.srt.handshake import parse_handshake
from mediaplane.srt.packet import ControlType

CALLER_ADDR = ("10.0.0.1", 5000)
LISTENER_ADDR = ("10.0.0.2", 9000)
ONE_WAY_S = 0.005

Dropper = Callable[[int, bytes], bool]
"""``drop(index, datagram)``: index counts datagrams in that direction."""


def keep_all(i: int, d: bytes) -> bool:
    return False


@dataclass
class Side:
    conn: SrtConnection | None = None
    events: list[tuple[float, Event]] = field(default_factory=list)
    sent: int = 0


class Sim:
    def __init__(
        self,
        caller_cfg: SrtConfig,
        listener_cfg: SrtConfig,
        *,
        drop_c2l: Dropper = keep_all,
        drop_l2c: Dropper = keep_all,
        isn: int | None = None,
        seed: int = 1,
        caller_age_s: float = 0.0,
        one_way_s: float = ONE_WAY_S,
    ) -> None:
        self.now = 100.0
        self.one_way_s = one_way_s
        # caller_age_s: how long the caller's clock has been running (its timestamps count from then).
        self.rng = random.Random(seed)
        self.caller = Side(
            SrtConnection(
                config=caller_cfg,
                rng=random.Random(seed + 1),
                peer_addr=LISTENER_ADDR,
                now=self.now - caller_age_s,
                initial_seq=isn,
            )
        )
        self.listener = Side()
        self.acceptor = SrtAcceptor(config=listener_cfg, rng=random.Random(seed + 2))
        self.listener_cfg = listener_cfg
        self.drop_c2l = drop_c2l
        self.drop_l2c = drop_l2c
        self.in_flight: list[tuple[float, int, str, bytes]] = []
        self._n = 0
        self.c2l_index = 0
        self.l2c_index = 0
        self.sends: list[tuple[float, bytes]] = []
        self.log_c2l: list[bytes] = []

    def _post(self, direction: str, data: bytes) -> None:
        if direction == "c2l":
            i = self.c2l_index
            self.c2l_index += 1
            self.log_c2l.append(data)
            if self.drop_c2l(i, data):
                return
        else:
            i = self.l2c_index
            self.l2c_index += 1
            if self.drop_l2c(i, data):
                return
        self._n += 1
        heapq.heappush(self.in_flight, (self.now + self.one_way_s, self._n, direction, data))

    def _flush(self) -> None:
        for side, direction in ((self.caller, "c2l"), (self.listener, "l2c")):
            conn = side.conn
            if conn is None:
                continue
            for d in conn.datagrams_to_send(self.now):
                self._post(direction, d)
            ev = conn.next_event()
            while ev is not None:
                side.events.append((self.now, ev))
                ev = conn.next_event()
        for d, _ in self.acceptor.datagrams_to_send():
            self._post("l2c", d)

    def _deliver(self, direction: str, data: bytes) -> None:
        if direction == "l2c":
            assert self.caller.conn is not None
            self.caller.conn.receive_datagram(data, LISTENER_ADDR, self.now)
            return
        dst = int.from_bytes(data[12:16], "big")
        if dst == 0 and self.listener.conn is None:
            hs = self.acceptor.receive_handshake(data, CALLER_ADDR, self.now)
            if hs is not None:
                self.listener.conn = SrtConnection.accept(
                    hs,
                    config=self.listener_cfg,
                    rng=random.Random(9),
                    peer_addr=CALLER_ADDR,
                    now=self.now,
                    socket_id=4242,
                )
            return
        if self.listener.conn is not None:
            self.listener.conn.receive_datagram(data, CALLER_ADDR, self.now)

    def start(self) -> None:
        assert self.caller.conn is not None
        self.caller.conn.connect(self.now)
        self._flush()

    def schedule_sends(self, payloads: list[bytes], start: float, interval: float) -> None:
        self.sends = [(start + i * interval, p) for i, p in enumerate(payloads)]
        self.sends.reverse()

    def run_until(self, end: float, sender: str = "caller") -> None:
        while True:
            candidates = [end]
            if self.in_flight:
                candidates.append(self.in_flight[0][0])
            for side in (self.caller, self.listener):
                if side.conn is not None:
                    t = side.conn.get_timer()
                    if t is not None:
                        candidates.append(t)
            if self.sends:
                candidates.append(self.sends[-1][0])
            t = max(self.now, min(candidates))
            if t >= end:
                self.now = end
                return
            self.now = t
            while self.in_flight and self.in_flight[0][0] <= self.now:
                _, _, direction, data = heapq.heappop(self.in_flight)
                self._deliver(direction, data)
            while self.sends and self.sends[-1][0] <= self.now:
                _, payload = self.sends.pop()
                side = self.caller if sender == "caller" else self.listener
                assert side.conn is not None
                side.conn.send(payload, self.now)
            for side in (self.caller, self.listener):
                conn = side.conn
                if conn is not None:
                    timer = conn.get_timer()
                    if timer is not None and timer <= self.now:
                        conn.handle_timer(self.now)
            self._flush()


def payloads(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") * 329 for i in range(n)]


def received(side: Side) -> list[tuple[float, PayloadReceived]]:
    return [(t, e) for t, e in side.events if isinstance(e, PayloadReceived)]


def is_data(d: bytes) -> bool:
    return not d[0] & 0x80


def connect(sim: Sim) -> None:
    sim.start()
    sim.run_until(sim.now + 0.1)
    assert sim.caller.conn is not None and sim.caller.conn.connected
    assert sim.listener.conn is not None and sim.listener.conn.connected


def stream(sim: Sim, n: int, *, seconds: float, interval: float = 0.001, sender: str = "caller") -> float:
    """Connect, then send ``payloads(n)`` from ``sender``, one every ``interval``, and run ``seconds``
    from the first send; returns when that was."""
    connect(sim)
    start = sim.now
    sim.schedule_sends(payloads(n), start, interval)
    sim.run_until(start + seconds, sender=sender)
    return start


def assert_at_tsbpd_time(got: list[tuple[float, PayloadReceived]], start: float, latency_s: float) -> None:
    """Each payload (sent one a millisecond) delivered at send time + one-way delay + latency, to the
    microsecond."""
    for i, (t, _) in enumerate(got):
        assert abs(t - (start + i * 0.001 + ONE_WAY_S + latency_s)) < 2e-6


@pytest.mark.parametrize("passphrase", ["", "pumped passphrase"])
@pytest.mark.parametrize("isn", [None, 2**31 - 100])
def test_every_packet_once_in_order_at_tsbpd_time_despite_loss(passphrase: str, isn: int | None) -> None:
    data_index = {"n": 0}

    def drop_c2l(i: int, d: bytes) -> bool:
        if not is_data(d) or d[4] & 0x04:  # retransmissions always pass
            return False
        data_index["n"] += 1
        return data_index["n"] % 13 == 0 or 500 <= data_index["n"] < 505  # scattered and a burst

    def drop_l2c(i: int, d: bytes) -> bool:
        return i % 7 == 3  # some ACKs, NAKs and ACKACK-triggering packets vanish too

    cfg = SrtConfig(latency_ms=120, passphrase=passphrase)
    sim = Sim(cfg, cfg, drop_c2l=drop_c2l, drop_l2c=drop_l2c, isn=isn)
    start = stream(sim, 1000, seconds=2.0)
    got = received(sim.listener)
    assert [e.payload for _, e in got] == payloads(1000)
    assert len({e.seq for _, e in got}) == 1000
    assert_at_tsbpd_time(got, start, 0.120)
    lst, snd = sim.listener.conn, sim.caller.conn
    assert lst is not None and snd is not None
    assert lst.stats.pkt_rcv_loss_total >= 80
    assert lst.stats.pkt_rcv_drop_total == 0
    assert snd.stats.pkt_retrans_total >= 80
    assert lst.stats.pkt_recv_unique_total == 1000
    assert 0 < lst.stats.rtt_ms < 50  # measured from ACKACK: about 2 x 5 ms
    if isn is not None:
        assert got[-1][1].seq < 1000  # the sequence numbers wrapped


def test_listener_sends_to_caller_too() -> None:
    cfg = SrtConfig(latency_ms=80)
    sim = Sim(
        cfg, SrtConfig(latency_ms=200), drop_l2c=lambda i, d: is_data(d) and i % 11 == 0 and not d[4] & 4
    )
    start = stream(sim, 300, seconds=1.5, interval=0.002, sender="listener")
    assert sim.caller.conn is not None and sim.caller.conn.latency_ms == 200  # the larger latency wins
    got = received(sim.caller)
    assert [e.payload for _, e in got] == payloads(300)
    assert abs(got[0][0] - (start + ONE_WAY_S + 0.200)) < 2e-6


def test_too_late_drop_skips_what_never_arrives() -> None:
    def drop_c2l(i: int, d: bytes) -> bool:
        return is_data(d) and int.from_bytes(d[:4], "big") % 100 == 50  # lost every time, retransmits too

    cfg = SrtConfig(latency_ms=60)
    sim = Sim(cfg, cfg, drop_c2l=drop_c2l, isn=1000)
    stream(sim, 400, seconds=2.0)
    got = [e.payload for _, e in received(sim.listener)]
    assert got == [p for i, p in enumerate(payloads(400)) if (1000 + i) % 100 != 50]
    drops = [e for _, e in sim.listener.events if isinstance(e, PacketsDropped)]
    assert sum(d.count for d in drops) == 4
    assert sim.listener.conn is not None and sim.listener.conn.stats.pkt_rcv_drop_total == 4


def test_key_refresh_mid_stream() -> None:
    cfg = SrtConfig(passphrase="refresh me please", km_refresh_rate=200, km_preannounce=50)
    sim = Sim(cfg, cfg)
    stream(sim, 1000, seconds=1.5)
    assert [e.payload for _, e in received(sim.listener)] == payloads(1000)
    refreshed = [e for _, e in sim.listener.events if isinstance(e, KeysRefreshed)]
    assert len(refreshed) >= 8  # announce + retire for each of the 4 switches
    keys_used = {(d[4] >> 3) & 3 for d in sim.log_c2l if is_data(d)}
    assert keys_used == {1, 2}  # both even and odd keys carried data


@pytest.mark.parametrize(
    ("caller_pw", "listener_pw", "reason"),
    [
        ("the right passphrase", "the wrong passphrase", RejectReason.BADSECRET),
        ("", "the wrong passphrase", RejectReason.UNSECURE),
        ("the right passphrase", "", RejectReason.UNSECURE),
    ],
)
def test_handshake_rejections(caller_pw: str, listener_pw: str, reason: RejectReason) -> None:
    sim = Sim(SrtConfig(passphrase=caller_pw), SrtConfig(passphrase=listener_pw))
    sim.start()
    sim.run_until(sim.now + 0.1)
    closed = [e for _, e in sim.caller.events if isinstance(e, ConnectionClosed)]
    assert closed and closed[0].reject_reason == reason
    assert sim.caller.conn is not None and sim.caller.conn.closed


def test_handshake_survives_lost_handshakes_and_times_out_without_peer() -> None:
    # The first induction and the first conclusion are lost: retransmitted after 250 ms each.
    sim = Sim(SrtConfig(), SrtConfig(), drop_c2l=lambda i, d: i in (0, 1))
    sim.start()
    sim.run_until(sim.now + 0.6)
    assert sim.caller.conn is not None and sim.caller.conn.connected
    assert any(isinstance(e, ConnectionEstablished) for _, e in sim.caller.events)
    dead = Sim(SrtConfig(connect_timeout_ms=1000), SrtConfig(), drop_c2l=lambda i, d: True)
    dead.start()
    dead.run_until(dead.now + 2.0)
    closed = [e for _, e in dead.caller.events if isinstance(e, ConnectionClosed)]
    assert closed and closed[0].reject_reason == RejectReason.TIMEOUT
    assert dead.c2l_index == 4  # at 0, 250, 500, 750 ms


def test_lost_conclusion_response_is_answered_again() -> None:
    sim = Sim(SrtConfig(), SrtConfig(), drop_l2c=lambda i, d: i == 1)
    sim.start()
    sim.run_until(sim.now + 0.5)
    assert sim.caller.conn is not None and sim.caller.conn.connected


def test_peer_idle_timeout_and_shutdown() -> None:
    cfg = SrtConfig(peer_idle_timeout_ms=2000)
    sim = Sim(cfg, cfg)
    connect(sim)
    # Keepalives keep an idle connection alive.
    sim.run_until(sim.now + 5)
    assert sim.listener.conn is not None and sim.listener.conn.connected
    # Cut the wire: both sides time out.
    sim.drop_c2l = sim.drop_l2c = lambda i, d: True
    sim.run_until(sim.now + 3)
    for side in (sim.caller, sim.listener):
        closed = [e for _, e in side.events if isinstance(e, ConnectionClosed)]
        assert closed and closed[0].reason == "peer idle timeout"
    sim2 = Sim(cfg, cfg)
    connect(sim2)
    assert sim2.caller.conn is not None
    sim2.caller.conn.close(sim2.now)
    sim2._flush()
    sim2.run_until(sim2.now + 0.1)
    closed = [e for _, e in sim2.listener.events if isinstance(e, ConnectionClosed)]
    assert closed and closed[0].by_peer and closed[0].reason == "peer shut down"


def test_acceptor_cookie_and_flood() -> None:
    acc = SrtAcceptor(config=SrtConfig(), rng=random.Random(1))
    from mediaplane.srt.handshake import Handshake, HandshakeType, SrtHandshakeExtension

    for i in range(1000):
        assert (
            acc.receive_handshake(
                Handshake(version=4, extension_field=2, socket_id=i + 1).encode(),
                ("10.0.0.9", 1000 + i),
                50.0,
            )
            is None
        )
    replies = acc.datagrams_to_send()
    assert len(replies) == 100  # one address's burst (HandshakeLimits); the rest are counted
    assert acc.stats.inductions == 1000 and acc.stats.inductions_limited == 900
    first = parse_handshake(replies[0][0])
    assert first.syn_cookie == acc.cookie(("10.0.0.9", 1000), 50.0)
    conclusion = Handshake(
        handshake_type=HandshakeType.CONCLUSION,
        socket_id=1,
        syn_cookie=first.syn_cookie,
        hsreq=SrtHandshakeExtension(),
    )
    assert acc.receive_handshake(conclusion.encode(), ("10.0.0.9", 1000), 80.0) is not None  # previous minute
    assert acc.receive_handshake(conclusion.encode(), ("10.0.0.9", 1001), 80.0) is None  # other address
    assert acc.receive_handshake(conclusion.encode(), ("10.0.0.9", 1000), 200.0) is None  # expired
    assert acc.stats.bad_cookies == 2
    assert acc.receive_handshake(b"\x80\x00\x00\x00garbage", ("1.2.3.4", 5), 1.0) is None
    assert acc.stats.malformed == 1


def test_garbage_after_connect_closes_only_with_reason() -> None:
    cfg = SrtConfig()
    sim = Sim(cfg, cfg)
    connect(sim)
    lst = sim.listener.conn
    assert lst is not None
    rng = random.Random(3)
    for _ in range(300):
        junk = bytearray(rng.randbytes(rng.randrange(0, 200)))
        if len(junk) >= 16:
            junk[0] &= 0x7F  # data packets with random sequence numbers
        lst.receive_datagram(bytes(junk), CALLER_ADDR, sim.now)
    assert lst.connected  # random data packets are dropped, not fatal
    lst.receive_datagram(b"\x80\x03\x00\x00" + b"\x00" * 12, CALLER_ADDR, sim.now)  # NAK without body
    assert lst.closed and lst.close_reason == "malformed packet: empty NAK"
    assert ControlType.NAK == 3


def test_dropreq_unblocks_a_receiver_without_too_late_drop() -> None:
    def drop_c2l(i: int, d: bytes) -> bool:
        return is_data(d) and int.from_bytes(d[:4], "big") == 1100  # never arrives, retransmits neither

    sender_cfg = SrtConfig(latency_ms=60, send_drop_delay_ms=0)
    receiver_cfg = SrtConfig(latency_ms=60, too_late_drop=False)
    sim = Sim(sender_cfg, receiver_cfg, drop_c2l=drop_c2l, isn=1000)
    stream(sim, 400, seconds=2.0)
    got = [e.payload for _, e in received(sim.listener)]
    sent = payloads(400)
    assert got == sent[:100] + sent[101:]
    lst, snd = sim.listener.conn, sim.caller.conn
    assert lst is not None and snd is not None
    assert snd.stats.pkt_snd_drop_total >= 1
    assert lst.stats.pkt_rcv_drop_total == 1  # resolved by the DROPREQ, not by TSBPD
    assert any(d[0] & 0x80 and (d[0] << 8 | d[1]) & 0x7FFF == ControlType.DROPREQ for d in sim.log_c2l)


def test_connect_twice_is_a_local_error() -> None:
    from mediaplane.srt import LocalProtocolError

    conn = SrtConnection(config=SrtConfig(), rng=random.Random(1), peer_addr=LISTENER_ADDR, now=0.0)
    conn.connect(0.0)
    with pytest.raises(LocalProtocolError):
        conn.connect(0.1)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

actions = st.lists(
    st.one_of(
        st.tuples(st.just("timer"), st.floats(0, 2)),
        st.tuples(st.just("close"), st.just(0.0)),
        st.tuples(st.just("send"), st.just(0.0)),
        st.tuples(st.just("garbage"), st.binary(min_size=16, max_size=80)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(script=actions)
def test_random_api_use_never_breaks_the_state_machine(script: list[tuple[str, object]]) -> None:
    """Whatever happens after connecting, the core only moves along its transition table and never
    raises: timers, closes, sends and random datagrams at random times."""
    sim = Sim(SrtConfig(), SrtConfig())
    connect(sim)
    conn = sim.caller.conn
    assert conn is not None
    for kind, arg in script:
        if kind == "timer":
            sim.run_until(sim.now + float(arg))  # type: ignore[arg-type]
        elif kind == "close":
            conn.close(sim.now)
        elif kind == "send":
            conn.send(b"\x47" * 188, sim.now)
        else:
            conn.receive_datagram(bytes(arg), LISTENER_ADDR, sim.now)  # type: ignore[arg-type]
        assert conn.state.value in ("connected", "closed")
    sim.run_until(sim.now + 10)
    assert conn.closed or conn.connected


def test_sender_timestamps_wrap_mid_stream() -> None:
    # The caller's 32-bit microsecond clock wraps (every 71.6 minutes) 0.3 s into the stream.
    cfg = SrtConfig(latency_ms=120)
    sim = Sim(cfg, cfg, caller_age_s=2**32 / 1e6 - 0.35, drop_c2l=lambda i, d: is_data(d) and i % 17 == 5)
    start = stream(sim, 600, seconds=1.5)
    got = received(sim.listener)
    assert [e.payload for _, e in got] == payloads(600)
    stamps = [e.timestamp_us for _, e in got]
    assert stamps[0] > 2**32 - 400_000 and stamps[-1] < 400_000  # it did wrap
    assert_at_tsbpd_time(got, start, 0.120)


def test_stats_rates_and_drop_bytes() -> None:
    cfg = SrtConfig(latency_ms=60)
    sim = Sim(cfg, cfg, drop_c2l=lambda i, d: is_data(d) and int.from_bytes(d[:4], "big") == 1500, isn=1000)
    stream(sim, 2500, seconds=2.2)  # 1316 bytes every ms: 10.5 Mbit/s
    snd, rcv = sim.caller.conn, sim.listener.conn
    assert snd is not None and rcv is not None
    assert 9.5 < snd.stats.send_rate_mbps < 11.5
    assert 9.5 < rcv.stats.recv_rate_mbps < 11.5
    assert rcv.stats.pkt_rcv_drop_total == 1 and rcv.stats.byte_rcv_drop_total == 1316
    assert rcv.stats.latency_ms == 60
    assert 2199 <= snd.stats.pkt_sent_unique_total <= 2201
    assert snd.stats.as_dict()["pkt_sent_unique_total"] == snd.stats.pkt_sent_unique_total


def test_lost_last_packet_of_a_burst_is_resent_without_a_nak() -> None:
    # Nothing follows the last packet, so the receiver never sees a gap and never NAKs it.
    def drop_c2l(i: int, d: bytes) -> bool:
        return is_data(d) and not d[4] & 0x04 and int.from_bytes(d[:4], "big") == 1000 + 99

    cfg = SrtConfig(latency_ms=120)
    sim = Sim(cfg, cfg, drop_c2l=drop_c2l, isn=1000)
    stream(sim, 100, seconds=1.0)
    assert [e.payload for _, e in received(sim.listener)] == payloads(100)
    assert sim.listener.conn is not None and sim.listener.conn.stats.pkt_sent_nak_total == 0
    assert sim.caller.conn is not None and sim.caller.conn.stats.pkt_retrans_total == 1
