"""The RTMP handshake, both roles, sans-IO.

Two dialects share the wire format (C0/S0 one version byte, C1/S1/C2/S2 of 1536 bytes):

* the simple handshake of the RTMP specification (section 5.2): S2 echoes C1 and C2 echoes S1;
* the digest ("FP9") handshake of Flash Player 9 and later, which librtmp (OBS) insists on: C1 and S1
  hide an HMAC-SHA256 digest at an offset derived from four bytes of the packet, and S2/C2 end with
  an HMAC keyed by the digest of the peer's packet.

The server answers whichever dialect the client spoke (a C1 whose version field is zero, or whose
digest does not verify, gets the simple answer). The client always offers a digest C1 and answers S1
with a digest C2 when S1 carries a valid server digest, otherwise with an echo.

Randomness comes from an injected :class:`random.Random`; the handshake's time field is zero (no clock
in a core).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import random
import struct

from .errors import LocalProtocolError, ParseError

logger = logging.getLogger(__name__)

__all__ = [
    "HANDSHAKE_PACKET_BYTES",
    "RTMP_VERSION",
    "ClientHandshake",
    "HandshakeState",
    "ServerHandshake",
    "find_digest",
    "make_digest_packet",
]

RTMP_VERSION = 3
"""C0/S0 version byte of plain RTMP."""
HANDSHAKE_PACKET_BYTES = 1536
"""Size of C1, S1, C2 and S2."""
DIGEST_BYTES = 32
"""HMAC-SHA256 output size."""
CLIENT_VERSION = 0x80000702
"""Flash-player version field we put in C1 (the one ffmpeg uses); non-zero means "digest handshake"."""
SERVER_VERSION = 0x04050001
"""Server version field we put in S1 for the digest handshake (the FMS 4.5 style nginx-rtmp uses)."""

_RANDOM_CRUD = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FP_KEY = b"Genuine Adobe Flash Player 001" + _RANDOM_CRUD
"""The client key: its first 30 bytes sign C1; all 62 key the C2 signature."""
FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _RANDOM_CRUD
"""The server key: its first 36 bytes sign S1; all 68 key the S2 signature."""
FP_KEY_PARTIAL = FP_KEY[:30]
FMS_KEY_PARTIAL = FMS_KEY[:36]

DIGEST_SCHEME_BASES = (8, 772)
"""Where the four offset bytes sit for the two digest schemes (scheme 0 and scheme 1)."""
_DIGEST_OFFSET_MODULUS = 728


def _digest_offset(packet: bytes, base: int) -> int:
    return (sum(packet[base : base + 4]) % _DIGEST_OFFSET_MODULUS) + base + 4


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def find_digest(packet: bytes, key: bytes) -> tuple[int, bytes] | None:
    """The (offset, digest) of a valid digest in a C1/S1 signed with ``key``, trying both schemes."""
    for base in DIGEST_SCHEME_BASES:
        offset = _digest_offset(packet, base)
        digest = packet[offset : offset + DIGEST_BYTES]
        expected = _hmac(key, packet[:offset] + packet[offset + DIGEST_BYTES :])
        if hmac.compare_digest(digest, expected):
            return offset, digest
    return None


def make_digest_packet(rng: random.Random, version: int, key: bytes, scheme_base: int = 8) -> bytes:
    """A C1 or S1 (time 0, ``version``) carrying a digest signed with ``key`` at ``scheme_base``."""
    body = bytearray(struct.pack(">II", 0, version) + rng.randbytes(HANDSHAKE_PACKET_BYTES - 8))
    offset = _digest_offset(bytes(body), scheme_base)
    digest = _hmac(key, bytes(body[:offset] + body[offset + DIGEST_BYTES :]))
    body[offset : offset + DIGEST_BYTES] = digest
    return bytes(body)


def _signed_response(rng: random.Random, key: bytes, peer_digest: bytes) -> bytes:
    """S2 or C2 of the digest handshake: random bytes ending with HMAC(HMAC(key, peer digest), them)."""
    body = rng.randbytes(HANDSHAKE_PACKET_BYTES - DIGEST_BYTES)
    return body + _hmac(_hmac(key, peer_digest), body)


class HandshakeState(enum.Enum):
    WAIT_C0C1 = "wait_c0c1"
    WAIT_C2 = "wait_c2"
    WAIT_S0S1S2 = "wait_s0s1s2"
    DONE = "done"


class HandshakeInput(enum.Enum):
    """What moves a handshake on: a complete packet from the peer (section 5.2.5)."""

    C0C1_RECEIVED = "c0c1_received"
    C2_RECEIVED = "c2_received"
    S0S1S2_RECEIVED = "s0s1s2_received"


HANDSHAKE_TRANSITIONS: dict[tuple[HandshakeState, HandshakeInput], HandshakeState] = {
    (HandshakeState.WAIT_C0C1, HandshakeInput.C0C1_RECEIVED): HandshakeState.WAIT_C2,
    (HandshakeState.WAIT_C2, HandshakeInput.C2_RECEIVED): HandshakeState.DONE,
    (HandshakeState.WAIT_S0S1S2, HandshakeInput.S0S1S2_RECEIVED): HandshakeState.DONE,
}
"""Both roles' handshake state machine (the server starts at WAIT_C0C1, the client at WAIT_S0S1S2)."""


