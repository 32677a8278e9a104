"""The mcemu pytest plugin: ready fixtures for tests that need a running emulator.

Loaded automatically once the package is installed (entry point ``pytest11``). See
:mod:`emulator.testing` for the fixtures' behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .testing import EmulatorThread
from .topology import Topology

__all__ = ["mcemu", "mcemu_factory", "mcemu_sdk"]


@pytest.fixture
def mcemu() -> Iterator[EmulatorThread]:
    """A fresh emulator for one test: default regions, every port 0."""
    with EmulatorThread() as emu:
        yield emu


@pytest.fixture
def mcemu_factory() -> Iterator[Callable[..., EmulatorThread]]:
    """``mcemu_factory(topology_dict_or_Topology)`` -> a started EmulatorThread, stopped after the test."""
    made: list[EmulatorThread] = []

    def make(topology: Topology | dict[str, Any] | None = None) -> EmulatorThread:
        emu = EmulatorThread(topology)
        emu.start()
        made.append(emu)
        return emu

    yield make
    for emu in reversed(made):
        emu.stop()


@pytest.fixture
def mcemu_sdk(mcemu: EmulatorThread) -> Any:
    """The official SDK client pointed at ``mcemu``."""
    return mcemu.sdk_client()
