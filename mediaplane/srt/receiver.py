"""The live-mode receiver of one connection, sans-IO: it owns the receive buffer.

``push(data, now)`` takes one data packet (header and payload; ``now`` is when it arrived);
``tick(now)`` releases payloads at their TSBPD time (skipping a gap once a later packet is due),
sends the periodic ACK and NAK report; ``next_deadline()`` says when ``tick`` is due;
``handle_ackack`` samples the RTT and ``handle_dropreq`` forgets what the sender gave up. Released
payloads become :class:`~.events.PayloadReceived` events on the connection's queue, wire datagrams
go on its output list.

References: draft-sharabayko-srt sections 4.5 (TSBPD), 4.6 (too-late drop), 4.8 (ACK, ACKACK, NAK),
4.10 (RTT).
"""

from __future__ import annotations

import collections
import logging

from .buffers import ReceiveBuffer
from .circular import TIMESTAMP_MASK, TimestampUnwrapper, seq_count, seq_next
from .events import Event, PacketsDropped, PayloadReceived
from .keymaterial import KeySet
from .packet import HEADER_SIZE, KEY_MASK, KEY_SHIFT, RETRANSMITTED_FLAG, Ack, Nak
from .sender import ACK_INTERVAL_S, DATA_HEADER
from .stats import RttEstimate, SrtStats

MIN_NAK_INTERVAL_S = 0.020
"""Floor of the periodic NAK report's period (section 4.8.2; libsrt m_tdMinNakInterval, live mode)."""
MAX_NAK_WORDS = 300
"""Loss-list words in one NAK, so it fits in one datagram."""
ACK_HISTORY = 1024
"""Full ACKs remembered for matching their ACKACK (RTT, section 4.10; libsrt's ACK window)."""
ACK_REPEAT_MIN_S = 0.1
"""A full ACK that acknowledges nothing new is sent again only after this long (or two RTTs)."""
RATE_WINDOW_S = 1.0
"""Window over which the receive and send rates in the stats are measured."""
TSBPD_BASE_TOLERANCE_S = 1.0
"""A TSBPD base this far from the handshake's means the peer's clock jumped: TSBPD is re-based."""


