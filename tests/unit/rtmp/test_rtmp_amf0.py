"""AMF0: golden values both ways, truncation, wire order, UTF-8 byte lengths, round trips, AMF3 tolerance."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaplane.rtmp import amf0
from mediaplane.rtmp.amf0 import UNDEFINED, Amf0Date, EcmaArray, LongString
from mediaplane.rtmp.errors import ParseError

GOLDEN: list[tuple[object, bytes]] = [
    (1.5, b"\x00" + struct.pack(">d", 1.5)),
    (0.0, b"\x00" + bytes(8)),
    (True, b"\x01\x01"),
    (False, b"\x01\x00"),
    ("", b"\x02\x00\x00"),
    ("connect", b"\x02\x00\x07connect"),
    ("é", b"\x02\x00\x02\xc3\xa9"),  # length counts UTF-8 bytes, not characters
    (None, b"\x05"),
    (UNDEFINED, b"\x06"),
    ({}, b"\x03\x00\x00\x09"),
    (
        {"b": 1.0, "a": "x"},
        b"\x03\x00\x01b\x00" + struct.pack(">d", 1.0) + b"\x00\x01a\x02\x00\x01x\x00\x00\x09",
    ),
    (EcmaArray({"w": 2.0}), b"\x08\x00\x00\x00\x01\x00\x01w\x00" + struct.pack(">d", 2.0) + b"\x00\x00\x09"),
    ([1.0, "s", None], b"\x0a\x00\x00\x00\x03\x00" + struct.pack(">d", 1.0) + b"\x02\x00\x01s\x05"),
    ([], b"\x0a\x00\x00\x00\x00"),
    (Amf0Date(epoch_ms=1e12, timezone_min=0), b"\x0b" + struct.pack(">d", 1e12) + b"\x00\x00"),
    (LongString("long"), b"\x0c\x00\x00\x00\x04long"),
    (
        {"nested": {"x": [True]}},
        b"\x03\x00\x06nested\x03\x00\x01x\x0a\x00\x00\x00\x01\x01\x01\x00\x00\x09\x00\x00\x09",
    ),
]


@pytest.mark.parametrize(("value", "wire"), GOLDEN, ids=[repr(v)[:30] for v, _ in GOLDEN])
def test_golden_both_ways(value: object, wire: bytes) -> None:
    assert amf0.encode(value) == wire
    decoded, end = amf0.decode(wire)
    assert decoded == value and type(decoded) is type(value) and end == len(wire)


@pytest.mark.parametrize(("value", "wire"), GOLDEN, ids=[repr(v)[:30] for v, _ in GOLDEN])
def test_trailing_bytes_are_left_alone(value: object, wire: bytes) -> None:
    decoded, end = amf0.decode(wire + b"\x05\xff")
    assert decoded == value and end == len(wire)


@pytest.mark.parametrize(("value", "wire"), GOLDEN, ids=[repr(v)[:30] for v, _ in GOLDEN])
def test_every_truncated_prefix_raises_the_stable_error(value: object, wire: bytes) -> None:
    for cut in range(len(wire)):
        with pytest.raises(ParseError, match=r"^truncated AMF0 value$"):
            amf0.decode(wire[:cut])


def test_decode_all_byte_by_byte_concatenation() -> None:
    values = [v for v, _ in GOLDEN]
    wire = b"".join(w for _, w in GOLDEN)
    assert amf0.encode_all(values) == wire
    assert amf0.decode_all(wire) == values


def test_keys_keep_wire_order() -> None:
    wire = amf0.encode({"z": 1, "a": 2, "m": 3})
    assert list(amf0.decode(wire)[0]) == ["z", "a", "m"]


def test_long_strings_switch_automatically_above_64k() -> None:
    text = "x" * 70000
    wire = amf0.encode(text)
    assert wire[0] == 0x0C and struct.unpack(">I", wire[1:5])[0] == 70000
    assert amf0.decode(wire)[0] == text


def test_ecma_array_count_is_advisory() -> None:
    wire = b"\x08\x00\x00\x00\x09\x00\x01k\x05\x00\x00\x09"  # count says 9, one pair present
    assert amf0.decode(wire)[0] == EcmaArray({"k": None})


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x07\x00\x01", "unsupported AMF0 type 0x07"),
        (b"\x04", "unsupported AMF0 type 0x04"),
        (b"\x09", "unexpected AMF0 object end"),
        (b"\x02\x00\x02\xff\xfe", "invalid UTF-8 in AMF0 string"),
        (b"\x0a" * 200 + b"\x00\x00\x00\x01" * 0, "truncated AMF0 value"),
    ],
)
def test_malformed_values_raise_stable_errors(wire: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=rf"^{message}$"):
        amf0.decode(wire)


def test_deep_nesting_is_refused() -> None:
    wire = b"\x0a\x00\x00\x00\x01" * 100 + b"\x05"
    with pytest.raises(ParseError, match="nested too deeply"):
        amf0.decode(wire)


def test_amf3_wrapped_command_is_tolerated() -> None:
    # format byte 0, then AMF0 "connect", number 1, then an AMF3-switched string and AMF3 integer.
    body = b"\x00" + amf0.encode("connect") + amf0.encode(1.0) + b"\x11\x06\x07app" + b"\x11\x04\x05"
    assert amf0.decode_amf3_command_values(body) == ["connect", 1.0, "app", 5.0]


def test_typed_object_decodes_as_dict() -> None:
    wire = b"\x10\x00\x03Cls\x00\x01a\x05\x00\x00\x09"
    assert amf0.decode(wire) == ({"a": None}, len(wire))


scalars = st.one_of(
    st.none(),
    st.just(UNDEFINED),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.builds(
        lambda ms, tz: Amf0Date(epoch_ms=ms, timezone_min=tz),
        st.floats(allow_nan=False),
        st.integers(-720, 720),
    ),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5).map(EcmaArray),
    ),
    max_leaves=30,
)


@given(values)
def test_round_trip(value: object) -> None:
    wire = amf0.encode(value)
    decoded, end = amf0.decode(wire)
    assert end == len(wire)
    assert decoded == value
    assert amf0.encode(decoded) == wire


def test_nan_survives() -> None:
    assert math.isnan(amf0.decode(amf0.encode(math.nan))[0])
