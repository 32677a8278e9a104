"""Fixtures of the attack tests (see attack_kit.py): one emulator subprocess with both relays flowing
for the whole folder (both modules; under xdist they all run on one worker), checked (and rebuilt
when an earlier attack killed it) before every test."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from attack_kit import Stack, raise_fd_limit


@pytest.fixture(scope="session")
def stack(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    raise_fd_limit()
    workdir: pathlib.Path = tmp_path_factory.mktemp("attacks")
    s = Stack(ffmpeg_exe, workdir)
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture
def relays(stack: Stack) -> Stack:
    """The module's stack, delivering on both relays."""
    return stack.ensure()
