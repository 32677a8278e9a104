"""AMF0 (Action Message Format version 0) values, as RTMP commands and data messages carry them.

Python mapping, both ways:

==============================  =========================================
AMF0 type (marker)              Python value
==============================  =========================================
number (0x00)                   ``float`` (``int`` is accepted on encode)
boolean (0x01)                  ``bool``
string (0x02)                   ``str``
object (0x03) / end (0x09)      ``dict[str, value]``, keys kept in wire order
null (0x05)                     ``None``
undefined (0x06)                :data:`UNDEFINED`
ECMA array (0x08)               :class:`EcmaArray` (a ``dict`` subclass)
strict array (0x0A)             ``list``
date (0x0B)                     :class:`Amf0Date`
long string (0x0C)              :class:`LongString` (a ``str`` subclass); a plain ``str`` longer than
                                65535 UTF-8 bytes is also written as a long string
==============================  =========================================

String lengths are UTF-8 byte counts (AMF0 spec section 2.4). Objects are written with an empty
key followed by the object-end marker (section 2.11).

A small AMF3 reader (:func:`decode_amf3_command_values`) tolerates the AMF3-wrapped command messages
(RTMP type 17) that some Flash-era clients send: their body is AMF0 after one format byte, with
scalar values possibly switched to AMF3 (marker 0x11).
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from .errors import ParseError

__all__ = [
    "UNDEFINED",
    "Amf0Date",
    "Amf0Marker",
    "Amf0Value",
    "EcmaArray",
    "LongString",
    "Undefined",
    "decode",
    "decode_all",
    "decode_amf3_command_values",
    "encode",
    "encode_all",
]

MAX_SHORT_STRING_BYTES = 0xFFFF
"""Longest UTF-8 string, in bytes, that fits the 16-bit length of an AMF0 string."""
MAX_DEPTH = 64
"""Deepest nesting of objects and arrays we accept, so hostile input cannot exhaust the stack."""

_F64 = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")


class Amf0Marker(enum.IntEnum):
    """AMF0 type markers (AMF0 spec section 2.1)."""

    NUMBER = 0x00
    BOOLEAN = 0x01
    STRING = 0x02
    OBJECT = 0x03
    MOVIECLIP = 0x04
    NULL = 0x05
    UNDEFINED = 0x06
    REFERENCE = 0x07
    ECMA_ARRAY = 0x08
    OBJECT_END = 0x09
    STRICT_ARRAY = 0x0A
    DATE = 0x0B
    LONG_STRING = 0x0C
    UNSUPPORTED = 0x0D
    RECORDSET = 0x0E
    XML_DOCUMENT = 0x0F
    TYPED_OBJECT = 0x10
    AVMPLUS_OBJECT = 0x11


class Undefined:
    """The AMF0 ``undefined`` value (distinct from ``null``/``None``)."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = Undefined()


class EcmaArray(dict[str, Any]):
    """An AMF0 ECMA (associative) array; ``onMetaData`` usually arrives as one."""


