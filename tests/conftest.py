"""Shared fixtures. Peers (ffmpeg, PyAV, the official SDK) come from the test extra; when one is missing
the test fails under CI (CI=true) and is skipped with a loud reason only on a developer machine."""

from __future__ import annotations

import os

import pytest

from tests.kit.peers import IN_CI, need_peer

__all__ = ["IN_CI", "need_peer"]


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    """Path of the static ffmpeg shipped by imageio-ffmpeg (built with libsrt, x264, x265, aac)."""
    try:
        import imageio_ffmpeg

        path: str = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:
        need_peer("ffmpeg from imageio-ffmpeg", exc)
        raise
    if not os.access(path, os.X_OK):
        need_peer(f"ffmpeg at {path} is not executable")
    return path


def pytest_configure(config: pytest.Config) -> None:
    """``MCEMU_LOOP=uvloop`` (or ``asyncio``) runs every loop the tests make on that loop: pytest-asyncio's
    and those of ``asyncio.new_event_loop()`` (EmulatorThread, client loops), through the global policy,
    set here before any fixture reads it. Unset, tests run on asyncio's own loop."""
    if os.environ.get("MCEMU_LOOP", "").strip().lower() in ("uvloop", "asyncio"):
        import asyncio

        from emulator.loop import loop_policy

        asyncio.set_event_loop_policy(loop_policy())


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under ``-n N`` with the default distribution, the timing-judged tests run last and alone
    (:mod:`tests.kit.serial_last`)."""
    if config.getvalue("dist") != "load":
        return None
    from tests.kit.serial_last import SerialLastScheduling

    return SerialLastScheduling(config, log)
