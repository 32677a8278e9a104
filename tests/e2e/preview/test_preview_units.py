"""The pure pieces of the preview: FLV framing, the codec string of an init segment, ADTS configs, the
stats meter. No socket, no loop; the init segments are made by PyAV's own mp4 muxer."""

from __future__ import annotations

import fractions
import io

import av
import pytest

from emulator.preview import _adts_config, codecs_from_init, flv_tag, split_init
from emulator.stats import HISTORY_SAMPLES, _Meter


def init_segment(video: str | None, audio: str | None, **video_options: str) -> bytes:
    """The init segment PyAV's mp4 muxer writes for one encoded frame of each stream."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}) as c:
        streams = []
        if video is not None:
            v = c.add_stream(video, rate=25, options=video_options)
            v.width, v.height, v.pix_fmt = 160, 96, "yuv420p"
            streams.append(v)
        if audio is not None:
            a = c.add_stream(audio, rate=48000)
            streams.append(a)
        for s in streams:
            if s.type == "video":
                frame = av.VideoFrame(160, 96, "yuv420p")
                frame.pts, frame.time_base = 0, fractions.Fraction(1, 25)
            else:
                frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate, frame.pts = 48000, 0
            for packet in [*s.encode(frame), *s.encode(None)]:
                c.mux(packet)
    data = out.getvalue()
    size = split_init(data)
    assert size is not None
    return data[:size]


def test_codec_string_names_the_real_profile_and_level() -> None:
    init = init_segment("libx264", "aac", profile="high", level="3.1")
    assert codecs_from_init(init) == "avc1.64001f,mp4a.40.2"
    assert (
        codecs_from_init(init_segment("libx264", None, profile="main", level="4.0")) == "avc1.4d4028"
    )  # x264 sets constraint_set1 in Main
    assert codecs_from_init(init_segment(None, "aac")) == "mp4a.40.2"


def test_split_init_waits_for_the_whole_moov() -> None:
    init = init_segment("libx264", None)
    assert all(split_init(init[:n]) is None for n in range(0, len(init)))
    assert split_init(init + b"\x00\x00\x00\x08moof") == len(init)


def test_flv_tag_layout() -> None:
    tag = flv_tag(9, 0x12345678, b"\x17\x01abc")
    assert tag[:11] == bytes([9, 0, 0, 5, 0x34, 0x56, 0x78, 0x12, 0, 0, 0])
    assert tag[11:16] == b"\x17\x01abc" and tag[16:] == (16).to_bytes(4, "big")


@pytest.mark.parametrize(
    ("header", "asc", "length"),
    [
        (bytes.fromhex("fff15080"), bytes.fromhex("1210"), 7),  # AAC LC, 44.1 kHz, stereo, no CRC
        (bytes.fromhex("fff04c40"), bytes.fromhex("1188"), 9),  # AAC LC, 48 kHz, mono, CRC
    ],
)
def test_adts_header_gives_the_audio_specific_config(header: bytes, asc: bytes, length: int) -> None:
    assert _adts_config(header + bytes(8)) == (asc, length)
    assert _adts_config(b"\x00" * 9) is None and _adts_config(header[:3]) is None


def test_meter_rate_history_and_departed_sources() -> None:
    m = _Meter()
    a, b = object(), object()
    m.sample([(a, 1000)], now=0.0)
    assert m.view() == {"bytes": 1000, "bitrate_kbps": 0.0, "history_kbps": []}
    m.sample([(a, 2000), (b, 500)], now=1.0)  # b is new: its bytes count, its rate from the next sample
    assert m.view() == {"bytes": 2500, "bitrate_kbps": 8.0, "history_kbps": [8.0]}
    m.sample([(b, 750)], now=2.0)  # a left
    assert m.view()["bytes"] == 2750 and m.view()["bitrate_kbps"] == 2.0
    m.sample([(b, 100)], now=3.0)  # b's counter restarted (a new connection)
    assert m.view()["bytes"] == 2850
    for t in range(4, 4 + HISTORY_SAMPLES + 5):
        m.sample([(b, 100)], now=float(t))
    assert len(m.view()["history_kbps"]) == HISTORY_SAMPLES and m.view()["bitrate_kbps"] == 0.0
