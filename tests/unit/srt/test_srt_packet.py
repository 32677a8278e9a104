"""Packet codecs: golden captures from libsrt both ways, truncated prefixes, hypothesis round trips."""

from __future__ import annotations

import contextlib
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaplane.srt import ParseError
from mediaplane.srt.handshake import (
    SRT_MAGIC_CODE,
    ExtensionFlag,
    Handshake,
    HandshakeType,
    SrtFlag,
    SrtHandshakeExtension,
    decode_peer_ip,
    encode_peer_ip,
    parse_handshake,
)
from mediaplane.srt.packet import (
    Ack,
    AckAck,
    AckKind,
    DataPacket,
    DropRequest,
    Keepalive,
    KeyFlag,
    KeyMaterialPacket,
    Nak,
    PacketPosition,
    PeerError,
    Shutdown,
    UserSubtype,
    parse_control,
    parse_data,
)

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"srt_{name}.bin").read_bytes()


HANDSHAKES = [
    "induction_request",
    "induction_response",
    "conclusion_request_sid",
    "conclusion_response",
    "conclusion_request_kmreq",
    "conclusion_response_kmrsp",
]
CONTROLS = ["ack_full", "ackack", "shutdown", "nak_single", "nak_range"]
DATA = ["data_plain", "data_encrypted", "data_retransmitted"]


@pytest.mark.parametrize("name", HANDSHAKES)
def test_handshake_golden_both_ways(name: str) -> None:
    wire = fixture(name)
    hs = parse_handshake(wire)
    assert hs.encode() == wire
    assert parse_handshake(hs.encode()) == hs


def test_induction_request_fields() -> None:
    hs = parse_handshake(fixture("induction_request"))
    assert hs.version == 4 and hs.extension_field == 2 and hs.encryption == 0
    assert hs.handshake_type == HandshakeType.INDUCTION
    assert hs.syn_cookie == 0 and hs.dest_socket_id == 0
    assert hs.mtu == 1500 and hs.flow_window == 8192
    assert decode_peer_ip(hs.peer_ip) == "127.0.0.1"
    assert hs.peer_ip == encode_peer_ip("127.0.0.1")


def test_induction_response_fields() -> None:
    req = parse_handshake(fixture("induction_request"))
    hs = parse_handshake(fixture("induction_response"))
    assert hs.version == 5 and hs.extension_field == SRT_MAGIC_CODE
    assert hs.syn_cookie != 0
    assert hs.initial_seq == req.initial_seq
    assert hs.dest_socket_id == req.socket_id


def test_conclusion_with_stream_id_and_hsreq() -> None:
    hs = parse_handshake(fixture("conclusion_request_sid"))
    assert hs.handshake_type == HandshakeType.CONCLUSION
    assert hs.extension_field == ExtensionFlag.HSREQ | ExtensionFlag.CONFIG
    assert hs.stream_id == "#!::r=live/abc,m=publish"
    assert hs.hsreq == SrtHandshakeExtension(
        version=0x010507, flags=SrtFlag(0xBF), recv_tsbpd_delay_ms=120, send_tsbpd_delay_ms=120
    )
    assert hs.kmreq is None


def test_conclusion_with_kmreq_and_kmrsp() -> None:
    req = parse_handshake(fixture("conclusion_request_kmreq"))
    rsp = parse_handshake(fixture("conclusion_response_kmrsp"))
    assert req.encryption == 2  # AES-128 advertised
    assert req.extension_field == ExtensionFlag.HSREQ | ExtensionFlag.KMREQ | ExtensionFlag.CONFIG
    assert req.kmreq is not None and req.kmreq[0] == 0x12
    assert rsp.kmrsp == req.kmreq  # libsrt echoes the KM message on success
    assert rsp.hsrsp is not None and rsp.hsrsp.recv_tsbpd_delay_ms == 120


def test_rejection_round_trip() -> None:
    hs = Handshake(handshake_type=1000 + 10, socket_id=5)
    assert parse_handshake(hs.encode()).reject_reason == 10
    assert Handshake(handshake_type=HandshakeType.CONCLUSION).reject_reason is None


