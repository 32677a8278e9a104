"""The fuzz targets: one function of raw bytes per core, shared by ``tests/fuzz`` (hypothesis, bounded)
and ``python -m fuzz`` (atheris, coverage guided).

Every target feeds its core, checks the core's own invariants (round trips, at most one close, work
bounded by what the connection holds) and may raise only the errors listed in ``allowed``; the
budgets of :mod:`fuzz.harness` apply on top. Seeds come from ``fixtures/`` (``srt_*.bin`` captured
from libsrt, ``rtmp_publish_*.bin`` recorded from ffmpeg by :mod:`fuzz.record_rtmp_publish`) plus a
few small synthetic inputs that put length and count fields within reach of byte mutations.

Stream cores (RTMP) get their input in pieces of varying size, so every state is also entered with a
partial buffer. Datagram cores (SRT) get their input as frames (:func:`frame_datagrams`): a flags
byte, a clock step in milliseconds and a length-prefixed datagram each, so one input drives a
connection through many datagrams on an explicit clock.
"""

from __future__ import annotations

import json
import pathlib
import random
from collections.abc import Iterator
from typing import Any

import yaml

from emulator.errors import ConfigError
from emulator.topology import Topology
from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.models import NetemError
from mediaplane.rtmp import amf0
from mediaplane.rtmp import errors as rtmp_errors
from mediaplane.rtmp.chunk import ChunkDecoder, ChunkEncoder, RawMessage
from mediaplane.rtmp.events import (
    ConnectionClosed as RtmpConnectionClosed,
)
from mediaplane.rtmp.events import (
    Event as RtmpEvent,
)
from mediaplane.rtmp.events import (
    PlayRequested,
    PublishRequested,
)
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
from mediaplane.srt import SrtAcceptor, SrtConnection
from mediaplane.srt import errors as srt_errors
from mediaplane.srt.circular import SEQ_MASK
from mediaplane.srt.config import SrtConfig
from mediaplane.srt.events import ConnectionClosed as SrtConnectionClosed
from mediaplane.srt.handshake import HandshakeType, decode_peer_ip, parse_handshake
from mediaplane.srt.keymaterial import KeyMaterialMessage, KeySet, new_keyset
from mediaplane.srt.packet import (
    Ack,
    AckAck,
    AckKind,
    ControlType,
    DataPacket,
    DropRequest,
    Keepalive,
    KeyMaterialPacket,
    Nak,
    Shutdown,
    UserSubtype,
    parse_control,
    parse_data,
    peek_header,
)
from mediaplane.srt.streamid import STREAMID_PREFIX, parse_stream_id

from .harness import FuzzTarget

__all__ = ["TARGETS", "established_isn", "frame_datagrams", "read_frames"]

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
RTMP_PUBLISH_CAPTURE = FIXTURES / "rtmp_publish_ffmpeg.bin"
"""Client -> server bytes of a real ffmpeg publish (see fuzz/record_rtmp_publish.py)."""
RTMP_SERVER_CAPTURE = FIXTURES / "rtmp_publish_server.bin"
"""Server -> client bytes our server core answered to that publish."""
RTMP_HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_PACKET_BYTES
"""C0 + C1 + C2 (or S0 + S1 + S2)."""
CAPTURE_PASSPHRASE = "secretsecret"
"""Passphrase of the encrypted SRT captures in fixtures/."""
PIECE_SIZES = (1, 7, 128, 3, 1536, 64, 4096, 2, 500)
"""Sizes the stream targets cut their input into, cycling."""
WORK_SLACK_DATAGRAMS = 64
"""Datagrams one input datagram may cause beyond one per packet the connection holds."""


def _pieces(data: bytes) -> Iterator[bytes]:
    pos = 0
    i = 0
    while pos < len(data):
        size = PIECE_SIZES[i % len(PIECE_SIZES)]
        yield data[pos : pos + size]
        pos += size
        i += 1


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _srt_fixtures() -> list[bytes]:
    return [p.read_bytes() for p in sorted(FIXTURES.glob("srt_*.bin"))]