class _HandshakeStates:
    """The one place a handshake changes state."""

    state: HandshakeState

    def _set_state(self, event: HandshakeInput) -> None:
        new = HANDSHAKE_TRANSITIONS.get((self.state, event))
        if new is None:
            raise LocalProtocolError(f"unexpected {event.value} in handshake state {self.state.value}")
        logger.debug("handshake %s -> %s", self.state.value, new.value)
        self.state = new


class ServerHandshake(_HandshakeStates):
    """Server side: consume C0+C1 then C2; produce S0+S1+S2 as soon as C1 is complete.

    ``receive_data`` returns the bytes to send, and leaves any bytes past C2 in :attr:`leftover`
    (they are the first RTMP chunks).
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._buffer = bytearray()
        self.state = HandshakeState.WAIT_C0C1
        self.digest_used = False
        """True when the client spoke the digest (FP9) handshake."""
        self.leftover = b""

    @property
    def done(self) -> bool:
        return self.state is HandshakeState.DONE

    def receive_data(self, data: bytes) -> bytes:
        """Feed client bytes; returns S0+S1+S2 once C0+C1 is complete, else b"".

        Raises :class:`ParseError` ``"unsupported RTMP version N"`` for a C0 other than 3 (or 6, the
        encrypted RTMPE byte, which we do not speak either) and :class:`LocalProtocolError` after DONE.
        """
        if self.state is HandshakeState.DONE:
            raise LocalProtocolError("handshake already complete")
        self._buffer += data
        out = b""
        if self.state is HandshakeState.WAIT_C0C1:
            if self._buffer and self._buffer[0] != RTMP_VERSION:
                raise ParseError(f"unsupported RTMP version {self._buffer[0]}")
            if len(self._buffer) < 1 + HANDSHAKE_PACKET_BYTES:
                return b""
            c1 = bytes(self._buffer[1 : 1 + HANDSHAKE_PACKET_BYTES])
            del self._buffer[: 1 + HANDSHAKE_PACKET_BYTES]
            out = bytes([RTMP_VERSION]) + self._answer(c1)
            self._set_state(HandshakeInput.C0C1_RECEIVED)
        if self.state is HandshakeState.WAIT_C2 and len(self._buffer) >= HANDSHAKE_PACKET_BYTES:
            # C2 is not checked: ffmpeg, nginx-rtmp and librtmp do not sign it consistently.
            self.leftover = bytes(self._buffer[HANDSHAKE_PACKET_BYTES:])
            self._buffer.clear()
            self._set_state(HandshakeInput.C2_RECEIVED)
        return out

    def _answer(self, c1: bytes) -> bytes:
        client_version = struct.unpack_from(">I", c1, 4)[0]
        found = find_digest(c1, FP_KEY_PARTIAL) if client_version else None
        if found is None:
            self.digest_used = False
            s1 = bytes(8) + self._rng.randbytes(HANDSHAKE_PACKET_BYTES - 8)
            return s1 + c1
        self.digest_used = True
        offset, client_digest = found
        scheme_base = 8 if offset < DIGEST_SCHEME_BASES[1] else DIGEST_SCHEME_BASES[1]
        s1 = make_digest_packet(self._rng, SERVER_VERSION, FMS_KEY_PARTIAL, scheme_base)
        return s1 + _signed_response(self._rng, FMS_KEY, client_digest)


class ClientHandshake(_HandshakeStates):
    """Client side: :meth:`initiate` gives C0+C1; feeding S0+S1+S2 gives C2.

    Bytes past S2 are kept in :attr:`leftover`.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._buffer = bytearray()
        self.state = HandshakeState.WAIT_S0S1S2
        self._c1 = b""
        self.server_digest_valid = False
        self.leftover = b""

    @property
    def done(self) -> bool:
        return self.state is HandshakeState.DONE

    def initiate(self) -> bytes:
        """C0 and a digest-signed C1."""
        if self._c1:
            raise LocalProtocolError("handshake already initiated")
        self._c1 = make_digest_packet(self._rng, CLIENT_VERSION, FP_KEY_PARTIAL)
        return bytes([RTMP_VERSION]) + self._c1

    def receive_data(self, data: bytes) -> bytes:
        """Feed server bytes; returns C2 once S0+S1+S2 is complete, else b"".

        Raises :class:`ParseError` ``"unsupported RTMP version N"`` for a bad S0.
        """
        if self.state is HandshakeState.DONE:
            raise LocalProtocolError("handshake already complete")
        if not self._c1:
            raise LocalProtocolError("initiate() first")
        self._buffer += data
        if self._buffer and self._buffer[0] != RTMP_VERSION:
            raise ParseError(f"unsupported RTMP version {self._buffer[0]}")
        need = 1 + 2 * HANDSHAKE_PACKET_BYTES
        if len(self._buffer) < need:
            return b""
        s1 = bytes(self._buffer[1 : 1 + HANDSHAKE_PACKET_BYTES])
        self.leftover = bytes(self._buffer[need:])
        self._buffer.clear()
        self._set_state(HandshakeInput.S0S1S2_RECEIVED)
        found = find_digest(s1, FMS_KEY_PARTIAL) if struct.unpack_from(">I", s1, 4)[0] else None
        if found is None:
            return s1  # simple handshake: C2 echoes S1
        self.server_digest_valid = True
        return _signed_response(self._rng, FP_KEY, found[1])
