"""RTMP fuzz targets: handshake, chunk stream, AMF0, messages and the server and client sessions.

Stream cores get their input in pieces of varying size (:func:`fuzz.targets.inputs.pieces`), so every
state is also entered with a partial buffer. Seeds: the ffmpeg publish recorded by
:mod:`fuzz.record_rtmp_publish` and our server's answer to it, plus small synthetic chunks.
"""

from __future__ import annotations

import random

from mediaplane.rtmp import amf0
from mediaplane.rtmp import errors as rtmp_errors
from mediaplane.rtmp.chunk import ChunkDecoder, ChunkEncoder, RawMessage
from mediaplane.rtmp.events import ConnectionClosed as RtmpConnectionClosed
from mediaplane.rtmp.events import Event as RtmpEvent
from mediaplane.rtmp.events import PlayRequested, PublishRequested
from mediaplane.rtmp.handshake import HANDSHAKE_PACKET_BYTES, ClientHandshake, ServerHandshake
from mediaplane.rtmp.message import (
    MediaKind,
    MediaMessage,
    MessageType,
    classify_media,
    parse_message,
    serialize_payload,
    split_aggregate,
)
from mediaplane.rtmp.session import ClientMode, RtmpClientSession, RtmpServerSession

from ..harness import FuzzTarget
from .inputs import FIXTURES, fixture, pieces

__all__ = ["RTMP_HANDSHAKE_BYTES", "RTMP_PUBLISH_CAPTURE", "RTMP_SERVER_CAPTURE", "TARGETS"]

RTMP_PUBLISH_CAPTURE = FIXTURES / "rtmp_publish_ffmpeg.bin"
"""Client -> server bytes of a real ffmpeg publish (see fuzz/record_rtmp_publish.py)."""
RTMP_SERVER_CAPTURE = FIXTURES / "rtmp_publish_server.bin"
"""Server -> client bytes our server core answered to that publish."""
RTMP_HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_PACKET_BYTES
"""C0 + C1 + C2 (or S0 + S1 + S2)."""


RTMP_ERRORS = (rtmp_errors.RemoteProtocolError,)


def rtmp_handshake(data: bytes) -> None:
    """Both handshake roles fed hostile peer bytes in pieces."""
    server = ServerHandshake(random.Random(1))
    for piece in pieces(data):
        if server.done:
            break
        reply = server.receive_data(piece)
        assert not reply or len(reply) == RTMP_HANDSHAKE_BYTES
    if server.done:
        assert len(server.leftover) <= len(data)
    client = ClientHandshake(random.Random(2))
    client.initiate()
    for piece in pieces(data):
        if client.done:
            break
        reply = client.receive_data(piece)
        assert not reply or len(reply) == HANDSHAKE_PACKET_BYTES


def _rtmp_handshake_seeds() -> list[bytes]:
    capture = fixture(RTMP_PUBLISH_CAPTURE.name)
    return [capture[:RTMP_HANDSHAKE_BYTES], fixture(RTMP_SERVER_CAPTURE.name)[:RTMP_HANDSHAKE_BYTES]]


def rtmp_chunk(data: bytes) -> None:
    """The chunk decoder fed a hostile chunk stream; Set Chunk Size and Abort applied as a session
    applies them."""
    decoder = ChunkDecoder()
    for piece in pieces(data):
        decoder.receive_data(piece)
        while (raw := decoder.next_message()) is not None:
            if raw.type_id == MessageType.SET_CHUNK_SIZE and len(raw.payload) >= 4:
                decoder.set_chunk_size(int.from_bytes(raw.payload[:4], "big"))
            elif raw.type_id == MessageType.ABORT and len(raw.payload) >= 4:
                decoder.abort(int.from_bytes(raw.payload[:4], "big"))
            assert len(raw.payload) <= len(data)


