"""The live-mode sender of one connection, sans-IO: it owns the send buffer.

``push(payload, now)`` numbers, stores and emits a data packet; ``handle_ack`` and ``handle_nak``
answer the receiver's reports; ``tick(now)`` gives up packets older than the peer's latency plus
SRTO_SNDDROPDELAY and runs the no-ACK retransmission timer; ``next_deadline()`` says when ``tick``
is due. Every retransmission, whether a NAK asked for it or the timer found a packet unacknowledged,
goes through one path (:meth:`LiveSender._retransmit`). Wire datagrams are appended to the list the
connection hands over in ``datagrams_to_send``.

References: draft-sharabayko-srt sections 3.1 (data packets), 3.2.5 (NAK), 3.2.9 (DROPREQ), 4.6-4.8.
"""

from __future__ import annotations

import logging
import struct

from .buffers import SendBuffer, SendEntry
from .circular import (
    SEQ_HALF,
    TIMESTAMP_MASK,
    msgno_next,
    seq_add,
    seq_count,
    seq_diff,
    seq_next,
    seq_prev,
    seq_window_overlap,
)
from .keymaterial import SenderKeys
from .packet import IN_ORDER_FLAG, KEY_SHIFT, RETRANSMITTED_FLAG, DropRequest, PacketPosition
from .stats import RttEstimate, SrtStats

ACK_INTERVAL_S = 0.010
"""Full ACK period of the receiver (SYN interval, section 4.8.1): part of the retransmission timeout."""
REXMIT_TIMEOUT_MIN_S = 0.05
"""Unacknowledged packets are resent no sooner than this (see _retransmit_unacknowledged)."""
REXMIT_TAIL_MAX_PACKETS = 64
SEND_DROP_CHECK_S = 0.1
"""How often packets too old to matter are looked for."""
DATA_HEADER = struct.Struct(">IIII")
_SOLO_IN_ORDER = (PacketPosition.SOLO << 30) | IN_ORDER_FLAG


