"""Pure parts of the instruments: the picture code, sequence analysis, MPEG-TS continuity, results."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaplane.media.framecode import (
    CODE_BITS,
    LUMA_BLACK,
    LUMA_WHITE,
    code_bits,
    code_layout,
    crc16,
    delay_ms,
    draw_luma,
    parse_bits,
    read_luma,
)
from mediaplane.media.probe import ProbeResult, StreamInfo, TsContinuityChecker, analyse_sequence
from mediaplane.media.signal import SignalConfig


def test_crc16_ccitt_false_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_code_bits_round_trip(number: int, send_ms: int) -> None:
    bits = code_bits(number, send_ms)
    assert len(bits) == CODE_BITS
    assert parse_bits(bits) == (number, send_ms)


def test_a_flipped_bit_is_rejected() -> None:
    bits = code_bits(1234, 5678)
    for i in range(CODE_BITS):
        flipped = list(bits)
        flipped[i] ^= 1
        assert parse_bits(flipped) is None


@pytest.mark.parametrize(("width", "height", "stride"), [(640, 360, 640), (1280, 720, 1280), (320, 180, 384)])
def test_draw_and_read_back(width: int, height: int, stride: int) -> None:
    plane = draw_luma(width, height, stride, 987654, 2**32 - 5)
    assert len(plane) == stride * height
    assert read_luma(plane, width, height, stride) == (987654, 2**32 - 5)
    assert set(plane) <= {0, LUMA_BLACK, LUMA_WHITE, 96}


def test_read_survives_noise_but_not_garbage() -> None:
    width, height = 640, 360
    plane = bytearray(draw_luma(width, height, width, 42, 1000))
    for i in range(0, len(plane), 7):  # +-40 of noise everywhere
        plane[i] = max(0, min(255, plane[i] + (40 if i % 2 else -40)))
    assert read_luma(bytes(plane), width, height, width) == (42, 1000)
    assert read_luma(bytes(width * height), width, height, width) is None


def test_code_layout_needs_room() -> None:
    block, x0, y0 = code_layout(640, 360)
    assert block == 30 and x0 == y0 == 30
    with pytest.raises(ValueError, match="too small"):
        code_layout(100, 60)


def test_delay_wraps_at_32_bits() -> None:
    assert delay_ms(1005, 1000) == 5
    assert delay_ms(3, 2**32 - 2) == 5
    assert delay_ms(1000, 1005) == -5


def test_analyse_sequence() -> None:
    stats = analyse_sequence([10, 11, 13, 12, 12, 15, 16, 16])
    assert (stats.received, stats.first, stats.last) == (8, 10, 16)
    assert stats.lost == 1  # 14
    assert stats.duplicated == 2
    assert stats.out_of_order == 1  # 12 after 13
    assert analyse_sequence([]).lost == 0


def ts_packet(pid: int, cc: int, *, payload: bool = True, discontinuity: bool = False) -> bytes:
    afc = (0x2 if discontinuity else 0) | (0x1 if payload else 0)
    header = bytes([0x47, (pid >> 8) & 0x1F, pid & 0xFF, (afc << 4) | cc])
    if discontinuity:
        adaptation = bytes([1, 0x80])
        return header + adaptation + bytes(188 - 4 - len(adaptation))
    return header + bytes(184)


def test_ts_continuity() -> None:
    checker = TsContinuityChecker()
    stream = b"".join(ts_packet(0x100, i % 16) for i in range(40))
    # fed in odd-sized pieces: partial packets are kept across calls
    for i in range(0, len(stream), 1000):
        checker.feed(stream[i : i + 1000])
    assert (checker.packets, checker.errors) == (40, 0)
    checker.feed(ts_packet(0x100, 9))  # expected 8
    assert checker.errors == 1
    checker.feed(ts_packet(0x100, 9))  # one duplicate is legal
    assert checker.errors == 1
    checker.feed(ts_packet(0x100, 9))  # a second one is not
    assert checker.errors == 2
    checker.feed(ts_packet(0x100, 3, discontinuity=True))  # signalled discontinuity
    checker.feed(ts_packet(0x100, 4) + ts_packet(0x1FFF, 7) + ts_packet(0x101, 0))
    assert checker.errors == 2
    checker.feed(b"\x00" * 10 + ts_packet(0x101, 1))  # resyncs on garbage
    assert checker.sync_errors == 1 and checker.errors == 2


def test_probe_result_wire_round_trip_and_format() -> None:
    result = ProbeResult(
        url="rtmp://127.0.0.1/live/x",
        duration_s=2.0,
        streams=[StreamInfo(index=0, kind="video", codec="h264", width=640, height=360, packets=50)],
        frames_received=50,
        frames_numbered=50,
        first_frame=0,
        last_frame=50,
        lost=1,
        bytes_received=50_000,
        delays_ms=[900, 500, 10, 12, 11, 30],
        recv_s=[0.0, 0.0, 0.6, 0.7, 0.8, 0.9],
        frame_numbers=[0, 1, 2, 3, 4, 5],
    )
    assert ProbeResult.from_wire(json.loads(json.dumps(result.to_wire()))) == result
    assert result.bitrate_kbps == pytest.approx(200.0)
    assert result.live_delays_ms() == [10, 12, 11, 30]
    assert result.delay_percentile(50) == 11
    assert result.delay_percentile(100, include_join=True) == 900
    text = result.format()
    assert "lost 1" in text and "h264 640x360" in text and "p50 11" in text
    assert json.dumps(result.to_dict())


def test_signal_config_validate() -> None:
    SignalConfig().validate()
    with pytest.raises(ValueError, match="video_codec"):
        SignalConfig(video_codec="vp9").validate()
    with pytest.raises(ValueError, match="even"):
        SignalConfig(width=641).validate()
