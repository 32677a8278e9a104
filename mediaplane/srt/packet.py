"""SRT packets: the 16-byte header, data packets and every control packet type.

draft-sharabayko-srt section 3. Data packets are the hot path: :func:`parse_data` and
:meth:`DataPacket.encode` use one ``struct`` call each. Control packets parse into typed dataclasses;
the handshake's body lives in :mod:`.handshake`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from .errors import ParseError

HEADER_SIZE = 16
"""Bytes of the SRT header (section 3)."""

CONTROL_FLAG = 0x80000000
_HEADER = struct.Struct(">IIII")
_U32 = struct.Struct(">I")

# Data packet word 1 (section 3.1).
POSITION_SHIFT = 30
IN_ORDER_FLAG = 0x20000000
KEY_SHIFT = 27
KEY_MASK = 0x18000000
RETRANSMITTED_FLAG = 0x04000000
MSGNO_MASK = 0x03FFFFFF


class PacketPosition(enum.IntEnum):
    """PP field: where the packet sits in its message."""

    MIDDLE = 0b00
    LAST = 0b01
    FIRST = 0b10
    SOLO = 0b11


class KeyFlag(enum.IntEnum):
    """KK field of a data packet and of a key-material message."""

    NONE = 0b00
    EVEN = 0b01
    ODD = 0b10
    BOTH = 0b11


class ControlType(enum.IntEnum):
    """Control type (section 3.2, table 1)."""

    HANDSHAKE = 0x0000
    KEEPALIVE = 0x0001
    ACK = 0x0002
    NAK = 0x0003
    CONGESTION_WARNING = 0x0004
    SHUTDOWN = 0x0005
    ACKACK = 0x0006
    DROPREQ = 0x0007
    PEERERROR = 0x0008
    USER = 0x7FFF


class UserSubtype(enum.IntEnum):
    """Subtypes of :attr:`ControlType.USER` used by SRT (``SRT_CMD_*``)."""

    KMREQ = 3
    KMRSP = 4


@dataclass(slots=True)
class DataPacket:
    """A data packet; ``payload`` is the (possibly encrypted) bytes after the header."""

    seq: int
    msgno: int
    timestamp: int
    dest_socket_id: int
    payload: bytes
    position: PacketPosition = PacketPosition.SOLO
    in_order: bool = True
    key: KeyFlag = KeyFlag.NONE
    retransmitted: bool = False

    def encode(self) -> bytes:
        w1 = (
            (self.position << POSITION_SHIFT)
            | (IN_ORDER_FLAG if self.in_order else 0)
            | (self.key << KEY_SHIFT)
            | (RETRANSMITTED_FLAG if self.retransmitted else 0)
            | (self.msgno & MSGNO_MASK)
        )
        return _HEADER.pack(self.seq, w1, self.timestamp, self.dest_socket_id) + self.payload

    def __bytes__(self) -> bytes:
        return self.encode()

    def __repr__(self) -> str:
        return (
            f"<DataPacket seq={self.seq} msgno={self.msgno} ts={self.timestamp} {self.position.name}"
            f"{' R' if self.retransmitted else ''} key={self.key.name} {len(self.payload)}B>"
        )


def encode_data_header(seq: int, word1: int, timestamp: int, dest_socket_id: int) -> bytes:
    """Hot path: the 16 header bytes of a data packet whose word 1 is already assembled."""
    return _HEADER.pack(seq, word1, timestamp, dest_socket_id)


def parse_data(data: bytes) -> DataPacket:
    """Decode a data packet. Raises ParseError."""
    if len(data) < HEADER_SIZE:
        raise ParseError("truncated header")
    w0, w1, ts, dst = _HEADER.unpack_from(data)
    if w0 & CONTROL_FLAG:
        raise ParseError("not a data packet")
    return DataPacket(
        seq=w0,
        msgno=w1 & MSGNO_MASK,
        timestamp=ts,
        dest_socket_id=dst,
        payload=bytes(data[HEADER_SIZE:]),
        position=PacketPosition(w1 >> POSITION_SHIFT),
        in_order=bool(w1 & IN_ORDER_FLAG),
        key=KeyFlag((w1 & KEY_MASK) >> KEY_SHIFT),
        retransmitted=bool(w1 & RETRANSMITTED_FLAG),
    )


# -- control packets ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlHeader:
    timestamp: int = 0
    dest_socket_id: int = 0


def _control_header(ctype: int, subtype: int, info: int, timestamp: int, dst: int) -> bytes:
    return _HEADER.pack(CONTROL_FLAG | (ctype << 16) | subtype, info, timestamp, dst)


_EMPTY_BODY = b"\x00\x00\x00\x00"
"""libsrt pads bodiless control packets (ACKACK, SHUTDOWN, KEEPALIVE) with four zero bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Keepalive(ControlHeader):
    def encode(self) -> bytes:
        return _control_header(ControlType.KEEPALIVE, 0, 0, self.timestamp, self.dest_socket_id) + _EMPTY_BODY


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown(ControlHeader):
    def encode(self) -> bytes:
        return _control_header(ControlType.SHUTDOWN, 0, 0, self.timestamp, self.dest_socket_id) + _EMPTY_BODY


