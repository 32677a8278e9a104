"""SRT fuzz targets: packet, handshake, key material and stream id parsers, the listener and an
established connection.

Datagram cores get their input as frames (:func:`frame_datagrams`): a flags byte, a clock step in
milliseconds and a length-prefixed datagram each, so one input drives a connection through many
datagrams on an explicit clock. Seeds: ``fixtures/srt_*.bin`` captured from libsrt.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

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

from ..harness import FuzzTarget
from .inputs import FIXTURES, fixture

__all__ = [
    "LISTENER_SOCKET_ID",
    "PUMP",
    "SEND_FIRST",
    "TARGETS",
    "TO_RECEIVER",
    "established_isn",
    "frame_datagrams",
    "read_frames",
]

CAPTURE_PASSPHRASE = "secretsecret"
"""Passphrase of the encrypted SRT captures in fixtures/."""
WORK_SLACK_DATAGRAMS = 64
"""Datagrams one input datagram may cause beyond one per packet the connection holds."""


def _srt_fixtures() -> list[bytes]:
    return [p.read_bytes() for p in sorted(FIXTURES.glob("srt_*.bin"))]


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
        hs = parse_handshake(fixture(path))
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
    induction = fixture("srt_induction_request.bin")
    plain = fixture("srt_conclusion_request_sid.bin")
    encrypted = fixture("srt_conclusion_request_kmreq.bin")
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


TARGETS: tuple[FuzzTarget, ...] = (
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
)
"""The SRT targets, in the order ``python -m fuzz --list`` shows them."""


def established_isn() -> int:
    """The first sequence number of the established target's sender (deterministic: seeded rng), so
    structured tests can aim ranges at, near and far from what the connection holds."""
    return _Pair(encrypted=False).isn
