"""Test doubles for the control-plane unit tests: a recording FlowRuntime (no sockets, no loop).

The real runtime lives in emulator/runtime.py; this one only records what the manager asks of it and
hands out ports from the region's range, so the manager's rules can be checked without a network."""

from __future__ import annotations

import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

from emulator.errors import FlowStartError, PortUnavailable
from emulator.flows import Flow, FlowInput, FlowOutput
from emulator.regions import Region

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends (the recording runtime never awaits) without a loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine suspended; the unit tests run without an event loop")


class RecordingRuntime:
    """A FlowRuntime that records calls; ports come from the region's range, lowest free first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.ports: dict[str, set[int]] = {}
        self.live: set[str] = set()
        self.refuse_start: str | None = None
        self.status: dict[tuple[str, str], str] = {}
        self.forbidden: dict[tuple[str, str], bool] = {}
        self._ephemeral = itertools.count(40000)

    def rtmp_address(self, region: Region) -> tuple[str, int]:
        return region.host, region.rtmp_port or 19350

    def allocate_srt_port(self, region: Region) -> int:
        taken = self.ports.setdefault(region.id, set())
        if region.srt_port_min == 0:
            port = next(self._ephemeral)
        else:
            free = [p for p in range(region.srt_port_min, region.srt_port_max + 1) if p not in taken]
            if not free:
                raise PortUnavailable(f"no free SRT port left in {region.id}")
            port = free[0]
        taken.add(port)
        self.calls.append(("allocate", region.id, str(port)))
        return port

    def release_srt_port(self, region: Region, port: int) -> None:
        assert port in self.ports.get(region.id, set()), f"port {port} of {region.id} released twice"
        self.ports[region.id].discard(port)
        self.calls.append(("release", region.id, str(port)))

    async def start_flow(self, flow: Flow) -> None:
        self.calls.append(("start", flow.id))
        if self.refuse_start:
            raise FlowStartError(self.refuse_start)
        self.live.add(flow.id)

    async def stop_flow(self, flow: Flow) -> None:
        self.calls.append(("stop", flow.id))
        self.live.discard(flow.id)

    def input_status(self, flow: Flow, input: FlowInput) -> str:
        assert flow.id in self.live, "input_status asked for a flow that is not live"
        return self.status.get((flow.id, input.name), "disconnected")

    def set_output_forbidden(self, flow: Flow, output: FlowOutput, forbidden: bool) -> None:
        assert flow.id in self.live, "set_output_forbidden asked for a flow that is not live"
        self.forbidden[(flow.id, output.name)] = forbidden
        self.calls.append(("forbid" if forbidden else "resume", flow.id, output.name))