class LongString(str):
    """A string that travels as an AMF0 long string (32-bit length)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Amf0Date:
    """An AMF0 date: milliseconds since the Unix epoch (UTC) and the (unused, kept) time zone field."""

    epoch_ms: float
    timezone_min: int = 0


Amf0Value: TypeAlias = Any
"""Any value the mapping above allows (nested, so typed loosely)."""


# -- encoding ----------------------------------------------------------------------------------
def encode(value: Amf0Value) -> bytes:
    """One AMF0 value as bytes. Raises TypeError for a Python value AMF0 cannot carry."""
    out = bytearray()
    _encode_into(out, value, 0)
    return bytes(out)


def encode_all(values: Iterable[Amf0Value]) -> bytes:
    """Several AMF0 values back to back (the body of a command or data message)."""
    out = bytearray()
    for value in values:
        _encode_into(out, value, 0)
    return bytes(out)


def _encode_string_body(out: bytearray, text: str) -> None:
    raw = text.encode("utf-8")
    if len(raw) > MAX_SHORT_STRING_BYTES:
        raise ValueError(f"object key of {len(raw)} bytes exceeds {MAX_SHORT_STRING_BYTES}")
    out += _U16.pack(len(raw))
    out += raw


def _encode_pairs(out: bytearray, mapping: dict[str, Any], depth: int) -> None:
    for key, item in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"AMF0 object keys must be str, not {type(key).__name__}")
        _encode_string_body(out, key)
        _encode_into(out, item, depth + 1)
    out += b"\x00\x00\x09"


def _encode_into(out: bytearray, value: Amf0Value, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("AMF0 value nested too deeply")
    if value is None:
        out.append(Amf0Marker.NULL)
    elif value is UNDEFINED:
        out.append(Amf0Marker.UNDEFINED)
    elif isinstance(value, bool):
        out.append(Amf0Marker.BOOLEAN)
        out.append(1 if value else 0)
    elif isinstance(value, int | float):
        out.append(Amf0Marker.NUMBER)
        out += _F64.pack(float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if isinstance(value, LongString) or len(raw) > MAX_SHORT_STRING_BYTES:
            out.append(Amf0Marker.LONG_STRING)
            out += _U32.pack(len(raw))
        else:
            out.append(Amf0Marker.STRING)
            out += _U16.pack(len(raw))
        out += raw
    elif isinstance(value, EcmaArray):
        out.append(Amf0Marker.ECMA_ARRAY)
        out += _U32.pack(len(value))
        _encode_pairs(out, value, depth)
    elif isinstance(value, dict):
        out.append(Amf0Marker.OBJECT)
        _encode_pairs(out, value, depth)
    elif isinstance(value, list | tuple):
        out.append(Amf0Marker.STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode_into(out, item, depth + 1)
    elif isinstance(value, Amf0Date):
        out.append(Amf0Marker.DATE)
        out += _DATE.pack(value.epoch_ms, value.timezone_min)
    else:
        raise TypeError(f"AMF0 cannot encode {type(value).__name__}")


# -- decoding ----------------------------------------------------------------------------------
def decode(data: bytes | memoryview, offset: int = 0) -> tuple[Amf0Value, int]:
    """Decode one value at ``offset``; returns it and the offset just past it.

    Raises :class:`ParseError` with a stable message: ``"truncated AMF0 value"``,
    ``"unsupported AMF0 type 0xNN"``, ``"unexpected AMF0 object end"``, ``"invalid UTF-8 in AMF0 string"``,
    ``"AMF0 value nested too deeply"``.
    """
    view = memoryview(data) if not isinstance(data, memoryview) else data
    return _decode_at(view, offset, 0)


def decode_all(data: bytes | memoryview) -> list[Amf0Value]:
    """Every value in ``data``, which must end exactly after the last one."""
    view = memoryview(data) if not isinstance(data, memoryview) else data
    values = []
    offset = 0
    while offset < len(view):
        value, offset = _decode_at(view, offset, 0)
        values.append(value)
    return values


def _need(view: memoryview, offset: int, count: int) -> None:
    if offset + count > len(view):
        raise ParseError("truncated AMF0 value")


def _read_utf8(view: memoryview, offset: int, length: int) -> str:
    _need(view, offset, length)
    try:
        return str(view[offset : offset + length], "utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("invalid UTF-8 in AMF0 string") from exc


def _decode_pairs(view: memoryview, offset: int, depth: int, into: dict[str, Any]) -> int:
    while True:
        _need(view, offset, 2)
        (key_len,) = _U16.unpack_from(view, offset)
        offset += 2
        if key_len == 0:
            _need(view, offset, 1)
            if view[offset] == Amf0Marker.OBJECT_END:
                return offset + 1
            # An empty key with a real value is legal, if odd.
            key = ""
        else:
            key = _read_utf8(view, offset, key_len)
            offset += key_len
        into[key], offset = _decode_at(view, offset, depth + 1)


def _decode_at(view: memoryview, offset: int, depth: int) -> tuple[Amf0Value, int]:
    if depth > MAX_DEPTH:
        raise ParseError("AMF0 value nested too deeply")
    _need(view, offset, 1)
    marker = view[offset]
    offset += 1
    if marker == Amf0Marker.NUMBER:
        _need(view, offset, 8)
        return _F64.unpack_from(view, offset)[0], offset + 8
    if marker == Amf0Marker.BOOLEAN:
        _need(view, offset, 1)
        return view[offset] != 0, offset + 1
    if marker == Amf0Marker.STRING:
        _need(view, offset, 2)
        (length,) = _U16.unpack_from(view, offset)
        return _read_utf8(view, offset + 2, length), offset + 2 + length
    if marker in (Amf0Marker.LONG_STRING, Amf0Marker.XML_DOCUMENT):
        _need(view, offset, 4)
        (length,) = _U32.unpack_from(view, offset)
        return LongString(_read_utf8(view, offset + 4, length)), offset + 4 + length
    if marker == Amf0Marker.OBJECT:
        obj: dict[str, Any] = {}
        return obj, _decode_pairs(view, offset, depth, obj)
    if marker == Amf0Marker.TYPED_OBJECT:
        # A class name, then properties as in an object; the class name is dropped.
        _need(view, offset, 2)
        (length,) = _U16.unpack_from(view, offset)
        _read_utf8(view, offset + 2, length)
        typed: dict[str, Any] = {}
        return typed, _decode_pairs(view, offset + 2 + length, depth, typed)
    if marker == Amf0Marker.NULL:
        return None, offset
    if marker in (Amf0Marker.UNDEFINED, Amf0Marker.UNSUPPORTED):
        return UNDEFINED, offset
    if marker == Amf0Marker.ECMA_ARRAY:
        _need(view, offset, 4)
        arr = EcmaArray()
        # The count is advisory (section 2.10): read pairs up to the end marker.
        return arr, _decode_pairs(view, offset + 4, depth, arr)
    if marker == Amf0Marker.STRICT_ARRAY:
        _need(view, offset, 4)
        (count,) = _U32.unpack_from(view, offset)
        offset += 4
        # Each element is at least one byte: a count beyond the data is a truncation, not an allocation.
        _need(view, offset, count)
        items = []
        for _ in range(count):
            item, offset = _decode_at(view, offset, depth + 1)
            items.append(item)
        return items, offset
    if marker == Amf0Marker.DATE:
        _need(view, offset, 10)
        epoch_ms, tz = _DATE.unpack_from(view, offset)
        return Amf0Date(epoch_ms=epoch_ms, timezone_min=tz), offset + 10
    if marker == Amf0Marker.OBJECT_END:
        raise ParseError("unexpected AMF0 object end")
    raise ParseError(f"unsupported AMF0 type 0x{marker:02x}")


# -- AMF3 tolerance ----------------------------------------------------------------------------
_AMF3_UNDEFINED, _AMF3_NULL, _AMF3_FALSE, _AMF3_TRUE = 0x00, 0x01, 0x02, 0x03
_AMF3_INTEGER, _AMF3_DOUBLE, _AMF3_STRING = 0x04, 0x05, 0x06


def _amf3_u29(view: memoryview, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(4):
        if offset >= len(view):
            raise ParseError("truncated AMF3 value")
        byte = view[offset]
        offset += 1
        if i == 3:
            return (value << 8) | byte, offset
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, offset
    raise AssertionError("unreachable")  # pragma: no cover


def _decode_amf3_scalar(view: memoryview, offset: int) -> tuple[Amf0Value, int]:
    if offset >= len(view):
        raise ParseError("truncated AMF3 value")
    marker = view[offset]
    offset += 1
    if marker == _AMF3_UNDEFINED:
        return UNDEFINED, offset
    if marker == _AMF3_NULL:
        return None, offset
    if marker in (_AMF3_FALSE, _AMF3_TRUE):
        return marker == _AMF3_TRUE, offset
    if marker == _AMF3_INTEGER:
        raw, offset = _amf3_u29(view, offset)
        return float(raw - (1 << 29) if raw & (1 << 28) else raw), offset
    if marker == _AMF3_DOUBLE:
        if offset + 8 > len(view):
            raise ParseError("truncated AMF3 value")
        return _F64.unpack_from(view, offset)[0], offset + 8
    if marker == _AMF3_STRING:
        header, offset = _amf3_u29(view, offset)
        if not header & 1:
            raise ParseError("unsupported AMF3 string reference")
        length = header >> 1
        if offset + length > len(view):
            raise ParseError("truncated AMF3 value")
        try:
            return str(view[offset : offset + length], "utf-8"), offset + length
        except UnicodeDecodeError as exc:
            raise ParseError("invalid UTF-8 in AMF3 string") from exc
    raise ParseError(f"unsupported AMF3 type 0x{marker:02x}")


def decode_amf3_command_values(data: bytes | memoryview) -> list[Amf0Value]:
    """The values of an AMF3 command or data message (RTMP types 17 and 15).

    Its body is one format byte (0), then AMF0 values; a value may switch to AMF3 with marker 0x11,
    in which case only AMF3 scalars and strings are understood (enough for commands).
    """
    view = memoryview(data) if not isinstance(data, memoryview) else data
    if not view:
        raise ParseError("truncated AMF3 value")
    offset = 1 if view[0] == 0 else 0
    values = []
    while offset < len(view):
        if view[offset] == Amf0Marker.AVMPLUS_OBJECT:
            value, offset = _decode_amf3_scalar(view, offset + 1)
        else:
            value, offset = _decode_at(view, offset, 0)
        values.append(value)
    return values


def is_finite_number(value: object) -> bool:
    """True for an AMF0 number that is neither NaN nor infinite (helper for command arguments)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
