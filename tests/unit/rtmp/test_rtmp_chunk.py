"""Chunk stream codec: golden bytes both ways, header compression, extended timestamps, feeding patterns,
truncation, errors, and hypothesis round trips over chunk sizes 1-65536 and timestamps past 0xFFFFFF."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaplane.rtmp.chunk import (
    MEDIA_LIMITS,
    UNAUTHORISED_LIMITS,
    ChunkDecoder,
    ChunkEncoder,
    ChunkLimits,
    RawMessage,
    encode_fmt0,
)
from mediaplane.rtmp.errors import LocalProtocolError, ParseError


def raw(csid: int, ts: int, type_id: int, sid: int, payload: bytes) -> RawMessage:
    return RawMessage(csid=csid, timestamp=ts, type_id=type_id, stream_id=sid, payload=payload)


def decode_all(data: bytes, chunk_size: int = 128, *, step: int = 0) -> list[RawMessage]:
    dec = ChunkDecoder()
    dec.set_chunk_size(chunk_size)
    out: list[RawMessage] = []
    pieces = [data] if not step else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        dec.receive_data(piece)
        while (m := dec.next_message()) is not None:
            out.append(m)
    return out


# (description, chunk size, messages, wire)
GOLDEN = [
    (
        "fmt0 one chunk",
        128,
        [raw(3, 0x000102, 20, 1, b"abcd")],
        bytes.fromhex("03 000102 000004 14 01000000") + b"abcd",
    ),
    (
        "two-byte csid",
        128,
        [raw(70, 5, 8, 1, b"z")],
        bytes.fromhex("00 06 000005 000001 08 01000000") + b"z",
    ),
    (
        "three-byte csid",
        128,
        [raw(400, 5, 8, 1, b"z")],
        bytes.fromhex("01 5001 000005 000001 08 01000000") + b"z",
    ),
    (
        "extended timestamp repeated on continuation",
        1,
        [raw(4, 0x01000000, 8, 1, b"xy")],
        bytes.fromhex("04 ffffff 000002 08 01000000 01000000") + b"x" + bytes.fromhex("c4 01000000") + b"y",
    ),
    (
        "compression fmt0 fmt2 fmt3 fmt1",
        128,
        [
            raw(3, 0, 9, 1, b"aaaa"),
            raw(3, 40, 9, 1, b"bbbb"),
            raw(3, 80, 9, 1, b"cccc"),
            raw(3, 100, 9, 1, b"ddddd"),
        ],
        bytes.fromhex("03 000000 000004 09 01000000")
        + b"aaaa"
        + bytes.fromhex("83 000028")
        + b"bbbb"
        + bytes.fromhex("c3")
        + b"cccc"
        + bytes.fromhex("43 000014 000005 09")
        + b"ddddd",
    ),
    (
        "split over chunks",
        3,
        [raw(6, 7, 9, 1, b"abcdefg")],
        bytes.fromhex("06 000007 000007 09 01000000") + b"abc" + b"\xc6def" + b"\xc6g",
    ),
]


@pytest.mark.parametrize(("name", "size", "messages", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_both_ways(name: str, size: int, messages: list[RawMessage], wire: bytes) -> None:
    enc = ChunkEncoder()
    enc.set_chunk_size(size)
    encoded = b"".join(
        enc.encode(
            csid=m.csid, timestamp=m.timestamp, type_id=m.type_id, stream_id=m.stream_id, payload=m.payload
        )
        for m in messages
    )
    assert encoded == wire
    assert decode_all(wire, size) == messages
    assert decode_all(wire, size, step=1) == messages


@pytest.mark.parametrize(("name", "size", "messages", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_every_truncated_prefix_yields_only_complete_messages(
    name: str, size: int, messages: list[RawMessage], wire: bytes
) -> None:
    for cut in range(len(wire)):
        got = decode_all(wire[:cut], size)
        assert got == messages[: len(got)]
        assert len(got) < len(messages)


def test_trailing_partial_chunk_is_kept_for_later() -> None:
    wire = GOLDEN[0][3]
    dec = ChunkDecoder()
    dec.receive_data(wire + wire[:5])
    assert dec.next_message() == GOLDEN[0][2][0]
    assert dec.next_message() is None
    dec.receive_data(wire[5:])
    assert dec.next_message() == GOLDEN[0][2][0]


def test_encode_fmt0_is_self_contained_and_matches_golden() -> None:
    wire = encode_fmt0(csid=4, timestamp=0x01000000, type_id=8, stream_id=1, payload=b"xy", chunk_size=1)
    assert wire == GOLDEN[3][3]
    # Interleaved with a compressed stream on another csid, it never disturbs that stream's state.
    enc = ChunkEncoder()
    enc.set_chunk_size(1)
    a = enc.encode(csid=3, timestamp=10, type_id=20, stream_id=0, payload=b"cmd")
    b = enc.encode(csid=3, timestamp=20, type_id=20, stream_id=0, payload=b"cmd")
    assert decode_all(a + wire + b + wire, 1) == [
        raw(3, 10, 20, 0, b"cmd"),
        raw(4, 0x01000000, 8, 1, b"xy"),
        raw(3, 20, 20, 0, b"cmd"),
        raw(4, 0x01000000, 8, 1, b"xy"),
    ]


def test_fmt3_new_message_reapplies_delta_with_extended_field() -> None:
    # fmt0 ts=1, then fmt1 with an extended delta 0x01000000, then a fmt3 new message repeating the field.
    wire = (
        bytes.fromhex("05 000001 000001 09 01000000")
        + b"a"
        + bytes.fromhex("45 ffffff 000001 09 01000000")
        + b"b"
        + bytes.fromhex("c5 01000000")
        + b"c"
    )
    assert decode_all(wire) == [
        raw(5, 1, 9, 1, b"a"),
        raw(5, 0x01000001, 9, 1, b"b"),
        raw(5, 0x02000001, 9, 1, b"c"),
    ]


def test_fmt3_after_fmt0_uses_the_fmt0_timestamp_as_delta() -> None:
    # RTMP spec 5.3.1.2.4: a type 3 chunk after a type 0 chunk reuses the type 0 timestamp as delta.
    wire = bytes.fromhex("05 000064 000001 09 01000000") + b"a" + b"\xc5" + b"b"
    assert [m.timestamp for m in decode_all(wire)] == [100, 200]


def test_timestamps_wrap_modulo_2_32() -> None:
    enc = ChunkEncoder()
    a = enc.encode(csid=3, timestamp=0xFFFFFFF0, type_id=9, stream_id=1, payload=b"a")
    b = enc.encode(csid=3, timestamp=0xFFFFFFF0 + 0x20, type_id=9, stream_id=1, payload=b"b")
    assert [m.timestamp for m in decode_all(a + b)] == [0xFFFFFFF0, 0x10]


def test_abort_drops_the_partial_message() -> None:
    dec = ChunkDecoder()
    dec.set_chunk_size(2)
    dec.receive_data(bytes.fromhex("06 000001 000004 09 01000000") + b"ab")
    assert dec.next_message() is None
    dec.abort(6)
    dec.receive_data(bytes.fromhex("06 000002 000001 09 01000000") + b"z")
    assert dec.next_message() == raw(6, 2, 9, 1, b"z")


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x45" + bytes(7), "chunk stream 5 has no previous header"),
        (b"\x85" + bytes(3), "chunk stream 5 has no previous header"),
        (b"\xc5", "chunk stream 5 has no previous header"),
        (
            bytes.fromhex("05 000001 000004 09 01000000")
            + b"ab"
            + bytes.fromhex("05 000001 000001 09 01000000"),
            "message header interrupts an unfinished message",
        ),
    ],
)
def test_malformed_chunks_raise_stable_errors(wire: bytes, message: str) -> None:
    dec = ChunkDecoder()
    dec.set_chunk_size(2)
    dec.receive_data(wire)
    with pytest.raises(ParseError, match=rf"^{message}$"):
        while dec.next_message() is not None:
            pass


def test_chunk_size_limits() -> None:
    dec = ChunkDecoder()
    dec.set_chunk_size(0x7FFFFFFF)
    for bad in (0, 0x80000000, 0xFFFFFFFF):
        with pytest.raises(ParseError, match=r"^invalid chunk size$"):
            dec.set_chunk_size(bad)
    with pytest.raises(LocalProtocolError):
        ChunkEncoder().set_chunk_size(0)


SMALL = ChunkLimits(
    max_media_message_bytes=1000, max_command_message_bytes=100, max_pending_bytes=1500, max_chunk_streams=3
)


def header(csid: int, length: int, type_id: int, fmt: int = 0) -> bytes:
    assert csid < 64
    if fmt == 1:
        return bytes([0x40 | csid]) + bytes(3) + length.to_bytes(3, "big") + bytes([type_id])
    return bytes([csid]) + bytes(3) + length.to_bytes(3, "big") + bytes([type_id]) + bytes(4)


def refused(dec: ChunkDecoder, data: bytes) -> str:
    """Feed ``data`` byte by byte; the ParseError message once the decoder refuses (asserted to happen)."""
    for i in range(len(data)):
        dec.receive_data(data[i : i + 1])
        try:
            while dec.next_message() is not None:
                pass
        except ParseError as exc:
            assert dec.buffered_bytes <= 18, "refused only after buffering payload"
            return str(exc)
    raise AssertionError("not refused")


def test_declared_length_over_the_budget_is_refused_on_its_header() -> None:
    # 16 MiB - 1 declared before authorisation: refused on the 12th byte, nothing of the payload held.
    dec = ChunkDecoder(limits=UNAUTHORISED_LIMITS)
    wire = header(6, 0xFFFFFF, 9)
    assert refused(dec, wire + bytes(100)) == "message of 16777215 bytes exceeds the limit of 16384 bytes"
    assert dec.pending_bytes == 0


def test_command_and_media_limits_are_separate() -> None:
    dec = ChunkDecoder(limits=SMALL)
    dec.receive_data(header(4, 1000, 9) + bytes(128))  # a 1000-byte video message fits the media limit
    assert dec.next_message() is None and dec.pending_bytes == 1000
    assert refused(dec, header(3, 101, 20)) == "message of 101 bytes exceeds the limit of 100 bytes"


def test_fmt1_header_is_checked_too() -> None:
    dec = ChunkDecoder(limits=SMALL)
    dec.receive_data(header(4, 10, 9) + bytes(10))
    assert dec.next_message() is not None
    assert refused(dec, header(4, 5000, 9, fmt=1)) == "message of 5000 bytes exceeds the limit of 1000 bytes"


def test_total_pending_is_reserved_on_headers() -> None:
    dec = ChunkDecoder(limits=SMALL)
    dec.receive_data(header(4, 1000, 9) + bytes(128))
    assert dec.next_message() is None
    # A second unfinished message would make 2000 declared bytes: refused on its header.
    assert refused(dec, header(5, 600, 9)) == "too many unfinished message bytes"


def test_pending_returns_after_completion_and_abort() -> None:
    dec = ChunkDecoder(limits=SMALL)
    dec.receive_data(header(4, 300, 9) + bytes(128) + header(5, 300, 8) + bytes(128))
    assert dec.next_message() is None and dec.pending_bytes == 600
    dec.abort(5)
    assert dec.pending_bytes == 300
    dec.receive_data(bytes([0xC4]) + bytes(128) + bytes([0xC4]) + bytes(44))
    message = dec.next_message()
    assert message is not None and len(message.payload) == 300 and dec.pending_bytes == 0


def test_messages_within_one_chunk_reserve_nothing() -> None:
    dec = ChunkDecoder(limits=SMALL)
    dec.set_chunk_size(4096)
    for csid in (3, 4, 5):
        dec.receive_data(header(csid, 1000, 9) + bytes(1000))
        assert dec.next_message() is not None
    assert dec.pending_bytes == 0


def test_chunk_streams_are_capped() -> None:
    dec = ChunkDecoder(limits=SMALL)
    for csid in (3, 4, 5):
        dec.receive_data(header(csid, 1, 20) + b"x")
        assert dec.next_message() is not None
    dec.receive_data(header(4, 1, 20) + b"x")  # a known stream is fine
    assert dec.next_message() is not None
    assert refused(dec, header(6, 1, 20)) == "too many chunk streams"


def test_huge_chunk_size_buffers_only_the_declared_message() -> None:
    dec = ChunkDecoder(limits=UNAUTHORISED_LIMITS)
    dec.set_chunk_size(0x7FFFFFFF)
    dec.receive_data(header(3, 10, 20) + b"0123456789" + header(3, 0xFFFFFF, 20))
    message = dec.next_message()
    assert message is not None and message.payload == b"0123456789"
    with pytest.raises(ParseError, match=r"^message of 16777215 bytes exceeds the limit of 16384 bytes$"):
        dec.next_message()


def test_limits_widen_after_authorisation() -> None:
    dec = ChunkDecoder(limits=UNAUTHORISED_LIMITS)
    dec.set_limits(MEDIA_LIMITS)
    payload = bytes(range(256)) * 4096  # 1 MiB
    wire = encode_fmt0(csid=6, timestamp=40, type_id=9, stream_id=1, payload=payload, chunk_size=4096)
    dec.set_chunk_size(4096)
    dec.receive_data(wire)
    message = dec.next_message()
    assert message is not None and message.payload == payload and dec.pending_bytes == 0


def test_clear_releases_everything() -> None:
    dec = ChunkDecoder(limits=SMALL)
    dec.receive_data(header(4, 1000, 9) + bytes(100))
    assert dec.next_message() is None
    dec.clear()
    assert dec.pending_bytes == 0 and dec.buffered_bytes == 0 and "streams=0" in repr(dec)


@pytest.mark.parametrize("field", ["max_media_message_bytes", "max_pending_bytes", "max_chunk_streams"])
def test_limits_validate(field: str) -> None:
    values = {
        "max_media_message_bytes": 1,
        "max_command_message_bytes": 1,
        "max_pending_bytes": 1,
        "max_chunk_streams": 1,
    }
    values[field] = 0
    with pytest.raises(ValueError, match=field):
        ChunkDecoder(limits=ChunkLimits(**values))


message_st = st.builds(
    raw,
    st.sampled_from([2, 3, 4, 5, 6, 63, 64, 319, 320, 65599]),
    st.one_of(st.integers(0, 0xFFFFFFFF), st.integers(0xFFFFF0, 0x1000010)),
    st.sampled_from([8, 9, 18, 20]),
    st.sampled_from([0, 1, 7]),
    st.binary(max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(message_st, min_size=1, max_size=12),
    st.one_of(st.integers(1, 400), st.integers(1, 65536)),
    st.integers(0, 50),
)
def test_round_trip_compressed(messages: list[RawMessage], chunk_size: int, step: int) -> None:
    # Timestamps only go forward per chunk stream in a real stream; make them so (the encoder resets
    # to fmt0 when they do not), keeping the extended-timestamp region in play.
    fixed = []
    last: dict[int, int] = {}
    for m in messages:
        ts = max(m.timestamp, last.get(m.csid, 0))
        last[m.csid] = ts
        fixed.append(raw(m.csid, ts, m.type_id, m.stream_id, m.payload))
    enc = ChunkEncoder()
    enc.set_chunk_size(chunk_size)
    wire = b"".join(
        enc.encode(
            csid=m.csid, timestamp=m.timestamp, type_id=m.type_id, stream_id=m.stream_id, payload=m.payload
        )
        for m in fixed
    )
    assert decode_all(wire, chunk_size, step=step) == fixed


@settings(max_examples=200, deadline=None)
@given(st.lists(message_st, min_size=1, max_size=8), st.integers(1, 65536))
def test_round_trip_fmt0(messages: list[RawMessage], chunk_size: int) -> None:
    wire = b"".join(
        encode_fmt0(
            csid=m.csid,
            timestamp=m.timestamp,
            type_id=m.type_id,
            stream_id=m.stream_id,
            payload=m.payload,
            chunk_size=chunk_size,
        )
        for m in messages
    )
    assert decode_all(wire, chunk_size) == messages