@pytest.mark.parametrize("name", CONTROLS)
def test_control_golden_both_ways(name: str) -> None:
    wire = fixture(name)
    pkt = parse_control(wire)
    assert pkt.encode() == wire  # type: ignore[attr-defined]


def test_ack_fields() -> None:
    ack = parse_control(fixture("ack_full"))
    assert isinstance(ack, Ack) and ack.kind is AckKind.FULL
    assert ack.ack_number == 1 and ack.rtt_us == 100_000 and ack.rtt_var_us == 50_000
    assert ack.available_buffer == 8190


def test_nak_fields() -> None:
    single = parse_control(fixture("nak_single"))
    ranged = parse_control(fixture("nak_range"))
    assert isinstance(single, Nak) and len(single.losses) == 1 and single.losses[0][0] == single.losses[0][1]
    assert isinstance(ranged, Nak) and ranged.losses[0][1] == ranged.losses[0][0] + 1
    assert ranged.sequence_count() == 2


def test_ackack_and_shutdown() -> None:
    assert isinstance(parse_control(fixture("ackack")), AckAck)
    assert isinstance(parse_control(fixture("shutdown")), Shutdown)


@pytest.mark.parametrize("name", DATA)
def test_data_golden_both_ways(name: str) -> None:
    wire = fixture(name)
    pkt = parse_data(wire)
    assert pkt.encode() == wire
    assert pkt.position is PacketPosition.SOLO and pkt.in_order
    assert len(pkt.payload) == 1316


def test_data_flags() -> None:
    assert parse_data(fixture("data_plain")).key is KeyFlag.NONE
    enc = parse_data(fixture("data_encrypted"))
    assert enc.key is KeyFlag.EVEN and not enc.retransmitted
    assert parse_data(fixture("data_retransmitted")).retransmitted


@pytest.mark.parametrize("name", HANDSHAKES)
def test_truncated_handshakes_raise_parse_error(name: str) -> None:
    wire = fixture(name)
    for n in range(len(wire)):
        prefix = wire[:n]
        if n >= 64 and (n - 64) % 4 == 0 and _extensions_complete(wire, n):
            parse_handshake(prefix)  # a prefix ending on a block boundary is a valid shorter handshake
            continue
        with pytest.raises(ParseError):
            parse_handshake(prefix)


def _extensions_complete(wire: bytes, n: int) -> bool:
    off = 64
    while off < n:
        words = int.from_bytes(wire[off + 2 : off + 4], "big") if off + 4 <= n else 10**9
        off += 4 + 4 * words
    return off == n


@pytest.mark.parametrize("name", CONTROLS)
def test_truncated_controls(name: str) -> None:
    wire = fixture(name)
    for n in range(16):
        with pytest.raises(ParseError, match="truncated header"):
            parse_control(wire[:n])


def test_truncated_messages_are_stable() -> None:
    with pytest.raises(ParseError, match=r"^truncated ACK$"):
        parse_control(fixture("ack_full")[:18])
    with pytest.raises(ParseError, match=r"^empty NAK$"):
        parse_control(fixture("nak_single")[:16])
    with pytest.raises(ParseError, match=r"^truncated NAK range$"):
        parse_control(fixture("nak_range")[:20])
    with pytest.raises(ParseError, match=r"^truncated handshake$"):
        parse_handshake(fixture("induction_request")[:40])
    with pytest.raises(ParseError, match=r"^truncated header$"):
        parse_data(b"\x00" * 15)


seqs = st.integers(0, 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)


@given(
    seq=seqs,
    msgno=st.integers(0, 2**26 - 1),
    ts=u32,
    dst=u32,
    payload=st.binary(max_size=1456),
    pos=st.sampled_from(PacketPosition),
    key=st.sampled_from(KeyFlag),
    rexmit=st.booleans(),
    in_order=st.booleans(),
)
def test_data_round_trip(
    seq: int,
    msgno: int,
    ts: int,
    dst: int,
    payload: bytes,
    pos: PacketPosition,
    key: KeyFlag,
    rexmit: bool,
    in_order: bool,
) -> None:
    pkt = DataPacket(
        seq=seq,
        msgno=msgno,
        timestamp=ts,
        dest_socket_id=dst,
        payload=payload,
        position=pos,
        key=key,
        retransmitted=rexmit,
        in_order=in_order,
    )
    assert parse_data(pkt.encode()) == pkt


