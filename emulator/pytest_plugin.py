"""The mcemu pytest plugin: ready fixtures for tests that need a running emulator.

Loaded automatically once the package is installed (entry point ``pytest11``). See
:mod:`emulator.testing` for the fixtures' behaviour.

Loading the plugin imports nothing of the emulator: pytest runs that use none of these fixtures do
not pay for it (``emulator.testing`` with its web stack is about 0.6 s of imports on a small machine).
Once collection is done, a session that collected a test using a fixture imports what it needs, the
official SDK as well when a test asks for ``mcemu_sdk`` (another 0.4-0.5 s, the SDK's own
``alibabacloud_ice20201109.models`` and its dependencies). So the first test to use a fixture is not
charged those imports: the session pays them once, before its first test runs, instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import EmulatorThread
    from .topology import Topology

__all__ = ["mcemu", "mcemu_factory", "mcemu_sdk"]

_EMULATOR_FIXTURES = frozenset(__all__)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Import the emulator (and the SDK for ``mcemu_sdk``) if a collected test will use them."""
    used: set[str] = set()
    for item in session.items:
        used.update(_EMULATOR_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if not used:
        return
    from . import testing  # noqa: F401

    if "mcemu_sdk" in used:
        try:
            import alibabacloud_ice20201109.client  # noqa: F401
            import alibabacloud_tea_openapi.models  # noqa: F401
        except ImportError:
            pass  # the SDK is the [sdk] extra: without it only the tests using mcemu_sdk fail, at setup


@pytest.fixture
def mcemu() -> Iterator[EmulatorThread]:
    """A fresh emulator for one test: default regions, every port 0."""
    from .testing import EmulatorThread

    with EmulatorThread() as emu:
        yield emu


@pytest.fixture
def mcemu_factory() -> Iterator[Callable[..., EmulatorThread]]:
    """``mcemu_factory(topology_dict_or_Topology)`` -> a started EmulatorThread, stopped after the test."""
    from .testing import EmulatorThread

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
