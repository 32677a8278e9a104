"""Sans-IO impairment model of one direction of a TCP byte stream (see :mod:`mediaplane.netem.models`).

The byte stream is cut into segments; each gets serialised at the bandwidth cap, delayed with jitter,
and never overtakes the segment before it (TCP delivers in order, so jitter shows as head-of-line waits,
not reordering). A "lost" segment is not dropped (TCP would retransmit it): it shows as the stall a
retransmission costs. Outages either stall (the connection is held and bytes wait) or reset it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .models import Impairment, ImpairmentModel, LossProcess, derive_rng

TCP_SEGMENT_BYTES = 1448
"""Payload of one TCP segment on a 1500-byte MTU path with timestamps (1500 - 20 - 20 - 12)."""
TCP_MIN_RTO_S = 0.2
"""Linux ``TCP_RTO_MIN``: the least a retransmission timeout can cost (RFC 6298 suggests 1 s)."""
TCP_FAST_RETRANSMIT_FOLLOWERS = 3
"""Segments that must follow a lost one for three duplicate ACKs (RFC 5681 section 3.2)."""


@dataclass(slots=True, kw_only=True)
class TcpCounters:
    """What a :class:`TcpModel` saw."""

    bytes_in: int = 0
    segments: int = 0
    retransmissions: int = 0
    stall_s: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "bytes_in": self.bytes_in,
            "segments": self.segments,
            "retransmissions": self.retransmissions,
            "stall_s": self.stall_s,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpOutage:
    """An outage in force on a TCP link."""

    reset: bool
    """True: cut the connections (and refuse new ones); False: hold them, bytes wait."""
    until: float | None
    """When the outage ends on the caller's clock, or ``None`` until the impairment changes."""


class TcpModel(ImpairmentModel):
    """Impairment of one direction of a byte stream.

    :meth:`submit` cuts a byte run into pieces and answers ``(deliver_at, nbytes)`` for each, with
    non-decreasing times: jitter never reorders bytes. Before submitting, the caller asks
    :meth:`outage`: during a stall it keeps the bytes and submits them when the outage ends; during a
    reset outage it cuts the connection.
    """

    def __init__(self, impairment: Impairment, *, rng: random.Random | None = None, now: float = 0.0) -> None:
        impairment.validate()
        rng = self._parent_rng(impairment, rng)
        self._loss_rng = derive_rng(rng, "tcp-loss")
        self._jitter_rng = derive_rng(rng, "tcp-jitter")
        self.counters = TcpCounters()
        self._free_at = 0.0
        self._last = 0.0
        self._loss: LossProcess | None = None
        self.impairment = impairment
        self._epoch = now
        self.set_impairment(impairment, now)

    def __repr__(self) -> str:
        return f"<TcpModel {self.impairment!r}>"

    @property
    def high_water_bytes(self) -> int:
        """Bytes in flight past which the caller should stop reading the sender (backpressure)."""
        return self.impairment.queue_limit_packets * TCP_SEGMENT_BYTES

    def outage(self, now: float) -> TcpOutage | None:
        """The outage in force at ``now``, if any."""
        imp = self.impairment
        elapsed = now - self._epoch
        if not imp.outage_at(elapsed):
            return None
        end = imp.outage_end(elapsed)
        return TcpOutage(reset=imp.outage_mode == "reset", until=None if end is None else self._epoch + end)

    def next_outage_at(self, now: float) -> float | None:
        """When the next recurring outage starts on the caller's clock, or ``None``."""
        start = self.impairment.next_outage_start(now - self._epoch)
        return None if start is None else self._epoch + start

    def retransmit_stall_s(self, tail: bool) -> float:
        """What one lost segment costs, seconds: a round trip (fast retransmit, RFC 5681 section 3.2) or,
        for a tail loss with too few segments behind it for three duplicate ACKs, the retransmission
        timeout ``max(TCP_MIN_RTO_S, rtt + 4 * rttvar)`` (RFC 6298 section 2; the link is assumed
        symmetric, so rtt = 2 * delay and rttvar ~ jitter)."""
        rtt = 2.0 * self._delay_s
        if not tail:
            return rtt
        return max(TCP_MIN_RTO_S, rtt + 4.0 * self.impairment.jitter_ms / 1000.0)

    def submit(self, nbytes: int, now: float) -> list[tuple[float, int]]:
        """Schedule a run of ``nbytes`` bytes read at ``now``: ``[(deliver_at, nbytes), ...]``."""
        c = self.counters
        c.bytes_in += nbytes
        if self.identity:
            c.segments += 1
            self._last = max(self._last, now)
            return [(self._last, nbytes)]
        if self._s_per_byte or self._loss is not None:
            count = max(1, -(-nbytes // TCP_SEGMENT_BYTES))
            sizes = [TCP_SEGMENT_BYTES] * (count - 1) + [nbytes - TCP_SEGMENT_BYTES * (count - 1)]
        else:
            sizes = [nbytes]
        out: list[tuple[float, int]] = []
        last = self._last
        for i, size in enumerate(sizes):
            t = now
            if self._s_per_byte:
                start = self._free_at if self._free_at > now else now
                t = self._free_at = start + size * self._s_per_byte
            delay = self._delay_s
            if self._jitter is not None:
                delay = max(0.0, delay + self._jitter.sample() / 1000.0)
            t += delay
            if self._loss is not None and self._loss.lost():
                stall = self.retransmit_stall_s(tail=len(sizes) - 1 - i < TCP_FAST_RETRANSMIT_FOLLOWERS)
                c.retransmissions += 1
                c.stall_s += stall
                t += stall
            if t < last:
                t = last  # in-order delivery: wait behind the previous segment
            last = t
            c.segments += 1
            if out and out[-1][0] == t:
                out[-1] = (t, out[-1][1] + size)
            else:
                out.append((t, size))
        self._last = last
        return out