@given(
    ack_no=st.integers(0, 2**31 - 1),
    last=seqs,
    vals=st.lists(u32, min_size=6, max_size=6),
    kind=st.sampled_from(AckKind),
    ts=u32,
    dst=u32,
)
def test_ack_round_trip(ack_no: int, last: int, vals: list[int], kind: AckKind, ts: int, dst: int) -> None:
    if kind is AckKind.LIGHT:
        vals = [0] * 6
    elif kind is AckKind.SMALL:
        vals = [*vals[:3], 0, 0, 0]
    ack = Ack(
        timestamp=ts,
        dest_socket_id=dst,
        ack_number=ack_no,
        last_ack_seq=last,
        rtt_us=vals[0],
        rtt_var_us=vals[1],
        available_buffer=vals[2],
        packet_rate=vals[3],
        link_capacity=vals[4],
        receive_rate_bps=vals[5],
        kind=kind,
    )
    assert parse_control(ack.encode()) == ack


@given(ranges=st.lists(st.tuples(seqs, st.integers(0, 100)), min_size=1, max_size=50), ts=u32)
def test_nak_round_trip(ranges: list[tuple[int, int]], ts: int) -> None:
    losses = tuple((a, (a + n) & 0x7FFFFFFF) for a, n in ranges)
    nak = Nak(timestamp=ts, dest_socket_id=9, losses=losses)
    assert parse_control(nak.encode()) == nak


@given(msgno=st.integers(0, 2**26 - 1), first=seqs, last=seqs, ts=u32)
def test_other_controls_round_trip(msgno: int, first: int, last: int, ts: int) -> None:
    for pkt in (
        DropRequest(timestamp=ts, dest_socket_id=3, msgno=msgno, first_seq=first, last_seq=last),
        AckAck(timestamp=ts, dest_socket_id=3, ack_number=msgno),
        Keepalive(timestamp=ts, dest_socket_id=3),
        Shutdown(timestamp=ts, dest_socket_id=3),
        PeerError(timestamp=ts, dest_socket_id=3, error_code=msgno),
        KeyMaterialPacket(
            timestamp=ts, dest_socket_id=3, subtype=UserSubtype.KMRSP, body=b"\x00\x00\x00\x04"
        ),
    ):
        assert parse_control(pkt.encode()) == pkt


@given(
    version=st.sampled_from([4, 5]),
    enc=st.integers(0, 0xFFFF),
    ext=st.integers(0, 0xFFFF),
    isn=seqs,
    hs_type=st.sampled_from([1, 0xFFFFFFFF, 1010, 2403]),
    sock=u32,
    cookie=u32,
    sid=st.one_of(st.none(), st.text(max_size=100).filter(lambda s: "\x00" not in s)),
    hsreq=st.one_of(
        st.none(),
        st.builds(
            SrtHandshakeExtension,
            recv_tsbpd_delay_ms=st.integers(0, 0xFFFF),
            send_tsbpd_delay_ms=st.integers(0, 0xFFFF),
        ),
    ),
    km=st.one_of(st.none(), st.binary(min_size=4, max_size=64).map(lambda b: b + b"\x01" * (-len(b) % 4))),
)
def test_handshake_round_trip(
    version: int,
    enc: int,
    ext: int,
    isn: int,
    hs_type: int,
    sock: int,
    cookie: int,
    sid: str | None,
    hsreq: SrtHandshakeExtension | None,
    km: bytes | None,
) -> None:
    if version == 4:
        sid, hsreq, km = None, None, None
    hs = Handshake(
        version=version,
        encryption=enc,
        extension_field=ext,
        initial_seq=isn,
        handshake_type=hs_type,
        socket_id=sock,
        syn_cookie=cookie,
        stream_id=sid,
        hsreq=hsreq,
        kmreq=km,
        peer_ip=encode_peer_ip("10.1.2.3"),
    )
    assert parse_handshake(hs.encode()) == hs


@given(data=st.binary(max_size=200))
def test_garbage_never_raises_anything_but_parse_error(data: bytes) -> None:
    for parser in (parse_control, parse_data, parse_handshake):
        with contextlib.suppress(ParseError):
            parser(data)
