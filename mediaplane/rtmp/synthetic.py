"""A synthetic RTMP stream: timestamped messages shaped like H.264/AAC at a chosen bitrate.

The payloads are not decodable video; they carry the FLV tag headers that matter to a relay (sequence
headers, keyframe flags) and filler bytes, so load tests and benchmarks can move real RTMP at a given
bitrate without spending CPU on encoding. Pacing is the caller's job (no clock in here).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .amf0 import EcmaArray, encode_all
from .message import MediaKind, MediaMessage, MessageType

__all__ = ["synthetic_stream"]

AUDIO_FRAME_MS = 1024 * 1000 / 48000
"""Duration of one AAC frame at 48 kHz."""
AUDIO_BITRATE_BPS = 128_000


def synthetic_stream(
    *, bitrate_bps: int, fps: int = 25, gop_frames: int = 50, rng: random.Random | None = None
) -> Iterator[MediaMessage]:
    """An endless stream in timestamp order: metadata and sequence headers first, then video at ``fps``
    (a keyframe every ``gop_frames``, keyframes 8x the size of other frames) and AAC-shaped audio, video
    and audio together adding up to ``bitrate_bps``."""
    rng = rng or random.Random(0)
    video_bps = max(bitrate_bps - AUDIO_BITRATE_BPS, 8 * fps)
    gop_bytes = video_bps / 8 * gop_frames / fps
    inter = max(int(gop_bytes / (gop_frames - 1 + 8)), 16)
    key = inter * 8
    audio_bytes = int(AUDIO_BITRATE_BPS / 8 * AUDIO_FRAME_MS / 1000)
    filler = rng.randbytes(key + audio_bytes)
    meta = encode_all(
        [
            "onMetaData",
            EcmaArray(
                {
                    "width": 1920.0,
                    "height": 1080.0,
                    "framerate": float(fps),
                    "videocodecid": 7.0,
                    "audiocodecid": 10.0,
                }
            ),
        ]
    )
    yield MediaMessage(type_id=MessageType.DATA_AMF0, timestamp=0, payload=meta, kind=MediaKind.METADATA)
    yield MediaMessage(
        type_id=MessageType.VIDEO,
        timestamp=0,
        payload=b"\x17\x00\x00\x00\x00\x01\x64\x00\x28",
        kind=MediaKind.VIDEO_CONFIG,
    )
    yield MediaMessage(
        type_id=MessageType.AUDIO, timestamp=0, payload=b"\xaf\x00\x11\x90", kind=MediaKind.AUDIO_CONFIG
    )
    frame = 0
    audio_n = 0
    while True:
        video_ts = frame * 1000 // fps
        while audio_n * AUDIO_FRAME_MS <= video_ts:
            yield MediaMessage(
                type_id=MessageType.AUDIO,
                timestamp=int(audio_n * AUDIO_FRAME_MS),
                payload=b"\xaf\x01" + filler[:audio_bytes],
                kind=MediaKind.FRAME,
            )
            audio_n += 1
        if frame % gop_frames == 0:
            payload = b"\x17\x01\x00\x00\x00" + filler[:key]
            kind = MediaKind.KEYFRAME
        else:
            payload = b"\x27\x01\x00\x00\x00" + filler[frame % 64 : frame % 64 + inter]
            kind = MediaKind.FRAME
        yield MediaMessage(type_id=MessageType.VIDEO, timestamp=video_ts, payload=payload, kind=kind)
        frame += 1