class LiveReceiver:
    """Receives, reorders and releases the data packets of one connection; see the module docstring.

    ``out`` and ``events`` are the connection's; ``stats`` and ``rtt`` are shared with it and the
    sender. ``keys`` (set by the connection) decrypts; with ``encrypted`` set, a clear packet is not
    accepted."""

    __slots__ = (
        "_ack_number",
        "_ack_times",
        "_capacity",
        "_last_ack_seq",
        "_last_ack_time",
        "_next_ack",
        "_next_nak",
        "_rate_recv_bytes",
        "_rate_recv_pkts",
        "_rate_start",
        "_released",
        "_start",
        "_unwrap",
        "buffer",
        "encrypted",
        "events",
        "keys",
        "last_send",
        "latency_s",
        "log",
        "nak_report",
        "out",
        "peer_socket_id",
        "recv_pkt_rate",
        "rtt",
        "stats",
        "tsbpd_base",
    )

    def __init__(
        self,
        isn: int,
        *,
        capacity: int,
        nak_report: bool,
        out: list[bytes],
        events: collections.deque[Event],
        stats: SrtStats,
        rtt: RttEstimate,
        start: float,
        log: logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self.buffer = ReceiveBuffer(isn, capacity=capacity)
        self._capacity = capacity
        self.nak_report = nak_report
        self.out = out
        self.events = events
        self.stats = stats
        self.rtt = rtt
        self.log = log
        self.keys: KeySet | None = None
        self.encrypted = False
        self.peer_socket_id = 0
        self.tsbpd_base = 0.0
        """Local time (seconds) at which the peer's clock read zero (libsrt m_tsRcvPeerStartTime)."""
        self.latency_s = 0.0
        self.last_send = start
        self.recv_pkt_rate = 0
        self._start = start
        self._unwrap = TimestampUnwrapper()
        self._next_ack: float | None = None
        self._next_nak: float | None = None
        self._ack_number = 0
        self._last_ack_seq = -1
        self._last_ack_time = 0.0
        self._ack_times: dict[int, float] = {}
        self._released: list[tuple[int, int, bytes]] = []
        self._rate_start = start
        self._rate_recv_bytes = 0
        self._rate_recv_pkts = 0

    def __repr__(self) -> str:
        b = self.buffer
        return f"<LiveReceiver {b.next_deliver}..{b.next_expected} held={len(b.packets)}>"

    def start(self, peer_timestamp: int, now: float, *, latency_ms: int, too_late_drop: bool) -> None:
        """The connection is established: the peer's clock read ``peer_timestamp`` (microseconds)
        at ``now``; payloads are released ``latency_ms`` after their timestamp."""
        self.tsbpd_base = now - peer_timestamp / 1_000_000
        self._unwrap = TimestampUnwrapper()
        self._unwrap.unwrap(peer_timestamp)
        self.latency_s = latency_ms / 1000
        self.buffer.too_late_drop = too_late_drop
        self.last_send = now
        self._next_ack = now + ACK_INTERVAL_S
        self._next_nak = now + MIN_NAK_INTERVAL_S
        self._rate_start = now

    def _timestamp(self, now: float) -> int:
        return int((now - self._start) * 1_000_000) & TIMESTAMP_MASK

    # -- data ------------------------------------------------------------------------------------
    def push(self, data: bytes, now: float) -> None:
        """One data packet (16-byte header and payload) that arrived at ``now``."""
        seq, w1, ts, _ = DATA_HEADER.unpack_from(data)
        st = self.stats
        size = len(data) - HEADER_SIZE
        st.pkt_recv_total += 1
        st.byte_recv_total += size
        self._rate_recv_bytes += size
        self._rate_recv_pkts += 1
        if w1 & RETRANSMITTED_FLAG:
            st.pkt_recv_retrans_total += 1
        buf = self.buffer
        verdict = buf.accepts(seq)
        if verdict:
            if verdict == 1:
                st.pkt_recv_belated_total += 1
            else:
                st.pkt_rcv_overflow_total += 1
                if self.log.isEnabledFor(logging.DEBUG):
                    self.log.debug("packet %d beyond the receive buffer; dropped", seq)
            return
        payload = data[HEADER_SIZE:]
        if type(payload) is not bytes:
            payload = bytes(payload)  # a view of the caller's buffer must not be kept
        kk = (w1 & KEY_MASK) >> KEY_SHIFT
        if kk:
            keys = self.keys
            cipher = keys.cipher(kk) if keys is not None else None
            if cipher is None:
                st.pkt_rcv_undecrypt_total += 1
                return
            payload = cipher.crypt(seq, payload)
        elif self.encrypted:
            st.pkt_rcv_undecrypt_total += 1
            return
        tsu = self._unwrap.unwrap(ts)
        if not st.pkt_recv_unique_total:
            # Sanity check of the handshake-derived TSBPD base on the first data packet: a peer whose
            # handshake timestamp is not on its data clock would otherwise have everything dropped
            # as too late (or held far too long).
            base = now - tsu / 1_000_000
            if abs(base - self.tsbpd_base) > TSBPD_BASE_TOLERANCE_S:
                self.log.info(
                    "peer clock jumped %.3f s after the handshake; re-basing TSBPD", base - self.tsbpd_base
                )
                self.tsbpd_base = base
        st.pkt_recv_unique_total += 1
        st.byte_recv_unique_total += size
        loss = buf.insert(seq, self.tsbpd_base + tsu / 1_000_000 + self.latency_s, ts, payload, now)
        if loss is not None:
            first, last = loss
            st.pkt_rcv_loss_total += seq_count(first, last)
            # Immediate NAK on a gap (section 4.8.2).
            self._send_nak([(first, last)], now)

    def handle_dropreq(self, first: int, last: int) -> None:
        """The sender gave up ``first..last`` (a DROPREQ): stop waiting for them."""
        st = self.stats
        n, clipped = self.buffer.drop_range(first, last)
        st.pkt_rcv_drop_total += n
        st.byte_rcv_drop_total += n * (st.byte_recv_unique_total // max(1, st.pkt_recv_unique_total))
        st.dropreq_recv_total += 1
        if clipped:
            st.dropreq_clipped_total += 1
            if self.log.isEnabledFor(logging.DEBUG):
                b = self.buffer
                self.log.debug(
                    "DROPREQ %d..%d clipped to the receive window %d..%d",
                    first,
                    last,
                    b.next_deliver,
                    b.next_expected,
                )

    def handle_ackack(self, ack_number: int, now: float) -> None:
        """The ACKACK for our ACK ``ack_number`` arrived at ``now``: one RTT sample."""
        sent = self._ack_times.pop(ack_number, None)
        if sent is None:
            self.stats.ackack_unknown_total += 1
            return
        # Arrival times are kernel stamps moved onto the monotonic clock (socket_driver): on loopback the
        # round trip is shorter than that conversion's error, so a sample can come out negative.
        self.rtt.sample(max(0.0, (now - sent) * 1_000_000))

    def flush(self) -> None:
        """Hand over everything received so far, gaps skipped (the peer shut down: libsrt lets the
        application read what already arrived)."""
        buf = self.buffer
        seq = buf.next_deliver
        ev = self.events
        while seq != buf.next_expected:
            item = buf.packets.pop(seq, None)
            if item is not None:
                ev.append(PayloadReceived(payload=item[2], seq=seq, timestamp_us=item[1]))
            seq = seq_next(seq)
        buf.next_deliver = seq
        buf.losses.clear()

    # -- timers ----------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When :meth:`tick` is due next (monotonic seconds), or None.

        Only what :meth:`tick` would act on counts: with nothing new to acknowledge the next ACK is
        the repeat (``_send_ack``), and with no loss there is no NAK report to send. An idle
        connection then wakes every few hundred ms instead of every 10 ms (a relay keeps its backbone
        connection up between streams; 20 idle chains cost 12 % of a core in those wake-ups)."""
        buf = self.buffer
        t = self._next_ack
        if t is not None and buf.ack_seq() == self._last_ack_seq:
            repeat = self._last_ack_time + max(ACK_REPEAT_MIN_S, 2 * self.rtt.rtt_us / 1e6)
            if repeat > t:
                t = repeat
        n = self._next_nak
        if n is not None and buf.losses and self.nak_report and (t is None or n < t):
            t = n
        r = buf.next_release_time()
        if r is not None and (t is None or r < t):
            t = r
        return t

    def tick(self, now: float) -> None:
        """TSBPD release, the periodic ACK (every 10 ms) and NAK report (section 4.8)."""
        self._deliver(now)
        if self._next_ack is not None and now >= self._next_ack:
            self._send_ack(now)
            self._next_ack = now + ACK_INTERVAL_S
            self._update_rate(now)
        if self._next_nak is not None and now >= self._next_nak:
            # Periodic NAK report: half of RTT + 4 RTTVar, at least 20 ms (libsrt live mode).
            rtt = self.rtt
            interval = max(MIN_NAK_INTERVAL_S, (rtt.rtt_us + 4 * rtt.var_us) / 2e6)
            if self.nak_report and self.buffer.losses:
                words = 0
                batch: list[tuple[int, int]] = []
                for r in list(self.buffer.loss_ranges(now, now - interval)):
                    batch.append(r)
                    words += 1 if r[0] == r[1] else 2
                    if words >= MAX_NAK_WORDS:
                        self._send_nak(batch, now)
                        batch, words = [], 0
                if batch:
                    self._send_nak(batch, now)
            self._next_nak = now + interval

    def _deliver(self, now: float) -> None:
        out = self._released
        dropped = self.buffer.release(now, out)
        if dropped:
            st = self.stats
            for first, last in dropped:
                n = seq_count(first, last)
                st.pkt_rcv_drop_total += n
                # The bytes never arrived: estimated from the average payload, as libsrt does.
                st.byte_rcv_drop_total += n * (st.byte_recv_unique_total // max(1, st.pkt_recv_unique_total))
                self.events.append(PacketsDropped(first_seq=first, last_seq=last, count=n))
                if self.log.isEnabledFor(logging.DEBUG):
                    self.log.debug("too-late drop of %d packets %d..%d", n, first, last)
        if out:
            ev = self.events
            for seq, ts, payload in out:
                ev.append(PayloadReceived(payload=payload, seq=seq, timestamp_us=ts))
            out.clear()

    def _update_rate(self, now: float) -> None:
        span = now - self._rate_start
        if span < RATE_WINDOW_S:
            return
        st = self.stats
        st.recv_rate_mbps = self._rate_recv_bytes * 8 / span / 1e6
        self.recv_pkt_rate = int(self._rate_recv_pkts / span)
        st.recv_buffer_packets = len(self.buffer.packets)
        self._rate_recv_bytes = self._rate_recv_pkts = 0
        self._rate_start = now

    def _send_nak(self, losses: list[tuple[int, int]], now: float) -> None:
        self.stats.pkt_sent_nak_total += 1
        self.out.append(
            Nak(
                timestamp=self._timestamp(now), dest_socket_id=self.peer_socket_id, losses=tuple(losses)
            ).encode()
        )
        self.last_send = now

    def _send_ack(self, now: float) -> None:
        buf = self.buffer
        ack_seq = buf.ack_seq()
        rtt = self.rtt
        if ack_seq == self._last_ack_seq and now - self._last_ack_time < max(
            ACK_REPEAT_MIN_S, 2 * rtt.rtt_us / 1e6
        ):
            return
        self._ack_number = (self._ack_number + 1) & 0x7FFFFFFF or 1
        self._ack_times[self._ack_number] = now
        if len(self._ack_times) > ACK_HISTORY:
            self._ack_times.pop(next(iter(self._ack_times)))
        self._last_ack_seq = ack_seq
        self._last_ack_time = now
        self.stats.pkt_sent_ack_total += 1
        self.out.append(
            Ack(
                timestamp=self._timestamp(now),
                dest_socket_id=self.peer_socket_id,
                ack_number=self._ack_number,
                last_ack_seq=ack_seq,
                rtt_us=int(rtt.rtt_us),
                rtt_var_us=int(rtt.var_us),
                available_buffer=max(2, self._capacity - buf.occupancy()),
                packet_rate=self.recv_pkt_rate,
                link_capacity=1000,
                receive_rate_bps=int(self.stats.recv_rate_mbps * 125_000),
            ).encode()
        )
        self.last_send = now


__all__ = ["MAX_NAK_WORDS", "MIN_NAK_INTERVAL_S", "LiveReceiver"]
