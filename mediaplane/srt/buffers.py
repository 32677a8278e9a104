"""Send and receive buffers of a live-mode connection.

The send buffer keeps every packet until it is acknowledged or too old to matter (latency plus
SRTO_SNDDROPDELAY), so a NAK can be answered with a retransmission. The receive buffer reorders,
tracks losses for ACK and NAK, and releases payloads at their TSBPD time (draft-sharabayko-srt
section 4.5): ``base + timestamp + latency``, skipping a gap once a later packet is due (too-late drop).
Both are keyed by sequence number in plain dicts: insertion and lookup are O(1) on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator

from .circular import (
    SEQ_HALF,
    seq_add,
    seq_count,
    seq_diff,
    seq_next,
    seq_offset,
    seq_prev,
    seq_window_overlap,
)


class SendEntry:
    """One sent packet, kept for retransmission."""

    __slots__ = ("last_sent", "origin", "payload", "retransmits", "timestamp", "word1")

    def __init__(self, word1: int, timestamp: int, payload: bytes, origin: float) -> None:
        self.word1 = word1
        self.timestamp = timestamp
        self.payload = payload
        self.origin = origin
        """When the packet was first handed over (seconds)."""
        self.last_sent = origin
        """When it last went on the wire (first send or retransmission)."""
        self.retransmits = 0


class SendBuffer:
    """Unacknowledged packets in sequence order."""

    __slots__ = ("entries", "first_seq", "next_seq")

    def __init__(self, isn: int) -> None:
        self.entries: dict[int, SendEntry] = {}
        self.first_seq = isn
        """Oldest sequence number still held (equal to next_seq when empty)."""
        self.next_seq = isn
        """Sequence number of the next new packet."""

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, word1: int, timestamp: int, payload: bytes, origin: float) -> int:
        seq = self.next_seq
        self.entries[seq] = SendEntry(word1, timestamp, payload, origin)
        self.next_seq = seq_next(seq)
        return seq

    def acknowledge(self, ack_seq: int) -> int:
        """Forget every packet before ``ack_seq``; returns how many were released. An ACK outside
        ``first_seq..next_seq`` is ignored (returns -1)."""
        d = seq_diff(ack_seq, self.first_seq)
        if d <= 0:
            return 0 if d == 0 else -1
        if seq_diff(ack_seq, self.next_seq) > 0:
            return -1
        entries = self.entries
        seq = self.first_seq
        for _ in range(d):
            entries.pop(seq, None)
            seq = seq_next(seq)
        self.first_seq = ack_seq
        return d

    def drop_oldest(self) -> int:
        """Forget the oldest packet held (the buffer is full); returns its payload size."""
        e = self.entries.pop(self.first_seq, None)
        self.first_seq = seq_next(self.first_seq)
        return 0 if e is None else len(e.payload)

    def get(self, seq: int) -> SendEntry | None:
        return self.entries.get(seq)

    def oldest_origin(self) -> float | None:
        e = self.entries.get(self.first_seq)
        return e.origin if e is not None else None

    def drop_older_than(self, deadline: float) -> tuple[int, int]:
        """Forget packets handed to us before ``deadline`` (seconds); returns ``(packets, bytes)``."""
        n = size = 0
        entries = self.entries
        while self.first_seq != self.next_seq:
            e = entries.get(self.first_seq)
            if e is not None:
                if e.origin >= deadline:
                    break
                del entries[self.first_seq]
                n += 1
                size += len(e.payload)
            self.first_seq = seq_next(self.first_seq)
        return n, size


class ReceiveBuffer:
    """Reordering, loss tracking and TSBPD release on the receiving side."""

    __slots__ = ("capacity", "losses", "next_deliver", "next_expected", "packets", "too_late_drop")

    def __init__(self, isn: int, *, capacity: int, too_late_drop: bool = True) -> None:
        self.packets: dict[int, tuple[float, int, bytes]] = {}
        """seq -> (play time in seconds, sender timestamp, payload)."""
        self.losses: dict[int, float] = {}
        """Missing seq -> time it was last reported in a NAK; insertion order is sequence order."""
        self.next_deliver = isn
        self.next_expected = isn
        self.capacity = capacity
        self.too_late_drop = too_late_drop

    def occupancy(self) -> int:
        return seq_offset(self.next_expected, self.next_deliver)

    def accepts(self, seq: int) -> int:
        """0 when ``seq`` is new and fits, 1 when it is a duplicate or already delivered / dropped,
        2 when it lies beyond the buffer capacity."""
        d = seq_diff(seq, self.next_deliver)
        if d < 0 or seq in self.packets:
            return 1
        if d >= self.capacity:
            return 2
        if seq_diff(seq, self.next_expected) < 0 and seq not in self.losses:
            return 1
        return 0

    def insert(
        self, seq: int, play_time: float, timestamp: int, payload: bytes, now: float
    ) -> tuple[int, int] | None:
        """Store a packet :meth:`accepts` said is new. Returns the newly detected loss range
        ``(first, last)`` when the packet jumped over missing ones."""
        self.packets[seq] = (play_time, timestamp, payload)
        exp = self.next_expected
        if seq == exp:
            self.next_expected = seq_next(seq)
            return None
        d = seq_diff(seq, exp)
        if d > 0:
            losses = self.losses
            s = exp
            for _ in range(d):
                losses[s] = now
                s = seq_next(s)
            self.next_expected = seq_next(seq)
            return exp, seq_prev(seq)
        self.losses.pop(seq, None)
        return None

    def ack_seq(self) -> int:
        """The sequence number an ACK carries: the first one not yet received."""
        if self.losses:
            return next(iter(self.losses))
        return self.next_expected

    def _first_present_after_gap(self) -> int | None:
        s = self.next_deliver
        losses = self.losses
        packets = self.packets
        end = self.next_expected
        while s != end:
            if s in packets:
                return s
            if s not in losses:
                # Dropped by a DROPREQ and not a loss any more: keep walking.
                pass
            s = seq_next(s)
        return None

    def next_release_time(self) -> float | None:
        """When the next payload becomes deliverable (possibly by skipping a gap), or None."""
        item = self.packets.get(self.next_deliver)
        if item is not None:
            return item[0]
        if not self.too_late_drop or self.next_deliver == self.next_expected:
            return None
        s = self._first_present_after_gap()
        return None if s is None else self.packets[s][0]

    def release(self, now: float, out: list[tuple[int, int, bytes]]) -> list[tuple[int, int]]:
        """Append every ``(seq, timestamp, payload)`` due at ``now`` to ``out``, in order.
        Returns the ranges dropped as too late."""
        dropped: list[tuple[int, int]] = []
        packets = self.packets
        while True:
            seq = self.next_deliver
            item = packets.get(seq)
            if item is not None:
                if item[0] > now:
                    break
                del packets[seq]
                out.append((seq, item[1], item[2]))
                self.next_deliver = seq_next(seq)
                continue
            if seq == self.next_expected:
                break
            if seq not in self.losses:
                # Given up by the sender (DROPREQ): nothing will ever come for it.
                self.next_deliver = seq_next(seq)
                continue
            if not self.too_late_drop:
                break
            s = self._first_present_after_gap()
            if s is None or packets[s][0] > now:
                break
            losses = self.losses
            x = seq
            while x != s:
                losses.pop(x, None)
                x = seq_next(x)
            dropped.append((seq, seq_prev(s)))
            self.next_deliver = s
        return dropped

    def drop_range(self, first: int, last: int) -> tuple[int, bool]:
        """A DROPREQ: the sender will never send ``first..last`` (wire values, any range up to 2^31).

        Only the part inside the receive window (``next_deliver`` up to ``next_expected``, at most
        ``capacity`` numbers) is acted on, so the work is bounded by what the buffer holds: its
        losses are forgotten, so nothing waits for or NAKs them any more. What lies before the window
        was delivered or dropped already. What lies beyond ``next_expected`` is ignored rather than
        skipped (libsrt moves its receive position forward there): a range far ahead would otherwise
        make every real packet that follows look belated. Should the sender really never send those,
        the next packet reveals the gap, its NAK gets another DROPREQ, and TSBPD skips it meanwhile.

        Returns ``(resolved, clipped)``: how many missing packets this resolved, and whether part of
        the range was beyond what we have seen (or the range was reversed)."""
        count = seq_count(first, last)
        clipped = count > SEQ_HALF or seq_diff(last, self.next_expected) >= 0
        base = self.next_deliver
        losses = self.losses
        n = 0
        for a, b in seq_window_overlap(first, count, base, self.occupancy()):
            if b - a > len(losses):
                # Fewer losses than numbers in the range: walk the losses instead.
                for s in [s for s in losses if a <= seq_offset(s, base) < b]:
                    del losses[s]
                    n += 1
                continue
            s = seq_add(base, a)
            for _ in range(b - a):
                if losses.pop(s, None) is not None:
                    n += 1
                s = seq_next(s)
        # Skip directly over the dropped range when it sits at the head.
        while self.next_deliver != self.next_expected:
            nd = self.next_deliver
            if nd in self.packets or nd in losses:
                break
            self.next_deliver = seq_next(nd)
        return n, clipped

    def loss_ranges(self, now: float, older_than: float) -> Iterator[tuple[int, int]]:
        """Compressed ranges of losses last reported before ``older_than``; marks them reported now."""
        first = last = -1
        losses = self.losses
        for seq, t in losses.items():
            if t > older_than:
                continue
            losses[seq] = now
            if first >= 0 and seq == seq_next(last):
                last = seq
                continue
            if first >= 0:
                yield first, last
            first = last = seq
        if first >= 0:
            yield first, last