class AckKind(enum.Enum):
    """ACK body sizes libsrt sends (section 3.2.4)."""

    FULL = 28
    SMALL = 16
    LIGHT = 4


_ACK_FULL = struct.Struct(">IIIIIII")
_ACK_SMALL = struct.Struct(">IIII")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(ControlHeader):
    """Acknowledges every packet before ``last_ack_seq`` (the next sequence number expected)."""

    ack_number: int
    last_ack_seq: int
    rtt_us: int = 0
    rtt_var_us: int = 0
    available_buffer: int = 0
    packet_rate: int = 0
    """Packets per second the receiver gets."""
    link_capacity: int = 0
    """Estimated link capacity, packets per second."""
    receive_rate_bps: int = 0
    """Bytes per second the receiver gets (despite the name, libsrt counts bytes)."""
    kind: AckKind = AckKind.FULL

    def encode(self) -> bytes:
        head = _control_header(ControlType.ACK, 0, self.ack_number, self.timestamp, self.dest_socket_id)
        if self.kind is AckKind.LIGHT:
            return head + _U32.pack(self.last_ack_seq)
        if self.kind is AckKind.SMALL:
            return head + _ACK_SMALL.pack(
                self.last_ack_seq, self.rtt_us, self.rtt_var_us, self.available_buffer
            )
        return head + _ACK_FULL.pack(
            self.last_ack_seq,
            self.rtt_us,
            self.rtt_var_us,
            self.available_buffer,
            self.packet_rate,
            self.link_capacity,
            self.receive_rate_bps,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AckAck(ControlHeader):
    ack_number: int

    def encode(self) -> bytes:
        return (
            _control_header(ControlType.ACKACK, 0, self.ack_number, self.timestamp, self.dest_socket_id)
            + _EMPTY_BODY
        )


LOSS_RANGE_FLAG = 0x80000000


@dataclass(frozen=True, slots=True, kw_only=True)
class Nak(ControlHeader):
    """Loss report: inclusive ``(first, last)`` ranges (section 3.2.5, appendix A)."""

    losses: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        words: list[int] = []
        for first, last in self.losses:
            if first == last:
                words.append(first)
            else:
                words.append(first | LOSS_RANGE_FLAG)
                words.append(last)
        body = struct.pack(f">{len(words)}I", *words)
        return _control_header(ControlType.NAK, 0, 0, self.timestamp, self.dest_socket_id) + body

    def sequence_count(self) -> int:
        from .circular import seq_diff

        return sum(seq_diff(last, first) + 1 for first, last in self.losses)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropRequest(ControlHeader):
    """The sender gave up on message ``msgno`` spanning ``first_seq..last_seq`` (section 3.2.9)."""

    msgno: int
    first_seq: int
    last_seq: int

    def encode(self) -> bytes:
        return _control_header(
            ControlType.DROPREQ, 0, self.msgno, self.timestamp, self.dest_socket_id
        ) + struct.pack(">II", self.first_seq, self.last_seq)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerError(ControlHeader):
    error_code: int = 0

    def encode(self) -> bytes:
        return (
            _control_header(ControlType.PEERERROR, 0, self.error_code, self.timestamp, self.dest_socket_id)
            + _EMPTY_BODY
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyMaterialPacket(ControlHeader):
    """KMREQ / KMRSP after the handshake (user control type 0x7FFF); ``body`` is the KM message
    (:mod:`.keymaterial`) or, in a failing KMRSP, one 32-bit ``SRT_KM_S_*`` state."""

    subtype: UserSubtype
    body: bytes

    def encode(self) -> bytes:
        return (
            _control_header(ControlType.USER, self.subtype, 0, self.timestamp, self.dest_socket_id)
            + self.body
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownControl(ControlHeader):
    """A control packet we do not act upon (congestion warning, unknown user subtype)."""

    control_type: int
    subtype: int
    type_info: int
    body: bytes

    def encode(self) -> bytes:
        return (
            _control_header(
                self.control_type, self.subtype, self.type_info, self.timestamp, self.dest_socket_id
            )
            + self.body
        )


def parse_control(data: bytes) -> ControlHeader:
    """Decode a control packet other than the handshake (whose parser is
    :func:`mediaplane.srt.handshake.parse_handshake`). Raises ParseError."""
    if len(data) < HEADER_SIZE:
        raise ParseError("truncated header")
    w0, info, ts, dst = _HEADER.unpack_from(data)
    if not w0 & CONTROL_FLAG:
        raise ParseError("not a control packet")
    ctype = (w0 >> 16) & 0x7FFF
    subtype = w0 & 0xFFFF
    body = data[HEADER_SIZE:]
    if ctype == ControlType.ACK:
        n = len(body)
        if n >= 28:
            v = _ACK_FULL.unpack_from(body)
            return Ack(
                timestamp=ts, dest_socket_id=dst, ack_number=info, last_ack_seq=v[0], rtt_us=v[1],
                rtt_var_us=v[2], available_buffer=v[3], packet_rate=v[4], link_capacity=v[5],
                receive_rate_bps=v[6], kind=AckKind.FULL,
            )  # fmt: skip
        if n >= 16:
            v = _ACK_SMALL.unpack_from(body)
            return Ack(
                timestamp=ts, dest_socket_id=dst, ack_number=info, last_ack_seq=v[0], rtt_us=v[1],
                rtt_var_us=v[2], available_buffer=v[3], kind=AckKind.SMALL,
            )  # fmt: skip
        if n >= 4:
            return Ack(
                timestamp=ts, dest_socket_id=dst, ack_number=info,
                last_ack_seq=_U32.unpack_from(body)[0], kind=AckKind.LIGHT,
            )  # fmt: skip
        raise ParseError("truncated ACK")
    if ctype == ControlType.ACKACK:
        return AckAck(timestamp=ts, dest_socket_id=dst, ack_number=info)
    if ctype == ControlType.NAK:
        return Nak(timestamp=ts, dest_socket_id=dst, losses=_parse_loss_list(body))
    if ctype == ControlType.KEEPALIVE:
        return Keepalive(timestamp=ts, dest_socket_id=dst)
    if ctype == ControlType.SHUTDOWN:
        return Shutdown(timestamp=ts, dest_socket_id=dst)
    if ctype == ControlType.DROPREQ:
        if len(body) < 8:
            raise ParseError("truncated DROPREQ")
        first, last = struct.unpack_from(">II", body)
        return DropRequest(
            timestamp=ts, dest_socket_id=dst, msgno=info & MSGNO_MASK,
            first_seq=first & 0x7FFFFFFF, last_seq=last & 0x7FFFFFFF,
        )  # fmt: skip
    if ctype == ControlType.PEERERROR:
        return PeerError(timestamp=ts, dest_socket_id=dst, error_code=info)
    if ctype == ControlType.USER and subtype in (UserSubtype.KMREQ, UserSubtype.KMRSP):
        if len(body) < 4:
            raise ParseError("truncated key material")
        return KeyMaterialPacket(
            timestamp=ts, dest_socket_id=dst, subtype=UserSubtype(subtype), body=bytes(body)
        )
    if ctype == ControlType.HANDSHAKE:
        raise ParseError("handshake goes through parse_handshake")
    return UnknownControl(
        timestamp=ts,
        dest_socket_id=dst,
        control_type=ctype,
        subtype=subtype,
        type_info=info,
        body=bytes(body),
    )


def _parse_loss_list(body: bytes) -> tuple[tuple[int, int], ...]:
    n = len(body) // 4
    if n == 0:
        raise ParseError("empty NAK")
    words = struct.unpack_from(f">{n}I", body)
    out: list[tuple[int, int]] = []
    i = 0
    while i < n:
        w = words[i]
        if w & LOSS_RANGE_FLAG:
            if i + 1 >= n:
                raise ParseError("truncated NAK range")
            out.append((w & 0x7FFFFFFF, words[i + 1] & 0x7FFFFFFF))
            i += 2
        else:
            out.append((w, w))
            i += 1
    return tuple(out)


def peek_header(data: bytes) -> tuple[bool, int, int]:
    """``(is_control, control_type, dest_socket_id)`` of a datagram. Raises ParseError."""
    if len(data) < HEADER_SIZE:
        raise ParseError("truncated header")
    w0, _, _, dst = _HEADER.unpack_from(data)
    if w0 & CONTROL_FLAG:
        return True, (w0 >> 16) & 0x7FFF, dst
    return False, -1, dst
