"""The picture code of the test signal: frame number and send time drawn as big blocks in the luma.

Layout: ``CODE_COLUMNS x CODE_ROWS`` square blocks, one bit each (white = 1, black = 0), starting one
block in from the top-left corner. The block size depends only on the picture size
(:func:`code_layout`), so a reader needs nothing but the decoded picture. 80 bits, most significant first:

* 32 bits: frame number (wraps at 2^32);
* 32 bits: sender wall-clock time in milliseconds, ``int(time.time() * 1000) mod 2^32``, taken just
  before the frame is encoded (the probe computes end-to-end delay as its own wall clock at decode
  minus this, modulo 2^32: sender and probe must share a clock, as they do on one machine);
* 16 bits: CRC-16/CCITT-FALSE of the first 8 bytes, so a misread picture is rejected, not misnumbered.

Blocks are at least 8 pixels (30 at 640x360), far above what H.264/HEVC quantisation at test bitrates
blurs; the reader averages a 3x3 patch at each block's centre and thresholds at mid-grey. Pure Python,
no numpy: planes are built and read as ``bytes``.
"""

from __future__ import annotations

import struct

CODE_COLUMNS = 16
CODE_ROWS = 5
CODE_BITS = CODE_COLUMNS * CODE_ROWS  # 80
LUMA_BLACK = 16
LUMA_WHITE = 235
LUMA_THRESHOLD = (LUMA_BLACK + LUMA_WHITE) // 2
MIN_BLOCK_PIXELS = 8
U32 = 1 << 32


def code_layout(width: int, height: int) -> tuple[int, int, int]:
    """``(block, x0, y0)``: block size in pixels (even) and the top-left of the code, for a picture.

    Raises ``ValueError`` when the picture is too small to hold the code.
    """
    block = min(width // (CODE_COLUMNS + 4), height // (CODE_ROWS + 7)) & ~1
    if block < MIN_BLOCK_PIXELS:
        raise ValueError(f"picture {width}x{height} too small for the frame code")
    return block, block, block


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def code_bits(frame_number: int, send_ms: int) -> list[int]:
    """The 80 bits drawn for ``frame_number`` sent at ``send_ms`` (both taken modulo 2^32)."""
    body = struct.pack("!II", frame_number % U32, send_ms % U32)
    word = int.from_bytes(body + struct.pack("!H", crc16(body)), "big")
    return [(word >> (CODE_BITS - 1 - i)) & 1 for i in range(CODE_BITS)]


def parse_bits(bits: list[int]) -> tuple[int, int] | None:
    """``(frame_number, send_ms)`` from 80 bits, or ``None`` when the CRC does not match."""
    if len(bits) != CODE_BITS:
        return None
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    raw = word.to_bytes(CODE_BITS // 8, "big")
    frame_number, send_ms, crc = struct.unpack("!IIH", raw)
    if crc16(raw[:8]) != crc:
        return None
    return frame_number, send_ms


_DIGITS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
}
"""A 3x5 pixel font for the human-readable frame number."""


def _digit_rows(text: str, scale: int, x0: int, width: int, background: int) -> list[bytes]:
    grey, white = bytes([background]), bytes([LUMA_WHITE])
    out: list[bytes] = []
    for r in range(5):
        row = grey * x0
        for ch in text:
            for bit in _DIGITS[ch][r]:
                row += (white if bit == "1" else grey) * scale
            row += grey * scale
        row = row[:width] + grey * max(0, width - len(row))
        out.extend([row] * scale)
    return out


def draw_luma(
    width: int, height: int, stride: int, frame_number: int, send_ms: int, background: int = 96
) -> bytes:
    """A luma plane (``stride`` bytes per row) carrying the code, the frame number in digits a person can
    read, and a bar that moves every frame (real motion for the encoder, something to see for a viewer).
    """
    block, x0, y0 = code_layout(width, height)
    bits = code_bits(frame_number, send_ms)
    pad = bytes(stride - width)
    grey = bytes([background])
    plain = grey * width + pad
    bar_w = max(2, width // 40)
    bar_x = (frame_number * max(1, width // 100)) % (width - bar_w)
    bar_row = grey * bar_x + bytes([LUMA_WHITE]) * bar_w + grey * (width - bar_x - bar_w) + pad
    out: list[bytes] = [plain] * y0
    for r in range(CODE_ROWS):
        row_bits = bits[r * CODE_COLUMNS : (r + 1) * CODE_COLUMNS]
        cells = b"".join(bytes([LUMA_WHITE if bit else LUMA_BLACK]) * block for bit in row_bits)
        out.extend([grey * x0 + cells + grey * (width - x0 - CODE_COLUMNS * block) + pad] * block)
    out.extend([plain] * block)
    scale = max(1, block // 3)
    out.extend(row + pad for row in _digit_rows(str(frame_number % U32), scale, x0, width, background))
    out.extend([plain] * scale)
    out.extend([bar_row] * (height - len(out)))
    return b"".join(out)


def read_luma(plane: bytes | memoryview, width: int, height: int, stride: int) -> tuple[int, int] | None:
    """``(frame_number, send_ms)`` read back from a decoded luma plane, or ``None`` if unreadable."""
    try:
        block, x0, y0 = code_layout(width, height)
    except ValueError:
        return None
    half = block // 2
    bits: list[int] = []
    for r in range(CODE_ROWS):
        cy = y0 + r * block + half
        for c in range(CODE_COLUMNS):
            cx = x0 + c * block + half
            total = 0
            for dy in (-1, 0, 1):
                base = (cy + dy) * stride + cx
                total += plane[base - 1] + plane[base] + plane[base + 1]
            bits.append(1 if total > LUMA_THRESHOLD * 9 else 0)
    return parse_bits(bits)


def delay_ms(recv_ms: int, send_ms: int) -> int:
    """Signed difference ``recv - send`` of two 32-bit millisecond clocks."""
    diff = (recv_ms - send_ms) % U32
    return diff - U32 if diff >= U32 // 2 else diff
