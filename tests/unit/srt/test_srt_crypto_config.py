"""Key material against a libsrt capture, wrapping counters, stream ids and the config / URL form."""

from __future__ import annotations

import pathlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaplane.srt import (
    ConfigError,
    ParseError,
    SrtConfig,
    SrtMode,
    StreamMode,
    parse_srt_url,
    parse_stream_id,
)
from mediaplane.srt.circular import TimestampUnwrapper, msgno_next, seq_add, seq_diff, seq_lt
from mediaplane.srt.handshake import parse_handshake
from mediaplane.srt.keymaterial import (
    BadSecret,
    KeyMaterialMessage,
    KeySet,
    PacketCipher,
    SenderKeys,
    make_iv,
    new_keyset,
)
from mediaplane.srt.packet import KeyFlag, parse_data

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "fixtures"
CAPTURE_PASSPHRASE = "secretsecret"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"srt_{name}.bin").read_bytes()


def test_libsrt_key_material_decrypts_libsrt_data() -> None:
    hs = parse_handshake(fixture("conclusion_request_kmreq"))
    assert hs.kmreq is not None
    msg = KeyMaterialMessage.decode(hs.kmreq)
    assert msg.encode() == hs.kmreq
    assert msg.key_flags is KeyFlag.EVEN and msg.key_len == 16 and len(msg.salt) == 16
    keys = KeySet.from_message(msg, CAPTURE_PASSPHRASE)
    pkt = parse_data(fixture("data_encrypted"))
    assert keys.even is not None
    clear = keys.even.crypt(pkt.seq, pkt.payload)
    assert all(clear[i] == 0x47 for i in range(0, 1316, 188))
    with pytest.raises(BadSecret):
        KeySet.from_message(msg, "not the passphrase")


def test_iv_layout() -> None:
    salt = bytes(range(16))
    iv = make_iv(salt, 0x01020304)
    assert iv[:10] == salt[:10]
    assert iv[10:14] == bytes(a ^ b for a, b in zip(salt[10:14], b"\x01\x02\x03\x04", strict=True))
    assert iv[14:] == b"\x00\x00"


@pytest.mark.parametrize("key_len", [16, 24, 32])
def test_wrap_round_trip_both_keys(key_len: int) -> None:
    rng = random.Random(key_len)
    ks = new_keyset(rng, key_len)
    ks.odd = PacketCipher(rng.randbytes(key_len), ks.salt)
    msg = ks.to_message("a passphrase here")
    assert msg.key_flags is KeyFlag.BOTH
    back = KeySet.from_message(KeyMaterialMessage.decode(msg.encode()), "a passphrase here")
    assert back.even is not None and back.odd is not None and ks.even is not None
    assert back.even.key == ks.even.key and back.odd.key == ks.odd.key


def test_km_parse_errors() -> None:
    good = KeySet.to_message(new_keyset(random.Random(1), 16), "passphrase!!").encode()
    with pytest.raises(ParseError, match=r"^truncated key material$"):
        KeyMaterialMessage.decode(good[:20])
    with pytest.raises(ParseError, match=r"^bad key material signature$"):
        KeyMaterialMessage.decode(b"\x13" + good[1:])


def test_sender_key_schedule() -> None:
    keys = new_keyset(random.Random(3), 16)
    sk = SenderKeys(keys, random.Random(4), refresh_rate=10, preannounce=3)
    announcements = [i for i in range(1, 31) if sk.count_packet()]
    # new key announced at 7, switch at 10, old one retired at 13; and again every 10 packets.
    assert announcements == [7, 13, 17, 23, 27]
    assert sk.current is KeyFlag.ODD or sk.current is KeyFlag.EVEN


@given(a=st.integers(0, 2**31 - 1), n=st.integers(-(2**30) + 1, 2**30 - 1))
def test_seq_arithmetic(a: int, n: int) -> None:
    b = seq_add(a, n)
    assert seq_diff(b, a) == n
    assert seq_lt(a, b) == (n > 0)


def test_seq_and_msgno_wrap() -> None:
    assert seq_add(2**31 - 1, 1) == 0
    assert seq_diff(0, 2**31 - 1) == 1
    assert msgno_next(2**26 - 1) == 1


def test_timestamp_unwrap() -> None:
    u = TimestampUnwrapper()
    assert u.unwrap(2**32 - 10) == 2**32 - 10
    assert u.unwrap(5) == 2**32 + 5
    assert u.unwrap(2**32 - 3) == 2**32 - 3  # a late packet from before the wrap
    assert u.unwrap(100) == 2**32 + 100


def test_stream_id_forms() -> None:
    sid = parse_stream_id("#!::r=live/abc,m=publish,u=bob,x=1")
    assert sid.resource == "live/abc" and sid.mode is StreamMode.PUBLISH and sid.user == "bob"
    assert sid.extra == {"x": "1"}
    assert parse_stream_id(sid.encode()).resource == "live/abc"
    plain = parse_stream_id("just-a-name")
    assert plain.resource == "just-a-name" and plain.mode is StreamMode.REQUEST
    assert parse_stream_id("").resource == ""
    with pytest.raises(ParseError, match="unknown stream id mode"):
        parse_stream_id("#!::m=sideways")


def test_parse_srt_url_like_ffmpeg() -> None:
    host, port, cfg, mode = parse_srt_url(
        "srt://127.0.0.1:9000?mode=listener&latency=200000&passphrase=abcdefghijk&pbkeylen=32"
        "&streamid=#!::r=live/x,m=publish&connect_timeout=1500&peeridletimeo=2000"
    )
    assert (host, port, mode) == ("127.0.0.1", 9000, SrtMode.LISTENER)
    assert cfg.latency_ms == 200 and cfg.passphrase == "abcdefghijk" and cfg.pbkeylen == 32
    assert cfg.streamid == "#!::r=live/x,m=publish"
    assert cfg.connect_timeout_ms == 1500 and cfg.peer_idle_timeout_ms == 2000
    _, _, cfg2, mode2 = parse_srt_url("srt://[::1]:1234?streamid=%23!::r=a")
    assert mode2 is SrtMode.CALLER and cfg2.streamid == "#!::r=a"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtmp://x:1", "not an srt"),
        ("srt://host", "numeric port"),
        ("srt://h:1?pbkeylen=20", "pbkeylen"),
        ("srt://h:1?passphrase=short", "passphrase"),
        ("srt://h:1?latency=abc", "bad value for latency"),
    ],
)
def test_parse_srt_url_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_srt_url(url)


def test_config_validate() -> None:
    assert SrtConfig().validate() == SrtConfig()
    with pytest.raises(ConfigError, match="payload_size"):
        SrtConfig(payload_size=1500).validate()
    with pytest.raises(ConfigError, match="km_preannounce"):
        SrtConfig(km_refresh_rate=100, km_preannounce=60).validate()
