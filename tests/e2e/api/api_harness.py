"""Harness for the API end-to-end tests: a real ApiServer on 127.0.0.1 (port 0) running in its own
event-loop thread, driven by the official SDK (alibabacloud_ice20201109) exactly as users call it.

The flow runtime here is the shared fake (tests/kit/fake_runtime.py), which records what the manager
asked and raises what the real runtime raises (test_runtime_contract.py holds the two to the same
checks); the real one (emulator/runtime.py) brings RTMP/SRT endpoints live and is tested with real media
elsewhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import pytest
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config

from emulator.api import ApiServer
from emulator.model.manager import FlowManager
from emulator.regions import RegionCatalogue
from tests.kit.fake_runtime import FakeRuntime

T = TypeVar("T")


class ApiThread:
    """A FlowManager + ApiServer served from a background event loop, so the blocking SDK can call it."""

    def __init__(
        self,
        *,
        access_keys: Mapping[str, str] | None = None,
        catalogue: RegionCatalogue | None = None,
        extra_state: Callable[[], Any] | None = None,
    ) -> None:
        self.runtime = FakeRuntime()
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
