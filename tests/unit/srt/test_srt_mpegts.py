"""Keyframe labelling of MPEG-TS payloads for the hub."""

from __future__ import annotations

from mediaplane.relay.hub import UnitKind
from mediaplane.srt.mpegts import ts_unit_kind


def ts_packet(*, pusi: bool, rai: bool = False, stream_id: int = 0xE0, pid: int = 0x100) -> bytes:
    head = bytes([0x47, (0x40 if pusi else 0) | (pid >> 8), pid & 0xFF])
    if rai:
        af = bytes([0x40])  # flags: random_access_indicator
        body = bytes([0x30, len(af)]) + af + b"\x00\x00\x01" + bytes([stream_id])
    else:
        body = bytes([0x10]) + (b"\x00\x00\x01" + bytes([stream_id]) if pusi else b"")
    pkt = head + body
    return pkt + b"\xff" * (188 - len(pkt))


def test_video_random_access_point_is_a_keyframe() -> None:
    unit = ts_packet(pusi=False) * 3 + ts_packet(pusi=True, rai=True) + ts_packet(pusi=False) * 3
    assert ts_unit_kind(unit) is UnitKind.KEYFRAME


def test_other_units_are_frames() -> None:
    assert ts_unit_kind(ts_packet(pusi=False) * 7) is UnitKind.FRAME
    assert ts_unit_kind(ts_packet(pusi=True) * 7) is UnitKind.FRAME  # PES start without RAI
    assert ts_unit_kind(ts_packet(pusi=True, rai=True, stream_id=0xC0) * 7) is UnitKind.FRAME  # audio
    assert ts_unit_kind(b"") is UnitKind.FRAME
    assert ts_unit_kind(b"\x47" * 100) is UnitKind.FRAME  # shorter than a packet
