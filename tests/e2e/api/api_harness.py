"""Harness for the API end-to-end tests: a real ApiServer on 127.0.0.1 (port 0) running in its own
event-loop thread, driven by the official SDK (alibabacloud_ice20201109) exactly as users call it.

The flow runtime here is a small in-test implementation of emulator.flows.FlowRuntime that records what
the manager asked; the real one (emulator/runtime.py) brings RTMP/SRT endpoints live and is tested with
real media elsewhere."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import pytest
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config

from emulator.api import ApiServer
from emulator.errors import FlowStartError, PortUnavailable
from emulator.flows import Flow, FlowInput, FlowManager, FlowOutput
from emulator.regions import Region, RegionCatalogue

T = TypeVar("T")


class ApiTestRuntime:
    """Records start / stop / forbid; ports from the region's range; input status settable by tests."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.ports: dict[str, set[int]] = {}
        self.refuse_start: str | None = None
        self.status: dict[tuple[str, str], str] = {}
        self.forbidden: dict[tuple[str, str], bool] = {}
        self._ephemeral = itertools.count(41000)

    def rtmp_address(self, region: Region) -> tuple[str, int]:
        return region.host, region.rtmp_port or 19350

    def allocate_srt_port(self, region: Region) -> int:
        taken = self.ports.setdefault(region.id, set())
        if region.srt_port_min == 0:
            port = next(self._ephemeral)
        else:
            free = [p for p in range(region.srt_port_min, region.srt_port_max + 1) if p not in taken]
            if not free:  # what emulator.runtime.Runtime raises too
                raise PortUnavailable(f"no free SRT port left in {region.id}")
            port = free[0]
        taken.add(port)
        return port

    def release_srt_port(self, region: Region, port: int) -> None:
        self.ports[region.id].remove(port)

    async def start_flow(self, flow: Flow) -> None:
        if self.refuse_start:
            raise FlowStartError(self.refuse_start)
        self.live.add(flow.id)

    async def stop_flow(self, flow: Flow) -> None:
        self.live.discard(flow.id)

    def input_status(self, flow: Flow, input: FlowInput) -> str:
        return self.status.get((flow.id, input.name), "disconnected")

    def set_output_forbidden(self, flow: Flow, output: FlowOutput, forbidden: bool) -> None:
        self.forbidden[(flow.id, output.name)] = forbidden


class ApiThread:
    """A FlowManager + ApiServer served from a background event loop, so the blocking SDK can call it."""

    def __init__(
        self,
        *,
        access_keys: Mapping[str, str] | None = None,
        catalogue: RegionCatalogue | None = None,
        extra_state: Callable[[], Any] | None = None,
    ) -> None:
        self.runtime = ApiTestRuntime()
        self.manager = FlowManager(
            catalogue or RegionCatalogue.default(srt_port_min=10000, srt_port_max=10099), self.runtime
        )
        self.server = ApiServer(self.manager, access_keys=access_keys, extra_state=extra_state)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="api-loop", daemon=True)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def __enter__(self) -> ApiThread:
        self._thread.start()
        self.run(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, *, v1: bool = False, ak: str = "test-ak", secret: str = "test-secret") -> Client:
        """The official SDK client, configured as the README tells users to."""
        cfg = Config(
            access_key_id=ak,
            access_key_secret=secret,
            region_id="ap-southeast-1",
            endpoint=f"127.0.0.1:{self.port}",
            protocol="http",
        )
        if v1:
            cfg.signature_algorithm = "v2"
        return Client(cfg)


def sdk_error(call: Callable[..., Any], *args: Any, **kw: Any) -> AlibabaCloudException:
    """Call the SDK expecting a refusal; return the SDK's exception (status_code, code, data)."""
    with pytest.raises(AlibabaCloudException) as info:
        call(*args, **kw)
    return info.value


def assert_refused(
    call: Callable[..., Any], *args: Any, status: int, code: str, field: str | None = None, **kw: Any
) -> str:
    """The SDK raised for HTTP ``status`` with ICE ``code`` and a message naming ``field``; return it."""
    exc = sdk_error(call, *args, **kw)
    data: dict[str, Any] = exc.data or {}
    message = str(data.get("Message", ""))
    assert (exc.status_code, exc.code) == (status, code), (exc.status_code, exc.code, message)
    assert data.get("RequestId") and data.get("HostId") and data.get("Recommend"), data
    if field is not None:
        assert message.startswith(field), message
    return message
