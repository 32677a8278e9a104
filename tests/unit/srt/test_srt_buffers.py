"""Send and receive buffers on their own: any arrival order gives every packet once, in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mediaplane.srt.buffers import ReceiveBuffer, SendBuffer
from mediaplane.srt.circular import seq_add


@given(
    isn=st.sampled_from([0, 12345, 2**31 - 5]),
    order=st.permutations(list(range(40))),
    dups=st.lists(st.integers(0, 39), max_size=20),
)
def test_any_arrival_order_releases_each_packet_once_in_order(
    isn: int, order: list[int], dups: list[int]
) -> None:
    buf = ReceiveBuffer(isn, capacity=1000)
    out: list[tuple[int, int, bytes]] = []
    for i in order + dups:
        seq = seq_add(isn, i)
        if buf.accepts(seq) == 0:
            buf.insert(seq, play_time=1.0 + i * 0.001, timestamp=i, payload=bytes([i]), now=0.0)
        buf.release(0.5, out)  # nothing is due yet
    assert out == []
    assert buf.ack_seq() == seq_add(isn, 40)
    assert not buf.losses
    buf.release(10.0, out)
    assert [p for _, _, p in out] == [bytes([i]) for i in range(40)]


def test_gap_is_skipped_only_when_a_later_packet_is_due() -> None:
    buf = ReceiveBuffer(100, capacity=1000)
    buf.insert(100, 1.0, 0, b"a", 0.0)
    assert buf.insert(103, 1.3, 3, b"d", 0.0) == (101, 102)
    assert buf.ack_seq() == 101
    out: list[tuple[int, int, bytes]] = []
    assert buf.release(1.2, out) == []
    assert [p for _, _, p in out] == [b"a"]
    assert buf.next_release_time() == 1.3
    assert buf.release(1.3, out) == [(101, 102)]
    assert [p for _, _, p in out] == [b"a", b"d"]
    assert buf.ack_seq() == 104 and not buf.losses
    assert buf.accepts(101) == 1  # too late now


def test_loss_ranges_are_compressed_and_rate_limited() -> None:
    buf = ReceiveBuffer(0, capacity=1000)
    buf.insert(5, 1.0, 0, b"x", now=0.0)
    buf.insert(9, 1.0, 0, b"y", now=0.5)
    assert list(buf.loss_ranges(now=1.0, older_than=0.2)) == [(0, 4)]  # 6..8 reported too recently
    assert list(buf.loss_ranges(now=2.0, older_than=1.5)) == [(0, 4), (6, 8)]


def test_send_buffer_ack_and_drop() -> None:
    sb = SendBuffer(2**31 - 2)
    seqs = [sb.add(0, i, b"p", origin=float(i)) for i in range(5)]
    assert seqs == [2**31 - 2, 2**31 - 1, 0, 1, 2]
    assert sb.acknowledge(1) == 3 and len(sb) == 2
    assert sb.acknowledge(100) == -1  # beyond what was sent: ignored
    assert sb.drop_older_than(4.0) == (1, 1) and sb.first_seq == 2
    assert sb.get(2) is not None and sb.oldest_origin() == 4.0
