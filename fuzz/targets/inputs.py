"""Where the targets' inputs come from (``fixtures/``) and how stream targets cut them."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

__all__ = ["FIXTURES", "PIECE_SIZES", "fixture", "pieces"]

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
PIECE_SIZES = (1, 7, 128, 3, 1536, 64, 4096, 2, 500)
"""Sizes the stream targets cut their input into, cycling."""


def pieces(data: bytes) -> Iterator[bytes]:
    """``data`` in pieces of :data:`PIECE_SIZES`, so every state is also entered with a partial buffer."""
    pos = 0
    i = 0
    while pos < len(data):
        size = PIECE_SIZES[i % len(PIECE_SIZES)]
        yield data[pos : pos + size]
        pos += size
        i += 1


def fixture(name: str) -> bytes:
    """The bytes of ``fixtures/<name>``."""
    return (FIXTURES / name).read_bytes()
