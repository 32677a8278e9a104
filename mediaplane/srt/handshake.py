"""The SRT handshake control packet (HSv4 induction, HSv5 everything else) and its extensions.

draft-sharabayko-srt section 3.2.1. libsrt quirks worth knowing:

* the peer IP address and string extensions (stream id, congestion) are sent as 32-bit words in host
  order converted with ``htonl``, so every 4-byte group of the text appears reversed on the wire;
* the key-material extension is already in network order and is sent as is;
* a rejection is a handshake whose type is ``1000 + reason``.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass, field

from .errors import REJECT_WIRE_BASE, ParseError
from .packet import CONTROL_FLAG, HEADER_SIZE, ControlHeader, ControlType

_CIF = struct.Struct(">IHHIIIIII16s")
CIF_SIZE = _CIF.size  # 48
HANDSHAKE_PACKET_SIZE = HEADER_SIZE + CIF_SIZE

HS_VERSION_UDT4 = 4
"""Version of a caller's induction request (the HSv4 shape every HSv5 caller starts with)."""
HS_VERSION_SRT1 = 5
SRT_MAGIC_CODE = 0x4A17
"""Extension field of the listener's induction response: "I speak HSv5"."""
UDT_DGRAM = 2
"""Extension field of the induction request (the HSv4 socket type)."""
SRT_VERSION = 0x010507
"""The SRT version we announce in HSREQ / HSRSP (libsrt 1.5.7 wire behaviour)."""
MAX_STREAMID_BYTES = 512


class HandshakeType(enum.IntEnum):
    DONE = 0xFFFFFFFD
    AGREEMENT = 0xFFFFFFFE
    CONCLUSION = 0xFFFFFFFF
    WAVEAHAND = 0x00000000
    INDUCTION = 0x00000001


class ExtensionFlag(enum.IntFlag):
    """Extension field of an HSv5 conclusion: which extension blocks follow."""

    HSREQ = 0x1
    KMREQ = 0x2
    CONFIG = 0x4


class ExtensionType(enum.IntEnum):
    """``SRT_CMD_*`` extension block types."""

    HSREQ = 1
    HSRSP = 2
    KMREQ = 3
    KMRSP = 4
    SID = 5
    CONGESTION = 6
    FILTER = 7
    GROUP = 8


class SrtFlag(enum.IntFlag):
    """``SRT_OPT_*`` capability flags of HSREQ / HSRSP."""

    TSBPDSND = 0x01
    TSBPDRCV = 0x02
    CRYPT = 0x04
    TLPKTDROP = 0x08
    NAKREPORT = 0x10
    REXMITFLG = 0x20
    STREAM = 0x40
    PACKET_FILTER = 0x80


LIVE_FLAGS = (
    SrtFlag.TSBPDSND
    | SrtFlag.TSBPDRCV
    | SrtFlag.CRYPT
    | SrtFlag.TLPKTDROP
    | SrtFlag.NAKREPORT
    | SrtFlag.REXMITFLG
    | SrtFlag.PACKET_FILTER
)
"""What libsrt 1.5 announces in live mode (0xBF in captures)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SrtHandshakeExtension:
    """HSREQ / HSRSP: SRT version, capability flags and both TSBPD delays in milliseconds."""

    version: int = SRT_VERSION
    flags: SrtFlag = LIVE_FLAGS
    recv_tsbpd_delay_ms: int = 120
    """Latency this side wants as a receiver."""
    send_tsbpd_delay_ms: int = 120
    """Latency this side proposes for the peer's receiver."""

    def encode(self) -> bytes:
        return struct.pack(
            ">III",
            self.version,
            int(self.flags),
            ((self.recv_tsbpd_delay_ms & 0xFFFF) << 16) | (self.send_tsbpd_delay_ms & 0xFFFF),
        )

    @classmethod
    def decode(cls, body: bytes) -> SrtHandshakeExtension:
        if len(body) < 12:
            raise ParseError("truncated HSREQ")
        version, flags, delays = struct.unpack_from(">III", body)
        return cls(
            version=version,
            flags=SrtFlag(flags & 0xFF),
            recv_tsbpd_delay_ms=delays >> 16,
            send_tsbpd_delay_ms=delays & 0xFFFF,
        )