class LiveSender:
    """Sends, keeps and retransmits the data packets of one connection; see the module docstring.

    ``out`` is the connection's datagram list; ``stats`` and ``rtt`` are shared with it and the
    receiver. ``keys`` (set by the connection) encrypts payloads; ``peer_socket_id`` addresses them."""

    __slots__ = (
        "_msgno",
        "_next_drop_check",
        "_start",
        "buffer",
        "drop_after_s",
        "keys",
        "last_data_send",
        "last_send",
        "log",
        "max_packets",
        "out",
        "peer_socket_id",
        "rate_sent_bytes",
        "rexmit_count",
        "rtt",
        "stats",
    )

    def __init__(
        self,
        isn: int,
        *,
        max_packets: int,
        out: list[bytes],
        stats: SrtStats,
        rtt: RttEstimate,
        start: float,
        log: logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self.buffer = SendBuffer(isn)
        self.max_packets = max_packets
        """SRTO_SNDBUF in packets: past it the oldest unacknowledged packet is given up."""
        self.out = out
        self.stats = stats
        self.rtt = rtt
        self.log = log
        self.keys: SenderKeys | None = None
        self.peer_socket_id = 0
        self.drop_after_s = 0.0
        self.last_send = start
        """When the sender last put anything on the wire (for the connection's keepalive)."""
        self.last_data_send = start
        self.rexmit_count = 1
        """Firings of the retransmission timer since the last ACK that made progress, plus one."""
        self.rate_sent_bytes = 0
        self._msgno = 1
        self._next_drop_check: float | None = None
        self._start = start

    def __repr__(self) -> str:
        b = self.buffer
        return f"<LiveSender {b.first_seq}..{b.next_seq} held={len(b)}>"

    def start(self, now: float, *, drop_after_s: float) -> None:
        """The connection is established: give packets up ``drop_after_s`` seconds after they were
        handed over (the peer's latency plus SRTO_SNDDROPDELAY)."""
        self.drop_after_s = drop_after_s
        self.last_send = self.last_data_send = now
        self._next_drop_check = now + SEND_DROP_CHECK_S

    # -- sending ---------------------------------------------------------------------------------
    def push(self, payload: bytes, now: float) -> bool:
        """Number, store and emit one payload as one data packet (``now`` in monotonic seconds).
        Returns True when the sender's keys were just refreshed and must be announced (KMREQ)."""
        buf = self.buffer
        seq = buf.next_seq
        ts = int((now - self._start) * 1_000_000) & TIMESTAMP_MASK
        word1 = _SOLO_IN_ORDER | self._msgno
        announce = False
        keys = self.keys
        if keys is not None:
            word1 |= keys.current << KEY_SHIFT
            payload = keys.cipher().crypt(seq, payload)
            announce = keys.count_packet()
        self._msgno = msgno_next(self._msgno)
        st = self.stats
        if len(buf.entries) >= self.max_packets:
            # SRTO_SNDBUF is full: the oldest unacknowledged packet is given up (a NAK for it gets
            # a DROPREQ), as libsrt's sender drops when its buffer overflows.
            st.pkt_snd_drop_total += 1
            st.byte_snd_drop_total += buf.drop_oldest()
        buf.entries[seq] = SendEntry(word1, ts, payload, now)
        buf.next_seq = seq_next(seq)
        self.out.append(DATA_HEADER.pack(seq, word1, ts, self.peer_socket_id) + payload)
        n = len(payload)
        st.pkt_sent_total += 1
        st.pkt_sent_unique_total += 1
        st.byte_sent_total += n
        st.byte_sent_unique_total += n
        self.rate_sent_bytes += n
        self.last_send = now
        self.last_data_send = now
        return announce

    def _retransmit(self, seq: int, e: SendEntry, now: float) -> None:
        """The one retransmission path (NAK and timeout alike)."""
        e.retransmits += 1
        e.last_sent = now
        self.out.append(
            DATA_HEADER.pack(seq, e.word1 | RETRANSMITTED_FLAG, e.timestamp, self.peer_socket_id) + e.payload
        )
        n = len(e.payload)
        st = self.stats
        st.pkt_retrans_total += 1
        st.pkt_sent_total += 1
        st.byte_retrans_total += n
        st.byte_sent_total += n
        self.rate_sent_bytes += n
        self.last_send = now

    # -- the receiver's reports ------------------------------------------------------------------
    def handle_ack(self, ack_seq: int) -> None:
        """The receiver has everything before ``ack_seq``: forget it. An ACK outside the send buffer
        is counted and ignored."""
        buf = self.buffer
        released = buf.acknowledge(ack_seq)
        if released < 0:
            # libsrt breaks the connection on an ACK beyond the last sent packet; ignoring it keeps a
            # forged control packet from cutting the relay.
            st = self.stats
            if seq_diff(ack_seq, buf.next_seq) > 0:
                st.ack_bogus_total += 1
            else:
                st.ack_stale_total += 1
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug(
                    "ignoring ACK %d outside the send buffer %d..%d", ack_seq, buf.first_seq, buf.next_seq
                )
        elif released:
            # The peer is receiving: the no-ACK retransmission timer starts over (libsrt resets
            # m_iReXmitCount on each ACK).
            self.rexmit_count = 1

    def handle_nak(self, losses: tuple[tuple[int, int], ...], now: float) -> None:
        """Retransmit what the peer reports lost, clipped to the send buffer (libsrt
        processCtrlLossReport): whatever the ranges on the wire cover (up to 2^31 numbers each), the
        work is one pass over the packets we hold, each resent at most once per NAK. Numbers before
        the buffer (acknowledged or given up) get one DROPREQ so the receiver stops waiting for them
        (section 3.2.9). A range reaching past the last packet sent is a bug or an attack; libsrt
        breaks the connection there, we retransmit its valid part and count it, so one forged control
        packet cannot cut a relay."""
        st = self.stats
        buf = self.buffer
        base = buf.first_seq
        held = seq_diff(buf.next_seq, base)
        wanted: list[tuple[int, int]] = []
        gone_first = gone_last = -1
        for first, last in losses:
            count = seq_count(first, last)
            wanted.extend(seq_window_overlap(first, count, base, held))
            if count > SEQ_HALF or seq_diff(last, buf.next_seq) >= 0:
                st.nak_clipped_total += 1
                if self.log.isEnabledFor(logging.DEBUG):
                    self.log.debug(
                        "NAK range %d..%d clipped to the send buffer %d..%d", first, last, base, buf.next_seq
                    )
            elif seq_diff(first, base) < 0:
                # Before the buffer: packets acknowledged or dropped already.
                gone_end = last if seq_diff(last, base) < 0 else seq_prev(base)
                if gone_first < 0 or seq_diff(first, gone_first) < 0:
                    gone_first = first
                if gone_last < 0 or seq_diff(gone_end, gone_last) > 0:
                    gone_last = gone_end
        wanted.sort()
        entries = buf.entries
        done = 0  # offsets below this were resent already by this NAK
        for a, b in wanted:
            a = max(a, done)
            if a >= b:
                continue
            done = b
            st.pkt_snd_loss_total += b - a
            seq = seq_add(base, a)
            for _ in range(b - a):
                e = entries.get(seq)
                if e is not None:
                    self._retransmit(seq, e, now)
                seq = seq_next(seq)
        if gone_first >= 0:
            self.out.append(
                DropRequest(
                    timestamp=int((now - self._start) * 1_000_000) & TIMESTAMP_MASK,
                    dest_socket_id=self.peer_socket_id,
                    msgno=0,
                    first_seq=gone_first,
                    last_seq=gone_last,
                ).encode()
            )
            self.last_send = now

    # -- timers ----------------------------------------------------------------------------------
    def rexmit_timeout(self) -> float:
        """Seconds a packet may stay unacknowledged after it last went out before the no-ACK timer
        resends it: libsrt's checkRexmitTimer, ``n * (SRTT + 4 RTTVar + 2 SYN) + SYN``, where ``n``
        counts the firings since the last ACK that made progress (a linear backoff). An ACK for a
        packet comes back one RTT plus at most one ACK period after it was sent, so on a lossless
        path this never fires, however the RTT compares with the latency. It is not capped by the
        latency: a blind resend that cannot arrive in time would only double the traffic."""
        rtt = self.rtt
        rtt_syn = (rtt.rtt_us + 4 * rtt.var_us) / 1e6 + 2 * ACK_INTERVAL_S
        return max(REXMIT_TIMEOUT_MIN_S, self.rexmit_count * rtt_syn + ACK_INTERVAL_S)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` is due next (monotonic seconds), or None."""
        t = self._next_drop_check
        buf = self.buffer
        oldest = buf.entries.get(buf.first_seq)
        if oldest is not None:
            r = oldest.last_sent + self.rexmit_timeout()
            if t is None or r < t:
                t = r
        return t

    def tick(self, now: float) -> None:
        """Give up packets too old to matter; resend what stayed unacknowledged too long."""
        buf = self.buffer
        if self._next_drop_check is not None and now >= self._next_drop_check:
            n, size = buf.drop_older_than(now - self.drop_after_s)
            if n:
                self.stats.pkt_snd_drop_total += n
                self.stats.byte_snd_drop_total += size
                self.log.debug("sender dropped %d packets older than %.3f s", n, self.drop_after_s)
            self._next_drop_check = now + SEND_DROP_CHECK_S
        oldest = buf.entries.get(buf.first_seq)
        if oldest is not None and now >= oldest.last_sent + self.rexmit_timeout():
            self._retransmit_unacknowledged(now)

    def _retransmit_unacknowledged(self, now: float) -> None:
        """ACK-timeout retransmission (libsrt's LATEREXMIT idea). ACKs come every 10 ms and stop at
        the receiver's first gap, so a packet still unacknowledged a timeout after it last went out is
        missing there and its NAK was lost (a libsrt receiver repeats NAKs only after RTT + 4 RTTVar,
        too late early in a connection). When the sender is busy only that first packet is resent
        (what follows it was most likely received); when it went quiet, the whole unacknowledged tail
        is, since no later packet will ever reveal those gaps."""
        buf = self.buffer
        timeout = self.rexmit_timeout()
        idle = now >= self.last_data_send + timeout
        limit = REXMIT_TAIL_MAX_PACKETS if idle else 1
        entries = buf.entries
        seq = buf.first_seq
        sent = 0
        while seq != buf.next_seq and sent < limit:
            e = entries.get(seq)
            if e is not None and now >= e.last_sent + timeout:
                self._retransmit(seq, e, now)
                sent += 1
            seq = seq_next(seq)
        if sent:
            self.stats.rexmit_timeouts_total += 1
            self.rexmit_count += 1
        elif buf.first_seq in entries:
            # Nothing was old enough (the first entry is fresh after all): push its deadline.
            entries[buf.first_seq].last_sent = now


__all__ = ["DATA_HEADER", "REXMIT_TAIL_MAX_PACKETS", "REXMIT_TIMEOUT_MIN_S", "LiveSender"]