# -- RTMP ---------------------------------------------------------------------------------------
RTMP_ERRORS = (rtmp_errors.RemoteProtocolError,)


def rtmp_handshake(data: bytes) -> None:
    """Both handshake roles fed hostile peer bytes in pieces."""
    server = ServerHandshake(random.Random(1))
    for piece in _pieces(data):
        if server.done:
            break
        reply = server.receive_data(piece)
        assert not reply or len(reply) == RTMP_HANDSHAKE_BYTES
    if server.done:
        assert len(server.leftover) <= len(data)
    client = ClientHandshake(random.Random(2))
    client.initiate()
    for piece in _pieces(data):
        if client.done:
            break
        reply = client.receive_data(piece)
        assert not reply or len(reply) == HANDSHAKE_PACKET_BYTES


def _rtmp_handshake_seeds() -> list[bytes]:
    capture = _fixture(RTMP_PUBLISH_CAPTURE.name)
    return [capture[:RTMP_HANDSHAKE_BYTES], _fixture(RTMP_SERVER_CAPTURE.name)[:RTMP_HANDSHAKE_BYTES]]


def rtmp_chunk(data: bytes) -> None:
    """The chunk decoder fed a hostile chunk stream; Set Chunk Size and Abort applied as a session
    applies them."""
    decoder = ChunkDecoder()
    for piece in _pieces(data):
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
    return [_fixture(RTMP_PUBLISH_CAPTURE.name)[RTMP_HANDSHAKE_BYTES:], *_synthetic_chunks()]


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
    for piece in _pieces(data):
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
        for piece in _pieces(data):
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
    return [_fixture(RTMP_SERVER_CAPTURE.name)]


# -- SRT packets ----------------------------------------------------------------------------------
SRT_ERRORS = (srt_errors.SrtError,)
"""Parsers raise ParseError; unwrapping keys with the wrong passphrase raises BadSecret."""


def srt_packet(data: bytes) -> None:
    """Header peek, data and control parsers; what parses re-encodes to the same packet."""
    is_control, ctype, _ = peek_header(data)
    if not is_control:
        pkt = parse_data(data)
        assert pkt.encode() == data[: len(data)]
        repr(pkt)
        return
    if ctype == ControlType.HANDSHAKE:
        srt_handshake(data)
        return
    control = parse_control(data)
    assert parse_control(control.encode()) == control  # type: ignore[attr-defined]
    if isinstance(control, Nak):
        control.sequence_count()


def srt_handshake(data: bytes) -> None:
    """Handshake and extension parsers; a parsed handshake re-encodes to an equal one."""
    hs = parse_handshake(data)
    repr(hs)
    decode_peer_ip(hs.peer_ip)
    again = parse_handshake(hs.encode())
    assert again == hs, (again, hs)
    if hs.stream_id is not None:
        srt_streamid(hs.stream_id.encode("utf-8"))
    if hs.kmreq is not None:
        srt_keymaterial(hs.kmreq)


def srt_keymaterial(data: bytes) -> None:
    """The KM message parser and key unwrapping (BadSecret for a foreign passphrase)."""
    msg = KeyMaterialMessage.decode(data)
    assert KeyMaterialMessage.decode(msg.encode()) == msg
    keys = KeySet.from_message(msg, CAPTURE_PASSPHRASE)
    for cipher in (keys.even, keys.odd):
        if cipher is not None:
            cipher.crypt(1, bytes(188))


def srt_streamid(data: bytes) -> None:
    """The access-control stream id; the ``#!::`` form re-encodes to the same fields."""
    sid = parse_stream_id(data.decode("utf-8", "replace"))
    if sid.raw.startswith(STREAMID_PREFIX):
        again = parse_stream_id(sid.encode())
        assert (again.resource, again.mode, again.user, again.extra) == (
            sid.resource,
            sid.mode,
            sid.user,
            sid.extra,
        )


def _srt_km_seeds() -> list[bytes]:
    seeds = []
    for path in ("srt_conclusion_request_kmreq.bin", "srt_conclusion_response_kmrsp.bin"):
        hs = parse_handshake(_fixture(path))
        if hs.kmreq is not None:
            seeds.append(hs.kmreq)
        if hs.kmrsp is not None:
            seeds.append(hs.kmrsp)
    return seeds