def _synthetic_chunks() -> list[bytes]:
    enc = ChunkEncoder()
    small = [
        enc.encode(csid=2, timestamp=0, type_id=1, stream_id=0, payload=(256).to_bytes(4, "big")),
        enc.encode(csid=3, timestamp=0, type_id=20, stream_id=0, payload=amf0.encode_all(["connect", 1.0])),
        enc.encode(csid=6, timestamp=40, type_id=9, stream_id=1, payload=b"\x17\x01" + bytes(300)),
        enc.encode(csid=6, timestamp=80, type_id=9, stream_id=1, payload=b"\x27\x01" + bytes(20)),
        enc.encode(csid=4, timestamp=0xFFFFFF + 5, type_id=8, stream_id=1, payload=b"\xaf\x01" + bytes(200)),
    ]
    return [b"".join(small), *small]


def _rtmp_chunk_seeds() -> list[bytes]:
    return [fixture(RTMP_PUBLISH_CAPTURE.name)[RTMP_HANDSHAKE_BYTES:], *_synthetic_chunks()]


def rtmp_amf0(data: bytes) -> None:
    """AMF0 and the AMF3 command tolerance; what decodes re-encodes to a fixed point."""
    try:
        values = amf0.decode_all(data)
    except rtmp_errors.ParseError:
        values = None
    if values is not None:
        wire = amf0.encode_all(values)
        assert amf0.encode_all(amf0.decode_all(wire)) == wire
    amf0.decode_amf3_command_values(data)


