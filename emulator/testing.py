"""Running an emulator beside synchronous code (tests, scripts, notebooks), and the pytest plugin.

:class:`EmulatorThread` runs an :class:`~emulator.app.Emulator` on its own event loop in a daemon thread,
so blocking code (the official SDK, subprocesses) can drive it::

    with EmulatorThread() as emu:                 # every port 0: runs beside anything else
        client = emu.sdk_client()                 # the official SDK, pointed at it
        ...

The pytest plugin (:mod:`emulator.pytest_plugin`, installed with the package as a ``pytest11`` entry
point) gives these fixtures:

* ``mcemu``: a fresh :class:`EmulatorThread` per test, with the default regions on their own loopback
  addresses and every port 0; reset and stopped after the test;
* ``mcemu_factory``: call it with a topology dict (or :class:`~emulator.topology.Topology`) for more
  control; every emulator it made is stopped after the test;
* ``mcemu_sdk``: an official SDK client (``alibabacloud_ice20201109``) for ``mcemu``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from .app import Emulator
from .topology import Topology

__all__ = ["TEST_PORTS", "EmulatorThread", "test_topology"]

T = TypeVar("T")

TEST_PORTS: dict[str, Any] = {"rtmp_port": 0, "srt_port_min": 0, "srt_port_max": 0}
"""Catalogue keys that put every listener of every region on an ephemeral port."""


def test_topology(doc: dict[str, Any] | None = None) -> Topology:
    """A topology from ``doc`` with every port 0 (API included) unless ``doc`` says otherwise."""
    merged: dict[str, Any] = {**TEST_PORTS, "api": {"host": "127.0.0.1", "port": 0}}
    merged.update(doc or {})
    return Topology.from_dict(merged)


test_topology.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name


class EmulatorThread:
    """An :class:`Emulator` on a private event loop in a daemon thread (see the module docstring)."""

    def __init__(self, topology: Topology | dict[str, Any] | None = None) -> None:
        self.topology = topology if isinstance(topology, Topology) else test_topology(topology)
        self.loop = asyncio.new_event_loop()
        self.emulator: Emulator | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="mcemu", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the thread and the emulator; raises what :meth:`Emulator.start` raises."""
        self._thread.start()

        async def _start() -> Emulator:
            emu = Emulator(self.topology)
            await emu.start()
            return emu

        self.emulator = self.call(_start)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every flow, the API and the loop."""
        if self.emulator is not None and self._thread.is_alive():
            emu = self.emulator
            self.call(emu.close, timeout=timeout)
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if not self.loop.is_running():
            self.loop.close()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float | None = 30.0) -> T:
        """Run ``fn()`` (a coroutine function) on the emulator's loop and return its result."""

        async def _run() -> T:
            return await fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(_run(), self.loop)
        return fut.result(timeout)

    def run(self, fn: Callable[[], T], timeout: float | None = 30.0) -> T:
        """Run the plain function ``fn()`` on the emulator's loop (to read live state safely)."""

        async def _run() -> T:
            return fn()

        return self.call(_run, timeout)

    # -- conveniences -----------------------------------------------------------------------------
    @property
    def em(self) -> Emulator:
        assert self.emulator is not None, "not started"
        return self.emulator

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the ICE API."""
        return self.em.endpoint

    @property
    def api_url(self) -> str:
        return f"http://{self.endpoint}"

    def sdk_client(self, *, v1: bool = False, access_key_id: str = "mcemu", secret: str = "mcemu") -> Any:
        """An official SDK client for this emulator (V3 signing; ``v1=True`` for V1 in the query)."""
        from alibabacloud_ice20201109.client import Client
        from alibabacloud_tea_openapi.models import Config

        config = Config(
            access_key_id=access_key_id,
            access_key_secret=secret,
            region_id="ap-southeast-1",
            endpoint=self.endpoint,
            protocol="http",
        )
        if v1:
            config.signature_algorithm = "v2"
        return Client(config)

    def wait_for(self, type: str, *, timeout: float = 30.0, after: int = 0, **match: Any) -> dict[str, Any]:
        """:meth:`Emulator.wait_for` from this thread: the first event of ``type`` (id above ``after``)
        with the ``match`` values, kept or to come. Raises TimeoutError."""
        em = self.em
        return self.call(lambda: em.wait_for(type, timeout=timeout, after=after, **match), timeout + 5.0)

    @property
    def last_event_id(self) -> int:
        """Id of the newest event (a marker for ``wait_for(..., after=...)``)."""
        return self.em.last_event_id

    def reset(self) -> None:
        """Every flow and session gone (as ``POST /_emulator/reset``)."""
        self.call(self.em.manager.reset)
