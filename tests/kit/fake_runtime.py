"""The one fake of :class:`emulator.runtime.Runtime` for tests of the control plane (no sockets, no loop).

It implements :class:`emulator.model.manager.FlowRuntime` (plus ``reserve_srt_port``, as the state
import uses) and raises what the real runtime raises in the same cases: :class:`PortUnavailable` when a
region's SRT range is exhausted or a reserved port is taken, :class:`FlowStartError` for a flow without
an input (or when a test sets ``refuse_start``). ``tests/e2e/api/test_runtime_contract.py`` runs the
same checks against this fake and the real runtime, so the two cannot drift apart.

What it adds for tests: ``calls`` (what the manager asked, in order), ``live`` (FlowIds started),
``ports`` (taken per region), ``status`` (InputStatus per ``(flow id, input name)`` to report while
live) and ``forbidden``. It is stricter than the real runtime in one way, on purpose: releasing a port
that is not taken is a bug of the caller and fails the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

from emulator.errors import FlowStartError, PortUnavailable
from emulator.model.flow import Flow, FlowInput, FlowOutput, InputStatus
from emulator.regions import Region

__all__ = ["FIRST_EPHEMERAL_PORT", "FakeRuntime", "run"]

T = TypeVar("T")

FIRST_EPHEMERAL_PORT = 40000
"""Where a region without an SRT range (``srt_port_min == 0``: the real runtime asks the kernel) gets
its ports from."""

RTMP_PORT_UNSTARTED = 19350
"""The RTMP port reported for a region whose ``rtmp_port`` is 0 (the real runtime reports its server's
bound port)."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends (the fake never awaits) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine suspended; these tests run without an event loop")


class FakeRuntime:
    """A FlowRuntime that records calls; ports come from the region's range, lowest free first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.ports: dict[str, set[int]] = {}
        self.live: set[str] = set()
        self.refuse_start: str | None = None
        self.status: dict[tuple[str, str], str] = {}
        self.forbidden: dict[tuple[str, str], bool] = {}
        self._ephemeral = itertools.count(FIRST_EPHEMERAL_PORT)

    def rtmp_address(self, region: Region) -> tuple[str, int]:
        return region.host, region.rtmp_port or RTMP_PORT_UNSTARTED

    def allocate_srt_port(self, region: Region) -> int:
        taken = self.ports.setdefault(region.id, set())
        if region.srt_port_min == 0:
            port = next(p for p in self._ephemeral if p not in taken)
        else:
            free = [p for p in range(region.srt_port_min, region.srt_port_max + 1) if p not in taken]
            if not free:  # as emulator.runtime.Runtime raises
                raise PortUnavailable(
                    f"no free SRT port left in {region.id} ({region.srt_port_min}-{region.srt_port_max})"
                )
            port = free[0]
        taken.add(port)
        self.calls.append(("allocate", region.id, str(port)))
        return port

    def reserve_srt_port(self, region: Region, port: int) -> None:
        taken = self.ports.setdefault(region.id, set())
        if port in taken:
            raise PortUnavailable(f"SRT port {port} of {region.id} is already in use")
        taken.add(port)
        self.calls.append(("reserve", region.id, str(port)))

    def release_srt_port(self, region: Region, port: int) -> None:
        assert port in self.ports.get(region.id, set()), f"port {port} of {region.id} released twice"
        self.ports[region.id].discard(port)
        self.calls.append(("release", region.id, str(port)))

    async def start_flow(self, flow: Flow) -> None:
        self.calls.append(("start", flow.id))
        if flow.id in self.live:
            return
        if not flow.inputs:
            raise FlowStartError("the flow has no input")
        if self.refuse_start:
            raise FlowStartError(self.refuse_start)
        self.live.add(flow.id)

    async def stop_flow(self, flow: Flow) -> None:
        self.calls.append(("stop", flow.id))
        self.live.discard(flow.id)

    def input_status(self, flow: Flow, input: FlowInput) -> str:
        if flow.id not in self.live:
            return InputStatus.OFFLINE.value
        return self.status.get((flow.id, input.name), InputStatus.DISCONNECTED.value)

    def set_output_forbidden(self, flow: Flow, output: FlowOutput, forbidden: bool) -> None:
        if flow.id not in self.live:
            return
        self.forbidden[(flow.id, output.name)] = forbidden
        self.calls.append(("forbid" if forbidden else "resume", flow.id, output.name))