def _rtmp_amf0_seeds() -> list[bytes]:
    return [
        amf0.encode_all(["connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "n": [1.0, None, True]}]),
        amf0.encode(amf0.EcmaArray(duration=1.0, width=160.0, encoder=amf0.LongString("Lavf"))),
        amf0.encode([amf0.Amf0Date(epoch_ms=1.0), amf0.UNDEFINED, "x" * 40]),
        b"\x00" + amf0.encode("createStream") + b"\x11\x04\x81\x02" + b"\x11\x06\x07abc",
    ]


def rtmp_message(data: bytes) -> None:
    """Raw -> typed: byte 0 is the type id, byte 1 the low timestamp byte, the rest the payload."""
    if len(data) < 2:
        return
    raw = RawMessage(csid=3, timestamp=data[1], type_id=data[0], stream_id=1, payload=data[2:])
    kind = classify_media(raw.type_id, raw.payload)
    assert isinstance(kind, MediaKind)
    if raw.type_id == MessageType.AGGREGATE:
        inner = split_aggregate(raw)
        assert sum(len(m.payload) for m in inner) <= len(raw.payload)
        return
    message = parse_message(raw)
    if message is None or isinstance(message, MediaMessage):
        return
    type_id, payload = serialize_payload(message)
    again = parse_message(RawMessage(csid=3, timestamp=0, type_id=type_id, stream_id=1, payload=payload))
    if raw.type_id not in (MessageType.COMMAND_AMF3, MessageType.DATA_AMF3):
        assert type(again) is type(message)


def _rtmp_message_seeds() -> list[bytes]:
    cmd = amf0.encode_all(["publish", 5.0, None, "key", "live"])
    return [
        bytes([20, 0]) + cmd,
        bytes([17, 0, 0]) + cmd,
        bytes([1, 0]) + (4096).to_bytes(4, "big"),
        bytes([4, 0]) + b"\x00\x03" + bytes(8),
        bytes([6, 0]) + (2_500_000).to_bytes(4, "big") + b"\x02",
        bytes([22, 0]) + b"\x09" + (3).to_bytes(3, "big") + bytes(7) + b"\x17\x00\x00" + bytes(4),
        bytes([9, 0]) + b"\x90\x00\x00\x00\x00",
        bytes([8, 0]) + b"\xaf\x00\x12\x10",
    ]


def _rtmp_session_checks(events: list[RtmpEvent], closed: bool) -> None:
    closes = [e for e in events if isinstance(e, RtmpConnectionClosed)]
    assert len(closes) <= 1, "a session closes once"
    assert bool(closes) == closed


def _valid_client_handshake(server: RtmpServerSession) -> None:
    hs = ClientHandshake(random.Random(2))
    server.receive_data(hs.initiate())
    server.receive_data(hs.receive_data(server.data_to_send()))


def _drive_rtmp_server(data: bytes, *, handshake: bool) -> None:
    server = RtmpServerSession(random.Random(1))
    if handshake:
        _valid_client_handshake(server)
    events: list[RtmpEvent] = []
    media = MediaMessage(
        type_id=MessageType.VIDEO, timestamp=0, payload=b"\x17\x01" + bytes(8), kind=MediaKind.KEYFRAME
    )
    for piece in pieces(data):
        server.receive_data(piece)
        while (event := server.next_event()) is not None:
            events.append(event)
            # Answer as the region server does: accept a publish, accept a play and feed it.
            if isinstance(event, PublishRequested):
                server.accept_publish(event.stream_id)
            elif isinstance(event, PlayRequested):
                server.accept_play(event.stream_id)
                server.send_media(media)
        server.data_to_send()
        if server.closed:
            break
    while (event := server.next_event()) is not None:
        events.append(event)
    _rtmp_session_checks(events, server.closed)


def rtmp_server_session(data: bytes) -> None:
    """A server session fed a whole hostile client stream, handshake included (seed: ffmpeg)."""
    _drive_rtmp_server(data, handshake=False)


def rtmp_server_session_after_handshake(data: bytes) -> None:
    """A server session fed hostile chunks after a valid handshake."""
    _drive_rtmp_server(data, handshake=True)


def rtmp_client_session(data: bytes) -> None:
    """Publishing and playing client sessions fed hostile server responses."""
    for mode in (ClientMode.PUBLISH, ClientMode.PLAY):
        client = RtmpClientSession(random.Random(3), app="live", key="fuzzkey", mode=mode)
        client.initiate()
        client.data_to_send()
        events: list[RtmpEvent] = []
        media = MediaMessage(
            type_id=MessageType.AUDIO, timestamp=0, payload=b"\xaf\x01\x00", kind=MediaKind.FRAME
        )
        for piece in pieces(data):
            client.receive_data(piece)
            while (event := client.next_event()) is not None:
                events.append(event)
            if client.state.value == "publishing":
                client.send_media(media)
            client.data_to_send()
            if client.closed:
                break
        while (event := client.next_event()) is not None:
            events.append(event)
        _rtmp_session_checks(events, client.closed)


def _rtmp_client_seeds() -> list[bytes]:
    return [fixture(RTMP_SERVER_CAPTURE.name)]


TARGETS: tuple[FuzzTarget, ...] = (
    FuzzTarget(name="rtmp_handshake", run=rtmp_handshake, allowed=RTMP_ERRORS, seeds=_rtmp_handshake_seeds),
    FuzzTarget(name="rtmp_chunk", run=rtmp_chunk, allowed=RTMP_ERRORS, seeds=_rtmp_chunk_seeds),
    FuzzTarget(name="rtmp_amf0", run=rtmp_amf0, allowed=RTMP_ERRORS, seeds=_rtmp_amf0_seeds),
    FuzzTarget(name="rtmp_message", run=rtmp_message, allowed=RTMP_ERRORS, seeds=_rtmp_message_seeds),
    FuzzTarget(
        name="rtmp_server_session",
        run=rtmp_server_session,
        seeds=lambda: [fixture(RTMP_PUBLISH_CAPTURE.name)],
    ),
    FuzzTarget(
        name="rtmp_server_session_after_handshake",
        run=rtmp_server_session_after_handshake,
        seeds=_rtmp_chunk_seeds,
    ),
    FuzzTarget(name="rtmp_client_session", run=rtmp_client_session, seeds=_rtmp_client_seeds),
)
"""The RTMP targets, in the order ``python -m fuzz --list`` shows them."""