def _streamid_seeds() -> list[bytes]:
    return [b"#!::r=live/abc,m=publish,u=admin,s=1", b"#!::u=x,h=host,t=stream,k=v", b"live/abc", b"#!::"]


# -- SRT connections ------------------------------------------------------------------------------
CALLER_ADDR = ("10.0.0.1", 5000)
LISTENER_ADDR = ("10.0.0.2", 9000)
LISTENER_SOCKET_ID = 0x4242
FRAME_HEADER_BYTES = 4
FIX_COOKIE = 0x01
"""Frame flag: put the valid SYN cookie into a conclusion (so mutated conclusions get past it)."""
TO_RECEIVER = 0x01
"""Frame flag (established target): deliver to the receiving side instead of the sender."""
SEND_FIRST = 0x02
"""Frame flag (established target): the sender sends one payload before the datagram arrives."""
PUMP = 0x04
"""Frame flag (established target): deliver every queued datagram between the peers afterwards."""
_COOKIE_OFFSET = 16 + 28


def frame_datagrams(frames: list[tuple[int, int, bytes]]) -> bytes:
    """``[(flags, clock step ms, datagram)]`` as one fuzz input."""
    return b"".join(
        bytes([flags & 0xFF, step & 0xFF]) + len(d).to_bytes(2, "big") + d for flags, step, d in frames
    )


