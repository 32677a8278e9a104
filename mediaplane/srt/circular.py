"""Wrapping counters: 31-bit sequence numbers, 26-bit message numbers, 32-bit timestamps.

Every comparison of sequence numbers goes through here (draft-sharabayko-srt section 3.1: sequence
numbers wrap at 2^31; the half-range rule decides which of two numbers is "later").
"""

from __future__ import annotations

SEQ_MODULO = 1 << 31
SEQ_MASK = SEQ_MODULO - 1
SEQ_HALF = 1 << 30
"""Half the sequence space: the largest forward distance the half-range rule accepts."""
MSGNO_MODULO = 1 << 26
MSGNO_MASK = MSGNO_MODULO - 1
TIMESTAMP_MODULO_US = 1 << 32
TIMESTAMP_MASK = TIMESTAMP_MODULO_US - 1


def seq_add(seq: int, n: int) -> int:
    """``seq + n`` modulo 2^31 (``n`` may be negative)."""
    return (seq + n) & SEQ_MASK


def seq_next(seq: int) -> int:
    """The sequence number after ``seq``."""
    return (seq + 1) & SEQ_MASK


def seq_prev(seq: int) -> int:
    """The sequence number before ``seq``."""
    return (seq - 1) & SEQ_MASK


def seq_offset(seq: int, base: int) -> int:
    """Forward distance from ``base`` to ``seq`` in [0, 2^31): where ``seq`` sits in a window that
    starts at ``base``."""
    return (seq - base) & SEQ_MASK


def seq_count(first: int, last: int) -> int:
    """How many numbers the inclusive range ``first..last`` covers (1 to 2^31)."""
    return ((last - first) & SEQ_MASK) + 1


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in (-2^30, 2^30]: positive when ``a`` is later than ``b``."""
    d = (a - b) & SEQ_MASK
    return d - SEQ_MODULO if d > SEQ_HALF else d


def seq_lt(a: int, b: int) -> bool:
    """True when ``a`` comes before ``b``."""
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


def seq_window_overlap(first: int, count: int, base: int, size: int) -> list[tuple[int, int]]:
    """Where the circular range of ``count`` sequence numbers from ``first`` meets the window of
    ``size`` numbers from ``base``: at most two ``(start_offset, end_offset)`` pairs, half-open and
    relative to ``base``, in increasing order. Constant work whatever ``count`` is (a range read off
    the wire may cover up to 2^31 numbers)."""
    if count <= 0 or size <= 0:
        return []
    count = min(count, SEQ_MODULO)
    o = (first - base) & SEQ_MASK
    pieces: list[tuple[int, int]] = []
    end = o + count
    if end > SEQ_MODULO:
        # The range wraps past base + 2^31 back into the window's start.
        pieces.append((0, min(size, end - SEQ_MODULO)))
    if o < size:
        pieces.append((o, min(size, end)))
    if len(pieces) == 2 and pieces[0][1] >= pieces[1][0]:
        pieces = [(0, max(pieces[0][1], pieces[1][1]))]
    return pieces


def msgno_next(msgno: int) -> int:
    """The message number after ``msgno``; 0 is never used (libsrt counts 1..2^26-1)."""
    n = (msgno + 1) & MSGNO_MASK
    return n or 1


class TimestampUnwrapper:
    """Turns the 32-bit microsecond timestamps of one peer into a monotonic 64-bit count.

    A timestamp that jumps backwards by more than half the range is a wrap (every ~71.6 minutes).
    """

    __slots__ = ("_last", "_offset")

    def __init__(self) -> None:
        self._offset = 0
        self._last: int | None = None

    def unwrap(self, ts: int) -> int:
        last = self._last
        if last is not None:
            d = ts - last
            if d < -(TIMESTAMP_MODULO_US >> 1):
                self._offset += TIMESTAMP_MODULO_US
            elif d > (TIMESTAMP_MODULO_US >> 1):
                # A late packet from before the last wrap.
                return self._offset - TIMESTAMP_MODULO_US + ts
            else:
                if d < 0:
                    return self._offset + ts
        self._last = ts
        return self._offset + ts
