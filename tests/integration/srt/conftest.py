from __future__ import annotations

import pathlib

import pytest
from srt_media import make_clip


@pytest.fixture(scope="session")
def srt_clip(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, bytes]:
    """A 3-second H.264 + AAC MPEG-TS clip shared by the SRT interop tests."""
    path = tmp_path_factory.mktemp("srt") / "clip.ts"
    return path, make_clip(ffmpeg_exe, path, seconds=3)


@pytest.fixture(scope="session")
def srt_clip_2mbps(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, bytes]:
    """A 3-second clip at a constant 2 Mbit/s (about 190 SRT packets per second)."""
    path = tmp_path_factory.mktemp("srt") / "clip2m.ts"
    return path, make_clip(ffmpeg_exe, path, seconds=3, bitrate="2M", size="640x360")
