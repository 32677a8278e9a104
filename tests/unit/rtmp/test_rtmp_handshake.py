"""Handshake: simple and digest dialects, both roles, byte-by-byte feeding, leftovers, bad versions."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from mediaplane.rtmp.errors import LocalProtocolError, ParseError
from mediaplane.rtmp.handshake import (
    FMS_KEY,
    FMS_KEY_PARTIAL,
    FP_KEY,
    FP_KEY_PARTIAL,
    HANDSHAKE_PACKET_BYTES,
    ClientHandshake,
    ServerHandshake,
    find_digest,
    make_digest_packet,
)

N = HANDSHAKE_PACKET_BYTES


def _sig(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def test_simple_handshake_echoes_c1() -> None:
    server = ServerHandshake(random.Random(1))
    c1 = bytes(8) + random.Random(2).randbytes(N - 8)  # version field 0: the simple dialect
    out = server.receive_data(b"\x03" + c1)
    assert len(out) == 1 + 2 * N and out[0] == 3
    assert out[1 + N :] == c1
    assert not server.digest_used and not server.done
    assert server.receive_data(out[1 : 1 + N] + b"\x02extra") == b""
    assert server.done and server.leftover == b"\x02extra"


@pytest.mark.parametrize("scheme_base", [8, 772])
def test_digest_handshake_server_signs_s1_and_s2(scheme_base: int) -> None:
    c1 = make_digest_packet(random.Random(3), 0x80000702, FP_KEY_PARTIAL, scheme_base)
    client_offset, client_digest = find_digest(c1, FP_KEY_PARTIAL)  # type: ignore[misc]
    server = ServerHandshake(random.Random(4))
    out = server.receive_data(b"\x03" + c1)
    assert server.digest_used
    s1, s2 = out[1 : 1 + N], out[1 + N :]
    found = find_digest(s1, FMS_KEY_PARTIAL)
    assert found is not None
    # S2's last 32 bytes: HMAC(HMAC(full FMS key, C1 digest), S2 without them), computed independently here.
    assert s2[-32:] == _sig(_sig(FMS_KEY, client_digest), s2[:-32])
    assert (found[0] >= 772) == (client_offset >= 772)


def test_client_and_server_digest_pumped_one_byte_at_a_time() -> None:
    client = ClientHandshake(random.Random(5))
    server = ServerHandshake(random.Random(6))
    c0c1 = client.initiate()
    s_out = b"".join(server.receive_data(c0c1[i : i + 1]) for i in range(len(c0c1)))
    assert server.digest_used
    c2 = b"".join(client.receive_data(s_out[i : i + 1]) for i in range(len(s_out)))
    assert client.done and client.server_digest_valid and len(c2) == N
    s1 = s_out[1 : 1 + N]
    _, server_digest = find_digest(s1, FMS_KEY_PARTIAL)  # type: ignore[misc]
    assert c2[-32:] == _sig(_sig(FP_KEY, server_digest), c2[:-32])
    for i in range(len(c2)):
        assert server.receive_data(c2[i : i + 1]) == b""
    assert server.done and server.leftover == b""


def test_client_answers_a_simple_server_with_an_echo_and_keeps_leftovers() -> None:
    client = ClientHandshake(random.Random(7))
    client.initiate()
    s1 = bytes(8) + random.Random(8).randbytes(N - 8)
    c2 = client.receive_data(b"\x03" + s1 + bytes(N) + b"\x02\x00")
    assert c2 == s1 and not client.server_digest_valid and client.leftover == b"\x02\x00"


@pytest.mark.parametrize("version", [0, 4, 6, 0xFF])
def test_bad_version_is_a_stable_parse_error(version: int) -> None:
    with pytest.raises(ParseError, match=rf"^unsupported RTMP version {version}$"):
        ServerHandshake(random.Random(1)).receive_data(bytes([version]) + bytes(10))
    client = ClientHandshake(random.Random(1))
    client.initiate()
    with pytest.raises(ParseError, match=rf"^unsupported RTMP version {version}$"):
        client.receive_data(bytes([version]))


def test_truncated_handshake_waits_for_more() -> None:
    server = ServerHandshake(random.Random(1))
    c0c1 = ClientHandshake(random.Random(2)).initiate()
    for cut in (1, 100, len(c0c1) - 1):
        assert ServerHandshake(random.Random(1)).receive_data(c0c1[:cut]) == b""
    assert server.receive_data(c0c1) != b""


def test_misuse_is_a_local_error() -> None:
    client = ClientHandshake(random.Random(1))
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"\x03")
    client.initiate()
    with pytest.raises(LocalProtocolError):
        client.initiate()


def test_same_seed_same_bytes() -> None:
    assert ClientHandshake(random.Random(9)).initiate() == ClientHandshake(random.Random(9)).initiate()
