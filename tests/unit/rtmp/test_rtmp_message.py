"""Typed messages: golden payloads both ways, truncation errors, media classification."""

from __future__ import annotations

import pytest

from mediaplane.rtmp import amf0
from mediaplane.rtmp.chunk import RawMessage
from mediaplane.rtmp.errors import ParseError
from mediaplane.rtmp.message import (
    Abort,
    Acknowledgement,
    CommandMessage,
    DataMessage,
    MediaKind,
    MediaMessage,
    MessageType,
    PeerBandwidthLimit,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
    classify_media,
    parse_message,
    serialize_payload,
    split_aggregate,
)

GOLDEN = [
    (SetChunkSize(size=4096), 1, bytes.fromhex("00001000")),
    (SetChunkSize(size=0x7FFFFFFF), 1, bytes.fromhex("7fffffff")),
    (Abort(csid=6), 2, bytes.fromhex("00000006")),
    (Acknowledgement(sequence_number=2500000), 3, bytes.fromhex("002625a0")),
    (WindowAckSize(size=2500000), 5, bytes.fromhex("002625a0")),
    (SetPeerBandwidth(size=2500000, limit=PeerBandwidthLimit.DYNAMIC), 6, bytes.fromhex("002625a002")),
    (UserControl(event=UserControlEvent.STREAM_BEGIN, stream_id=1), 4, bytes.fromhex("0000 00000001")),
    (UserControl(event=UserControlEvent.STREAM_EOF, stream_id=1), 4, bytes.fromhex("0001 00000001")),
    (
        UserControl(event=UserControlEvent.SET_BUFFER_LENGTH, stream_id=1, buffer_ms=3000),
        4,
        bytes.fromhex("0003 00000001 00000bb8"),
    ),
    (UserControl(event=UserControlEvent.PING_REQUEST, stream_id=77), 4, bytes.fromhex("0006 0000004d")),
    (UserControl(event=UserControlEvent.PING_RESPONSE, stream_id=77), 4, bytes.fromhex("0007 0000004d")),
    (
        CommandMessage(name="createStream", transaction_id=2.0, command_object=None),
        20,
        amf0.encode_all(["createStream", 2.0, None]),
    ),
    (
        CommandMessage(name="publish", transaction_id=5.0, command_object=None, args=("key", "live")),
        20,
        amf0.encode_all(["publish", 5.0, None, "key", "live"]),
    ),
    (DataMessage(values=("onCuePoint", {"name": "x"})), 18, amf0.encode_all(["onCuePoint", {"name": "x"}])),
]


@pytest.mark.parametrize(("message", "type_id", "payload"), GOLDEN, ids=[repr(g[0])[:40] for g in GOLDEN])
def test_golden_both_ways(message: object, type_id: int, payload: bytes) -> None:
    assert serialize_payload(message) == (type_id, payload)  # type: ignore[arg-type]
    raw = RawMessage(csid=2, timestamp=0, type_id=type_id, stream_id=0, payload=payload)
    assert parse_message(raw) == message


@pytest.mark.parametrize(("message", "type_id", "payload"), GOLDEN, ids=[repr(g[0])[:40] for g in GOLDEN])
def test_every_truncated_prefix_raises(message: object, type_id: int, payload: bytes) -> None:
    boundaries = set()
    if type_id in (18, 20):  # AMF bodies: a cut between two values is a shorter, valid value list
        offset = 0
        while offset < len(payload):
            boundaries.add(offset)
            offset = amf0.decode(payload, offset)[1]
    for cut in range(len(payload)):
        if cut in boundaries and (type_id == 18 or cut > 0):
            continue
        raw = RawMessage(csid=2, timestamp=0, type_id=type_id, stream_id=0, payload=payload[:cut])
        with pytest.raises(
            ParseError, match=r"^(truncated .* message|truncated AMF0 value|malformed command message)$"
        ):
            parse_message(raw)


def test_control_messages_ignore_trailing_bytes() -> None:
    raw = RawMessage(csid=2, timestamp=0, type_id=1, stream_id=0, payload=bytes.fromhex("00000080ffff"))
    assert parse_message(raw) == SetChunkSize(size=128)


@pytest.mark.parametrize(
    "payload", [bytes.fromhex("00000000"), bytes.fromhex("80000000"), bytes.fromhex("ffffffff")]
)
def test_absurd_chunk_size_is_refused(payload: bytes) -> None:
    with pytest.raises(ParseError, match=r"^invalid chunk size$"):
        parse_message(RawMessage(csid=2, timestamp=0, type_id=1, stream_id=0, payload=payload))


def test_amf3_command_is_tolerated() -> None:
    payload = b"\x00" + amf0.encode_all(["connect", 1.0, {"app": "live"}])
    msg = parse_message(RawMessage(csid=3, timestamp=0, type_id=17, stream_id=0, payload=payload))
    assert msg == CommandMessage(
        name="connect", transaction_id=1.0, command_object={"app": "live"}, amf3=True
    )


def test_command_without_transaction_id_is_tolerated() -> None:
    raw = RawMessage(csid=3, timestamp=0, type_id=20, stream_id=0, payload=amf0.encode("onFCPublish"))
    assert parse_message(raw) == CommandMessage(name="onFCPublish", transaction_id=0.0)


