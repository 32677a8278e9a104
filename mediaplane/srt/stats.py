"""Per-connection counters (named after libsrt's ``SRT_TRACEBSTATS``) and the RTT estimate that
the live sender and receiver share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

INITIAL_RTT_US = 100_000
INITIAL_RTT_VAR_US = 50_000


@dataclass(slots=True)
class SrtStats:
    """Per-connection counters, named after libsrt's ``SRT_TRACEBSTATS`` (``srt_bstats``) fields."""

    pkt_sent_total: int = 0
    """pktSentTotal: data packets sent, retransmissions included."""
    pkt_sent_unique_total: int = 0
    pkt_recv_total: int = 0
    """pktRecvTotal: data packets received, duplicates included."""
    pkt_recv_unique_total: int = 0
    pkt_retrans_total: int = 0
    """pktRetransTotal: packets we retransmitted."""
    pkt_recv_retrans_total: int = 0
    """pktRcvRetransTotal: retransmitted packets received."""
    pkt_snd_loss_total: int = 0
    """pktSndLossTotal: packets the peer reported lost (NAK)."""
    pkt_rcv_loss_total: int = 0
    """pktRcvLossTotal: gaps we detected."""
    pkt_snd_drop_total: int = 0
    """pktSndDropTotal: packets the sender gave up on (too old)."""
    pkt_rcv_drop_total: int = 0
    """pktRcvDropTotal: packets skipped at TSBPD time (too-late drop) or dropped on DROPREQ."""
    pkt_rcv_undecrypt_total: int = 0
    pkt_rcv_overflow_total: int = 0
    """Packets too far ahead of the receive window (beyond SRTO_RCVBUF) that were discarded."""
    pkt_recv_belated_total: int = 0
    """Duplicates and packets arriving after their slot was delivered or dropped."""
    dropreq_recv_total: int = 0
    """DROPREQ messages received: the peer's sender gave up on packets (they count in pkt_rcv_drop_total)."""
    pkt_sent_ack_total: int = 0
    pkt_recv_ack_total: int = 0
    pkt_sent_nak_total: int = 0
    pkt_recv_nak_total: int = 0
    byte_sent_total: int = 0
    byte_sent_unique_total: int = 0
    byte_recv_total: int = 0
    byte_recv_unique_total: int = 0
    byte_retrans_total: int = 0
    byte_snd_drop_total: int = 0
    byte_rcv_drop_total: int = 0
    rtt_ms: float = INITIAL_RTT_US / 1000
    """msRTT: smoothed round-trip time (receiver side from ACKACK, sender side from ACKs)."""
    rtt_var_ms: float = INITIAL_RTT_VAR_US / 1000
    send_rate_mbps: float = 0.0
    """mbpsSendRate over the last second."""
    recv_rate_mbps: float = 0.0
    """mbpsRecvRate over the last second."""
    send_buffer_packets: int = 0
    """pktSndBuf: packets waiting for an ACK."""
    recv_buffer_packets: int = 0
    """pktRcvBuf: packets held for TSBPD release."""
    latency_ms: int = 0
    """msRcvTsbPdDelay: the negotiated receive latency."""
    km_refreshes: int = 0
    nak_clipped_total: int = 0
    """NAK loss ranges reaching past the last packet sent (or reversed): only the part inside the
    send buffer was retransmitted."""
    dropreq_clipped_total: int = 0
    """DROPREQ ranges reaching beyond the receive window (or reversed): only the part inside it was
    dropped."""
    ack_bogus_total: int = 0
    """ACKs acknowledging packets never sent (beyond the next sequence number): ignored."""
    ack_stale_total: int = 0
    """ACKs behind the send buffer (reordered, or for packets the sender already dropped): ignored."""
    ackack_unknown_total: int = 0
    """ACKACKs for an ACK number we never sent or no longer remember: no RTT sample taken."""
    rexmit_timeouts_total: int = 0
    """Times the no-ACK retransmission timer fired and resent packets (libsrt checkRexmitTimer)."""

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


class RttEstimate:
    """Smoothed round-trip time (draft-sharabayko-srt section 4.10), in microseconds.

    The receiver samples it from ACK -> ACKACK; a pure sender learns it from the peer's ACKs until a
    sample of its own exists. Both sides read it: the receiver for the NAK period, the sender for its
    retransmission timeout."""

    __slots__ = ("measured", "rtt_us", "stats", "var_us")

    def __init__(self, stats: SrtStats) -> None:
        self.rtt_us = float(INITIAL_RTT_US)
        self.var_us = float(INITIAL_RTT_VAR_US)
        self.measured = False
        self.stats = stats

    def sample(self, rtt_us: float) -> None:
        """One ACK -> ACKACK round trip (microseconds)."""
        if not self.measured:
            # The first sample replaces the 100 ms guess (libsrt 1.5 does the same).
            self.measured = True
            self.rtt_us = rtt_us
            self.var_us = rtt_us / 2
        else:
            self.var_us = 0.75 * self.var_us + 0.25 * abs(self.rtt_us - rtt_us)
            self.rtt_us = 0.875 * self.rtt_us + 0.125 * rtt_us
        self._publish()

    def from_peer(self, rtt_us: int, var_us: int) -> None:
        """The peer's estimate carried by its ACK: used while we have no sample of our own."""
        if self.measured:
            return
        self.rtt_us = float(rtt_us)
        self.var_us = float(var_us)
        self._publish()

    def _publish(self) -> None:
        self.stats.rtt_ms = self.rtt_us / 1000
        self.stats.rtt_var_ms = self.var_us / 1000


__all__ = ["INITIAL_RTT_US", "INITIAL_RTT_VAR_US", "RttEstimate", "SrtStats"]
