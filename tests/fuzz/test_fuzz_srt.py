"""Fuzzing the SRT cores inside the normal suite: packet, handshake (+ extensions), key material and
stream id parsers seeded from the libsrt captures in fixtures/srt_*.bin, a listener's acceptor and
the connection it accepts fed hostile datagrams on an explicit clock, and an established pair fed
mutated control packets between real traffic. Only the package's own errors may escape; allocation
and work stay bounded (fuzz.harness; one datagram in may cause at most one datagram out per packet
the connection holds, plus a small constant)."""

from __future__ import annotations

import pytest
from fuzz_inputs import BOUNDARY_INTS, fuzz_settings, inputs_for
from hypothesis import given
from hypothesis import strategies as st

from fuzz.harness import run_one
from fuzz.targets import TARGETS
from fuzz.targets.srt import (
    LISTENER_SOCKET_ID,
    PUMP,
    SEND_FIRST,
    TO_RECEIVER,
    established_isn,
    frame_datagrams,
)
from mediaplane.srt.circular import SEQ_MASK
from mediaplane.srt.packet import Ack, AckKind, DropRequest, Nak
from mediaplane.srt.streamid import StreamMode, parse_stream_id

SRT_TARGETS = [name for name in TARGETS if name.startswith("srt_")]
ISN = established_isn()


@pytest.mark.parametrize("name", SRT_TARGETS)
def test_every_seed_runs_clean(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds():
        run_one(target, seed)


@fuzz_settings(300)
@given(inputs_for(TARGETS["srt_packet"]))
def test_fuzz_srt_packet(data: bytes) -> None:
    run_one(TARGETS["srt_packet"], data)


@fuzz_settings(250)
@given(inputs_for(TARGETS["srt_handshake"]))
def test_fuzz_srt_handshake(data: bytes) -> None:
    run_one(TARGETS["srt_handshake"], data)


@fuzz_settings(200)
@given(inputs_for(TARGETS["srt_keymaterial"], random_max_size=200))
def test_fuzz_srt_keymaterial(data: bytes) -> None:
    run_one(TARGETS["srt_keymaterial"], data)


@fuzz_settings(200)
@given(inputs_for(TARGETS["srt_streamid"], random_max_size=600) | st.text(max_size=80).map(str.encode))
def test_fuzz_srt_streamid(data: bytes) -> None:
    run_one(TARGETS["srt_streamid"], data)


@fuzz_settings(200)
@given(inputs_for(TARGETS["srt_listener"]))
def test_fuzz_srt_listener(data: bytes) -> None:
    run_one(TARGETS["srt_listener"], data)


@fuzz_settings(150)
@given(inputs_for(TARGETS["srt_established"]))
def test_fuzz_srt_established(data: bytes) -> None:
    run_one(TARGETS["srt_established"], data)


# Sequence numbers at, near and far from what the established pair holds (24 packets from ISN).
seqs = st.one_of(
    st.integers(-8, 40).map(lambda d: (ISN + d) & SEQ_MASK),
    st.sampled_from(BOUNDARY_INTS).map(lambda v: v & SEQ_MASK),
    st.integers(0, SEQ_MASK),
)
naks = st.lists(st.tuples(seqs, seqs), min_size=1, max_size=40).map(
    lambda losses: Nak(dest_socket_id=0, losses=tuple(losses)).encode()
)
acks = st.builds(
    lambda seq, n, rtt, kind: Ack(
        dest_socket_id=0, ack_number=n, last_ack_seq=seq, rtt_us=rtt, kind=kind
    ).encode(),
    seqs,
    st.sampled_from(BOUNDARY_INTS),
    st.sampled_from(BOUNDARY_INTS),
    st.sampled_from(AckKind),
)
dropreqs = st.builds(
    lambda first, last, msgno: DropRequest(
        dest_socket_id=LISTENER_SOCKET_ID, msgno=msgno, first_seq=first, last_seq=last
    ).encode(),
    seqs,
    seqs,
    st.integers(0, 0x3FFFFFF),
)
frames = st.lists(
    st.tuples(
        st.sampled_from((0, SEND_FIRST, PUMP, TO_RECEIVER, TO_RECEIVER | PUMP, SEND_FIRST | PUMP)),
        st.sampled_from((0, 1, 10, 255)),
        st.one_of(naks, acks, dropreqs),
    ),
    min_size=1,
    max_size=12,
)


@fuzz_settings(120)
@given(encrypted=st.booleans(), frames=frames)
def test_ranges_on_the_wire_buy_bounded_work(encrypted: bool, frames: list[tuple[int, int, bytes]]) -> None:
    """NAK loss ranges, ACK sequence numbers and DROPREQ ranges anywhere in the 31-bit space, sent to
    both sides of a live pair: the target bounds the datagrams each one causes (and the harness the
    memory and time)."""
    run_one(TARGETS["srt_established"], bytes([encrypted]) + frame_datagrams(frames))


def test_stream_id_without_a_resource() -> None:
    """Found by the fuzzer: ``#!::m=publish`` (no ``r=``) raised TypeError out of the parser."""
    sid = parse_stream_id("#!::m=publish,u=bob")
    assert sid.resource == "" and sid.user == "bob" and sid.mode is StreamMode.PUBLISH
