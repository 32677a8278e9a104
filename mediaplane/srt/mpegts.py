"""Just enough MPEG-TS to label SRT payloads for the hub.

A hub resumes a lagging or un-forbidden subscriber at the next ``UnitKind.KEYFRAME``; an SRT payload
(seven 188-byte TS packets) is a keyframe unit when one of its packets starts a video PES (stream id
0xE0-0xEF) and carries the random access indicator, which ffmpeg's and most encoders' muxers set on
keyframes (ISO/IEC 13818-1, 2.4.3.4).
"""

from __future__ import annotations

from ..relay.hub import UnitKind

TS_PACKET_SIZE = 188
TS_SYNC = 0x47
_PUSI = 0x40
_HAS_PUSI = bytes(1 if b & _PUSI else 0 for b in range(256))
"""Maps the second byte of a TS packet to 1 when its payload_unit_start_indicator is set."""


def ts_unit_kind(payload: bytes) -> UnitKind:
    """KEYFRAME when ``payload`` holds the start of a video random access point, else FRAME."""
    # Most payloads start no PES at all: one C-level pass over the packets' second bytes decides.
    if 1 not in payload[1::TS_PACKET_SIZE].translate(_HAS_PUSI):
        return UnitKind.FRAME
    end = len(payload) - TS_PACKET_SIZE
    off = 0
    while off <= end:
        if payload[off] == TS_SYNC and payload[off + 1] & _PUSI:  # payload_unit_start_indicator
            afc = payload[off + 3] & 0x30
            if afc == 0x30:  # adaptation field and payload
                af_len = payload[off + 4]
                if af_len and payload[off + 5] & 0x40:  # random_access_indicator
                    pes = off + 5 + af_len
                    if (
                        pes + 4 <= off + TS_PACKET_SIZE
                        and payload[pes] == 0
                        and payload[pes + 1] == 0
                        and payload[pes + 2] == 1
                        and 0xE0 <= payload[pes + 3] <= 0xEF
                    ):
                        return UnitKind.KEYFRAME
        off += TS_PACKET_SIZE
    return UnitKind.FRAME