def read_frames(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """The inverse of :func:`frame_datagrams` (a short tail is one last datagram)."""
    pos = 0
    while pos + FRAME_HEADER_BYTES <= len(data):
        flags, step = data[pos], data[pos + 1]
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += FRAME_HEADER_BYTES
        yield flags, step, data[pos : pos + size]
        pos += size


def _listener_config(selector: int) -> SrtConfig:
    if selector & 1:
        return SrtConfig(passphrase=CAPTURE_PASSPHRASE, enforced_encryption=not selector & 2).validate()
    return SrtConfig(enforced_encryption=not selector & 2).validate()


def _drain_srt(conn: SrtConnection, now: float, events: list[Any]) -> int:
    out = len(conn.datagrams_to_send(now))
    while (event := conn.next_event()) is not None:
        events.append(event)
    return out


def _run_timers(conn: SrtConnection, now: float) -> None:
    for _ in range(4):
        timer = conn.get_timer()
        if timer is None or timer > now:
            return
        conn.handle_timer(now)


def _check_srt_events(events: list[Any], conn: SrtConnection) -> None:
    closes = [e for e in events if isinstance(e, SrtConnectionClosed)]
    assert len(closes) <= 1, "a connection closes once"
    assert bool(closes) == conn.closed


def srt_listener(data: bytes) -> None:
    """A listener's acceptor and the connection it accepts, fed hostile datagrams from one address
    with an explicit clock. Byte 0 picks the listener (bit 0: passphrase, bit 1: encryption optional)."""
    if not data:
        return
    config = _listener_config(data[0])
    acceptor = SrtAcceptor(config=config, rng=random.Random(7))
    now = 1000.0
    conn: SrtConnection | None = None
    events: list[Any] = []
    for flags, step, datagram in read_frames(data[1:]):
        now += step / 1000
        if flags & FIX_COOKIE and len(datagram) >= _COOKIE_OFFSET + 4:
            datagram = (
                datagram[:_COOKIE_OFFSET]
                + acceptor.cookie(CALLER_ADDR, now).to_bytes(4, "big")
                + datagram[_COOKIE_OFFSET + 4 :]
            )
        dst = int.from_bytes(datagram[12:16], "big") if len(datagram) >= 16 else -1
        if dst == 0 and (conn is None or conn.closed):
            hs = acceptor.receive_handshake(datagram, CALLER_ADDR, now)
            if hs is not None:
                assert hs.handshake_type == HandshakeType.CONCLUSION
                conn = SrtConnection.accept(
                    hs, config=config, rng=random.Random(9), peer_addr=CALLER_ADDR, now=now,
                    socket_id=LISTENER_SOCKET_ID,
                )  # fmt: skip
                events = []
            assert len(acceptor.datagrams_to_send()) <= 1, "one answer per handshake"
        elif conn is not None:
            conn.receive_datagram(datagram, CALLER_ADDR, now)
            _run_timers(conn, now)
            sent = _drain_srt(conn, now, events)
            assert sent <= WORK_SLACK_DATAGRAMS, f"{sent} datagrams for one datagram in"
            _check_srt_events(events, conn)


def _listener_seeds() -> list[bytes]:
    induction = _fixture("srt_induction_request.bin")
    plain = _fixture("srt_conclusion_request_sid.bin")
    encrypted = _fixture("srt_conclusion_request_kmreq.bin")
    rest = [(0, 5, d) for d in _srt_fixtures()]
    return [
        b"\x00" + frame_datagrams([(0, 0, induction), (FIX_COOKIE, 1, plain), *rest]),
        b"\x01" + frame_datagrams([(0, 0, induction), (FIX_COOKIE, 1, encrypted), *rest]),
        b"\x02" + frame_datagrams([(0, 0, induction), (0, 1, plain), (FIX_COOKIE, 1, encrypted)]),
    ]


class _Pair:
    """A caller (the sender) and the listener-side connection it reached, pumped in memory with no
    delay: the established target's starting point."""

    def __init__(self, encrypted: bool) -> None:
        passphrase = CAPTURE_PASSPHRASE if encrypted else ""
        cfg = SrtConfig(passphrase=passphrase, latency_ms=120).validate()
        self.now = 500.0
        self.sender = SrtConnection(config=cfg, rng=random.Random(11), peer_addr=LISTENER_ADDR, now=self.now)
        self.acceptor = SrtAcceptor(config=cfg, rng=random.Random(12))
        self.receiver: SrtConnection | None = None
        self.cfg = cfg
        self.sent = 0
        self.sender.connect(self.now)
        for _ in range(4):
            self.pump()
        assert self.receiver is not None and self.receiver.connected and self.sender.connected
        for i in range(24):
            self.send(bytes([i]) * 188)
        self.pump()

    @property
    def isn(self) -> int:
        return self.sender.sender.buffer.first_seq

    def send(self, payload: bytes) -> None:
        self.sender.send(payload, self.now)
        self.sent += 1

    def pump(self) -> int:
        """Deliver what both sides queued (one round); returns how many datagrams moved."""
        moved = 0
        for d in self.sender.datagrams_to_send(self.now):
            moved += 1
            if self.receiver is None:
                hs = self.acceptor.receive_handshake(d, CALLER_ADDR, self.now)
                if hs is not None:
                    self.receiver = SrtConnection.accept(
                        hs, config=self.cfg, rng=random.Random(13), peer_addr=CALLER_ADDR, now=self.now,
                        socket_id=LISTENER_SOCKET_ID,
                    )  # fmt: skip
                for answer, _ in self.acceptor.datagrams_to_send():
                    self.sender.receive_datagram(answer, LISTENER_ADDR, self.now)
            else:
                self.receiver.receive_datagram(d, CALLER_ADDR, self.now)
        if self.receiver is not None:
            for d in self.receiver.datagrams_to_send(self.now):
                moved += 1
                self.sender.receive_datagram(d, LISTENER_ADDR, self.now)
        return moved


def srt_established(data: bytes) -> None:
    """An established sender and receiver fed hostile (mostly control) datagrams between real
    traffic. Byte 0 bit 0: encrypted pair. Frame flags: :data:`TO_RECEIVER`, :data:`SEND_FIRST`,
    :data:`PUMP`."""
    if not data:
        return
    pair = _Pair(encrypted=bool(data[0] & 1))
    assert pair.receiver is not None
    sender_events: list[Any] = []
    receiver_events: list[Any] = []
    for flags, step, datagram in read_frames(data[1:]):
        pair.now += step / 1000
        if flags & SEND_FIRST and pair.sender.connected:
            pair.send(b"\x47" * 188)
        target, events = (
            (pair.receiver, receiver_events) if flags & TO_RECEIVER else (pair.sender, sender_events)
        )
        peer = CALLER_ADDR if target is pair.receiver else LISTENER_ADDR
        target.receive_datagram(datagram, peer, pair.now)
        _run_timers(target, pair.now)
        out = _drain_srt(target, pair.now, events)
        assert out <= pair.sent + WORK_SLACK_DATAGRAMS, f"{out} datagrams for one datagram in"
        if flags & PUMP:
            pair.pump()
        _check_srt_events(sender_events, pair.sender)
        _check_srt_events(receiver_events, pair.receiver)


def _established_seeds() -> list[bytes]:
    pair = _Pair(encrypted=False)
    isn = pair.isn
    sock = pair.sender.socket_id
    km = KeyMaterialPacket(
        dest_socket_id=sock,
        subtype=UserSubtype.KMREQ,
        body=new_keyset(random.Random(5), 16).to_message(CAPTURE_PASSPHRASE).encode(),
    )
    to_sender: list[Any] = [
        Ack(dest_socket_id=sock, ack_number=1, last_ack_seq=(isn + 5) & SEQ_MASK, rtt_us=20_000),
        Ack(dest_socket_id=sock, ack_number=2, last_ack_seq=(isn + 7) & SEQ_MASK, kind=AckKind.LIGHT),
        Nak(
            dest_socket_id=sock,
            losses=(((isn + 8) & SEQ_MASK, (isn + 12) & SEQ_MASK), ((isn + 14) & SEQ_MASK,) * 2),
        ),
        Nak(dest_socket_id=sock, losses=((isn, isn),)),
        Keepalive(dest_socket_id=sock),
        km,
        AckAck(dest_socket_id=sock, ack_number=1),
    ]
    to_receiver: list[Any] = [
        DropRequest(
            dest_socket_id=LISTENER_SOCKET_ID,
            msgno=3,
            first_seq=(isn + 30) & SEQ_MASK,
            last_seq=(isn + 33) & SEQ_MASK,
        ),
        DataPacket(
            seq=(isn + 40) & SEQ_MASK,
            msgno=40,
            timestamp=100_000,
            dest_socket_id=LISTENER_SOCKET_ID,
            payload=bytes(188),
        ),
        DataPacket(
            seq=(isn + 26) & SEQ_MASK,
            msgno=26,
            timestamp=90_000,
            dest_socket_id=LISTENER_SOCKET_ID,
            payload=bytes(188),
        ),
        Shutdown(dest_socket_id=LISTENER_SOCKET_ID),
    ]
    frames = [(SEND_FIRST, 3, p.encode()) for p in to_sender]
    frames += [(TO_RECEIVER | PUMP, 5, p.encode()) for p in to_receiver]
    frames += [(i & 1, 2, d) for i, d in enumerate(_srt_fixtures())]
    return [b"\x00" + frame_datagrams(frames), b"\x01" + frame_datagrams(frames[:6])]


# -- netem timelines and topologies ---------------------------------------------------------------
NETEM_ERRORS = (NetemError,)
TOPOLOGY_ERRORS = (ConfigError,)


def _load_document(data: bytes) -> Any:
    """A YAML (or JSON, which YAML reads too) document, or ``_REJECTED`` when the text is not one."""
    try:
        return yaml.load(data.decode("utf-8", "replace"), Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return _REJECTED
    except RecursionError:
        return _REJECTED  # PyYAML's composer recurses on nesting; not our parser


_REJECTED = object()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (same documents as ``yaml.safe_load``, far faster)."""


def netem_timeline_value(doc: Any) -> None:
    """A timeline document (dict or list) parsed, validated and scheduled over a base impairment."""
    timeline = Timeline.from_dict(doc)
    base = Impairment(delay_ms=20.0)
    schedule = timeline.schedule(base)
    times = [time_s for time_s, _ in schedule]
    assert times[0] == 0.0 and times == sorted(times)
    timeline.impairment_at(timeline.end_s / 2, base)
    assert Timeline.from_dict(json.loads(json.dumps(timeline.to_dict()))) == timeline


def netem_timeline(data: bytes) -> None:
    """:func:`netem_timeline_value` of a YAML/JSON text."""
    doc = _load_document(data)
    if doc is not _REJECTED:
        netem_timeline_value(doc)


def _timeline_seeds() -> list[bytes]:
    doc = {
        "steps": [
            {"at_s": 10, "changes": {"loss_pct": 100}, "duration_s": 8},
            {"at_s": 18, "changes": {"loss_pct": 5, "jitter_ms": 3.5}},
            {"at_s": 30, "profile": "satellite", "duration_s": 5},
            {
                "at_s": 40,
                "impairment": {"delay_ms": 20, "outage_period_s": 4, "outage_duration_s": 1},
                "duration_s": 5,
                "revert": False,
            },
        ]
    }
    return [json.dumps(doc).encode(), yaml.safe_dump(doc["steps"]).encode()]


def topology_value(doc: Any) -> None:
    """A topology document loaded the way ``mcemu up --topology`` loads it."""
    Topology.from_dict(doc or {})


def topology(data: bytes) -> None:
    """:func:`topology_value` of a YAML/JSON topology text (seeds: fixtures/topologies/)."""
    doc = _load_document(data)
    if doc is not _REJECTED:
        topology_value(doc)


def _topology_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / "topologies").glob("*.yaml"))]


TARGETS: dict[str, FuzzTarget] = {
    t.name: t
    for t in (
        FuzzTarget(
            name="rtmp_handshake", run=rtmp_handshake, allowed=RTMP_ERRORS, seeds=_rtmp_handshake_seeds
        ),
        FuzzTarget(name="rtmp_chunk", run=rtmp_chunk, allowed=RTMP_ERRORS, seeds=_rtmp_chunk_seeds),
        FuzzTarget(name="rtmp_amf0", run=rtmp_amf0, allowed=RTMP_ERRORS, seeds=_rtmp_amf0_seeds),
        FuzzTarget(name="rtmp_message", run=rtmp_message, allowed=RTMP_ERRORS, seeds=_rtmp_message_seeds),
        FuzzTarget(
            name="rtmp_server_session",
            run=rtmp_server_session,
            seeds=lambda: [_fixture(RTMP_PUBLISH_CAPTURE.name)],
        ),
        FuzzTarget(
            name="rtmp_server_session_after_handshake",
            run=rtmp_server_session_after_handshake,
            seeds=_rtmp_chunk_seeds,
        ),
        FuzzTarget(name="rtmp_client_session", run=rtmp_client_session, seeds=_rtmp_client_seeds),
        FuzzTarget(name="srt_packet", run=srt_packet, allowed=SRT_ERRORS, seeds=_srt_fixtures),
        FuzzTarget(
            name="srt_handshake",
            run=srt_handshake,
            allowed=SRT_ERRORS,
            seeds=lambda: [d for d in _srt_fixtures() if d[:2] == b"\x80\x00"],
        ),
        FuzzTarget(name="srt_keymaterial", run=srt_keymaterial, allowed=SRT_ERRORS, seeds=_srt_km_seeds),
        FuzzTarget(name="srt_streamid", run=srt_streamid, allowed=SRT_ERRORS, seeds=_streamid_seeds),
        FuzzTarget(name="srt_listener", run=srt_listener, seeds=_listener_seeds),
        FuzzTarget(name="srt_established", run=srt_established, seeds=_established_seeds),
        FuzzTarget(name="netem_timeline", run=netem_timeline, allowed=NETEM_ERRORS, seeds=_timeline_seeds),
        FuzzTarget(name="topology", run=topology, allowed=TOPOLOGY_ERRORS, seeds=_topology_seeds),
    )
}
"""Every target by name (``python -m fuzz --list``)."""


def established_isn() -> int:
    """The first sequence number of the established target's sender (deterministic: seeded rng), so
    structured tests can aim ranges at, near and far from what the connection holds."""
    return _Pair(encrypted=False).isn