def _swap_words(data: bytes) -> bytes:
    """Reverse every 4-byte group (libsrt's htonl over host-order words)."""
    n = len(data) // 4
    return struct.pack(f">{n}I", *struct.unpack(f"<{n}I", data)) if n else b""


def encode_string_extension(text: str) -> bytes:
    raw = text.encode("utf-8")
    raw += b"\x00" * (-len(raw) % 4)
    return _swap_words(raw)


def decode_string_extension(body: bytes) -> str:
    raw = _swap_words(body[: len(body) - len(body) % 4])
    try:
        return raw.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("stream id is not UTF-8") from exc


def encode_peer_ip(host: str) -> bytes:
    """The 16-byte peer-address field for ``host`` (IPv4 in the first word), libsrt word order."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return b"\x00" * 16
    raw = addr.packed.ljust(16, b"\x00")
    return _swap_words(raw)


def decode_peer_ip(field16: bytes) -> str:
    raw = _swap_words(field16)
    if raw[4:] == b"\x00" * 12:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class Handshake(ControlHeader):
    """One handshake packet: the 48-byte CIF plus HSv5 extension blocks."""

    version: int = HS_VERSION_SRT1
    encryption: int = 0
    """Encryption field: 0, or the key length in bytes / 8 (2, 3, 4)."""
    extension_field: int = 0
    """UDT_DGRAM (induction request), SRT_MAGIC_CODE (induction response) or ExtensionFlag bits."""
    initial_seq: int = 0
    mtu: int = 1500
    flow_window: int = 8192
    handshake_type: int = HandshakeType.INDUCTION
    socket_id: int = 0
    syn_cookie: int = 0
    peer_ip: bytes = b"\x00" * 16
    hsreq: SrtHandshakeExtension | None = None
    hsrsp: SrtHandshakeExtension | None = None
    kmreq: bytes | None = None
    kmrsp: bytes | None = None
    stream_id: str | None = None
    congestion: str | None = None
    other_extensions: tuple[tuple[int, bytes], ...] = field(default_factory=tuple)

    @property
    def is_rejection(self) -> bool:
        return REJECT_WIRE_BASE <= self.handshake_type < 0xFFFFFF00

    @property
    def reject_reason(self) -> int | None:
        """The ``SRT_REJ_*`` / ``SRT_REJX_*`` code when this handshake is a rejection."""
        return self.handshake_type - REJECT_WIRE_BASE if self.is_rejection else None

    def encode(self) -> bytes:
        head = struct.pack(
            ">IIII", CONTROL_FLAG | (ControlType.HANDSHAKE << 16), 0, self.timestamp, self.dest_socket_id
        )
        cif = _CIF.pack(
            self.version,
            self.encryption,
            self.extension_field,
            self.initial_seq,
            self.mtu,
            self.flow_window,
            self.handshake_type & 0xFFFFFFFF,
            self.socket_id,
            self.syn_cookie,
            self.peer_ip,
        )
        parts = [head, cif]
        for ext_type, body in self._extension_blocks():
            parts.append(struct.pack(">HH", ext_type, len(body) // 4))
            parts.append(body)
        return b"".join(parts)

    def _extension_blocks(self) -> list[tuple[int, bytes]]:
        blocks: list[tuple[int, bytes]] = []
        if self.hsreq is not None:
            blocks.append((ExtensionType.HSREQ, self.hsreq.encode()))
        if self.hsrsp is not None:
            blocks.append((ExtensionType.HSRSP, self.hsrsp.encode()))
        # libsrt's order: HSREQ/HSRSP, stream id, congestion, then key material.
        if self.stream_id is not None:
            blocks.append((ExtensionType.SID, encode_string_extension(self.stream_id)))
        if self.congestion is not None:
            blocks.append((ExtensionType.CONGESTION, encode_string_extension(self.congestion)))
        if self.kmreq is not None:
            blocks.append((ExtensionType.KMREQ, _pad4(self.kmreq)))
        if self.kmrsp is not None:
            blocks.append((ExtensionType.KMRSP, _pad4(self.kmrsp)))
        blocks.extend((t, _pad4(b)) for t, b in self.other_extensions)
        return blocks

    def __bytes__(self) -> bytes:
        return self.encode()

    def __repr__(self) -> str:
        try:
            kind = HandshakeType(self.handshake_type).name
        except ValueError:
            kind = f"REJECT({self.reject_reason})" if self.is_rejection else hex(self.handshake_type)
        return (
            f"<Handshake v{self.version} {kind} sock={self.socket_id:#x} cookie={self.syn_cookie:#x} "
            f"isn={self.initial_seq} ext={self.extension_field:#x} enc={self.encryption}"
            f"{' sid=' + repr(self.stream_id) if self.stream_id is not None else ''}>"
        )


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def parse_handshake(data: bytes) -> Handshake:
    """Decode a handshake control packet. Raises ParseError."""
    if len(data) < HEADER_SIZE:
        raise ParseError("truncated header")
    w0, _, ts, dst = struct.unpack_from(">IIII", data)
    if not w0 & CONTROL_FLAG or (w0 >> 16) & 0x7FFF != ControlType.HANDSHAKE:
        raise ParseError("not a handshake")
    if len(data) < HANDSHAKE_PACKET_SIZE:
        raise ParseError("truncated handshake")
    (version, encryption, ext_field, isn, mtu, window, hs_type, sock, cookie, peer_ip) = _CIF.unpack_from(
        data, HEADER_SIZE
    )
    values: dict[str, object] = {}
    others: list[tuple[int, bytes]] = []
    off = HANDSHAKE_PACKET_SIZE
    end = len(data)
    if version >= HS_VERSION_SRT1:
        while off + 4 <= end:
            ext_type, words = struct.unpack_from(">HH", data, off)
            off += 4
            size = words * 4
            if off + size > end:
                raise ParseError("truncated handshake extension")
            body = bytes(data[off : off + size])
            off += size
            if ext_type == ExtensionType.HSREQ:
                values["hsreq"] = SrtHandshakeExtension.decode(body)
            elif ext_type == ExtensionType.HSRSP:
                values["hsrsp"] = SrtHandshakeExtension.decode(body)
            elif ext_type == ExtensionType.KMREQ:
                values["kmreq"] = body
            elif ext_type == ExtensionType.KMRSP:
                values["kmrsp"] = body
            elif ext_type == ExtensionType.SID:
                if size > MAX_STREAMID_BYTES:
                    raise ParseError("stream id too long")
                values["stream_id"] = decode_string_extension(body)
            elif ext_type == ExtensionType.CONGESTION:
                values["congestion"] = decode_string_extension(body)
            else:
                others.append((ext_type, body))
        if off != end:
            raise ParseError("truncated handshake extension")
    return Handshake(
        timestamp=ts,
        dest_socket_id=dst,
        version=version,
        encryption=encryption,
        extension_field=ext_field,
        initial_seq=isn & 0x7FFFFFFF,
        mtu=mtu,
        flow_window=window,
        handshake_type=hs_type,
        socket_id=sock,
        syn_cookie=cookie,
        peer_ip=peer_ip,
        other_extensions=tuple(others),
        **values,  # type: ignore[arg-type]
    )


def make_rejection(hs: Handshake, reason: int, *, socket_id: int = 0, timestamp: int = 0) -> bytes:
    """A handshake refusing ``hs`` with ``reason`` (the wire carries ``1000 + reason``)."""
    return Handshake(
        timestamp=timestamp,
        dest_socket_id=hs.socket_id,
        version=HS_VERSION_SRT1,
        encryption=0,
        extension_field=0,
        initial_seq=hs.initial_seq,
        mtu=hs.mtu,
        flow_window=hs.flow_window,
        handshake_type=REJECT_WIRE_BASE + int(reason),
        socket_id=socket_id,
        syn_cookie=hs.syn_cookie,
        peer_ip=hs.peer_ip,
    ).encode()
