"""Batched UDP on real loopback sockets: a GSO send reaches a plain socket as separate datagrams and a
GRO socket as one read that :func:`split_gro` cuts back, order and bytes intact."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from mediaplane.udp import GRO_ANC_BYTES, BatchSender, enable_gro, gro_segment_size, split_gro

Pair = tuple[socket.socket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield tx, rx
    tx.close()
    rx.close()


def datagrams() -> list[bytes]:
    # Data packets of one size, a control packet, more data and a short tail: three runs.
    return [bytes([i]) * 1332 for i in range(6)] + [b"ack" * 10] + [bytes([9]) * 1332] * 3 + [b"t" * 100]


def read_all(rx: socket.socket, count: int, gro: bool) -> tuple[list[bytes], int]:
    got: list[bytes] = []
    reads = 0
    while len(got) < count:
        data, anc, _flags, _addr = rx.recvmsg(65536, GRO_ANC_BYTES)
        reads += 1
        got.extend(split_gro(data, gro_segment_size(anc)) if gro else [data])
    return got, reads


def test_gso_send_reaches_a_plain_socket_as_separate_datagrams(pair: Pair) -> None:
    tx, rx = pair
    sent = datagrams()
    sender = BatchSender(tx)
    assert sender.send(sent, rx.getsockname()) == 0
    assert sender.gso, "the kernel refused UDP_SEGMENT on loopback"
    got, reads = read_all(rx, len(sent), gro=False)
    assert got == sent
    assert reads == len(sent)


def test_gro_socket_reads_a_run_at_once(pair: Pair) -> None:
    tx, rx = pair
    assert enable_gro(rx)
    sent = datagrams()
    assert BatchSender(tx).send(sent, rx.getsockname()) == 0
    got, reads = read_all(rx, len(sent), gro=True)
    assert got == sent
    assert reads < len(sent)


def test_connected_socket_and_plain_fallback(pair: Pair) -> None:
    tx, rx = pair
    tx.connect(rx.getsockname())
    sent = datagrams()
    sender = BatchSender(tx, gso=False)
    assert sender.send(sent, None) == 0
    got, reads = read_all(rx, len(sent), gro=False)
    assert got == sent and reads == len(sent)


def test_a_refused_send_fails_that_call_only(pair: Pair) -> None:
    tx, rx = pair
    # A connected socket whose peer is gone: the ICMP refusal surfaces on a later send.
    tx.connect(rx.getsockname())
    rx.close()
    sender = BatchSender(tx)
    lost = 0
    for _ in range(3):
        lost += sender.send(datagrams(), None)
    assert sender.last_error is not None and isinstance(sender.last_error, ConnectionRefusedError)
    assert 0 < lost < 3 * len(datagrams())
    assert sender.refused_bytes > 0