@pytest.mark.parametrize("values", [[1.0, 2.0], [None], [{"a": 1.0}]])
def test_command_without_a_name_is_malformed(values: list[object]) -> None:
    raw = RawMessage(csid=3, timestamp=0, type_id=20, stream_id=0, payload=amf0.encode_all(values))
    with pytest.raises(ParseError, match=r"^malformed command message$"):
        parse_message(raw)


def test_unknown_types_and_events_are_ignored() -> None:
    assert parse_message(RawMessage(csid=3, timestamp=0, type_id=22, stream_id=0, payload=b"x")) is None
    assert (
        parse_message(RawMessage(csid=2, timestamp=0, type_id=4, stream_id=0, payload=b"\x00\x20abcd"))
        is None
    )


def test_media_passes_through_byte_for_byte() -> None:
    payload = bytes(range(256)) * 3
    msg = parse_message(RawMessage(csid=6, timestamp=40, type_id=9, stream_id=1, payload=payload))
    assert isinstance(msg, MediaMessage) and msg.payload == payload and msg.timestamp == 40
    assert serialize_payload(msg) == (9, payload)


@pytest.mark.parametrize(
    ("type_id", "payload", "kind"),
    [
        (9, b"\x17\x00\x00\x00\x00\x01", MediaKind.VIDEO_CONFIG),  # AVC sequence header
        (9, b"\x17\x01\x00\x00\x00", MediaKind.KEYFRAME),  # AVC keyframe NALU
        (9, b"\x27\x01\x00\x00\x00", MediaKind.FRAME),  # AVC inter frame
        (9, b"\x1c\x00", MediaKind.VIDEO_CONFIG),  # legacy HEVC (codec id 12) sequence header
        (9, b"\x90hvc1\x01", MediaKind.VIDEO_CONFIG),  # enhanced: key + SequenceStart, HEVC
        (9, b"\x91hvc1\x00\x00\x00", MediaKind.KEYFRAME),  # enhanced: key + CodedFrames
        (9, b"\xa3hvc1", MediaKind.FRAME),  # enhanced: inter + CodedFramesX
        (9, b"\x90av01", MediaKind.VIDEO_CONFIG),
        (9, b"\x91av01", MediaKind.KEYFRAME),
        (9, b"\x90vp09", MediaKind.VIDEO_CONFIG),
        (9, b"\xa1vp09", MediaKind.FRAME),
        (9, b"\x92hvc1", MediaKind.FRAME),  # enhanced SequenceEnd, even flagged key
        (9, b"\x17\x02\x00\x00\x00", MediaKind.FRAME),  # AVC end of sequence, even flagged key
        (9, b"", MediaKind.FRAME),
        (8, b"\xaf\x00\x12\x10", MediaKind.AUDIO_CONFIG),  # AAC AudioSpecificConfig
        (8, b"\xaf\x01\x21", MediaKind.FRAME),
        (8, b"\x90Opus", MediaKind.AUDIO_CONFIG),  # enhanced audio SequenceStart
        (8, b"\x91Opus", MediaKind.FRAME),
        (8, b"\x2f", MediaKind.FRAME),
        (18, amf0.encode("onCuePoint"), MediaKind.DATA),
    ],
)
def test_classify_media(type_id: int, payload: bytes, kind: MediaKind) -> None:
    assert classify_media(type_id, payload) is kind


def test_chunked_bytes_are_cached_per_chunk_size_and_stream() -> None:
    m = MediaMessage(
        type_id=MessageType.VIDEO, timestamp=40, payload=b"\x17\x01" + bytes(5000), kind=MediaKind.KEYFRAME
    )
    a = m.chunked(4096, 1)
    assert m.chunked(4096, 1) is a
    assert m.chunked(4096, 2) != a and m.chunked(128, 1) != a
    assert a[0] == 6  # video on its fixed chunk stream, format 0


def _flv_tag(type_id: int, ts: int, body: bytes) -> bytes:
    header = bytes([type_id]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
    header += bytes([ts >> 24]) + bytes(3)
    return header + body + (11 + len(body)).to_bytes(4, "big")


def test_aggregate_messages_are_split_and_rebased() -> None:
    payload = (
        _flv_tag(9, 1000, b"\x17\x01abc") + _flv_tag(8, 1020, b"\xaf\x01x") + _flv_tag(9, 0x1000000, b"\x27")
    )
    raw = RawMessage(csid=6, timestamp=50, type_id=22, stream_id=1, payload=payload)
    parts = split_aggregate(raw)
    assert [(p.type_id, p.timestamp, p.payload) for p in parts] == [
        (9, 50, b"\x17\x01abc"),
        (8, 70, b"\xaf\x01x"),
        (9, 50 + 0x1000000 - 1000, b"\x27"),
    ]
    for cut in range(1, len(payload)):
        if cut in (len(_flv_tag(9, 1000, b"\x17\x01abc")), len(payload) - len(_flv_tag(9, 0, b"\x27"))):
            continue  # a cut between two tags is a shorter valid aggregate
        with pytest.raises(ParseError, match=r"^truncated aggregate message$"):
            split_aggregate(RawMessage(csid=6, timestamp=50, type_id=22, stream_id=1, payload=payload[:cut]))
