"""The admin API under /_emulator/ (health, state, reset), plain-HTTP RPC calls as curl would make them,
and the extension points the emulator wiring uses (extra_state, extra routes on the app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator.api import ApiServer, build_app
from emulator.model.manager import FlowManager
from emulator.regions import RegionCatalogue
from tests.kit.fake_runtime import FakeRuntime


def make_manager() -> tuple[FlowManager, FakeRuntime]:
    runtime = FakeRuntime()
    return FlowManager(RegionCatalogue.default(srt_port_min=10000, srt_port_max=10099), runtime), runtime


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def rpc(http: aiohttp.ClientSession, server: ApiServer, action: str, **params: str) -> tuple[int, Any]:
    async with http.post(f"{server.url}/", params={"Action": action, "Version": "2020-11-09", **params}) as r:
        return r.status, await r.json()


async def test_health(http: aiohttp.ClientSession) -> None:
    manager, _ = make_manager()
    async with ApiServer(manager) as server, http.get(f"{server.url}/_emulator/health") as r:
        assert r.status == 200
        body = await r.json()
    assert body["status"] == "ok" and isinstance(body["version"], str) and body["version"]


async def test_unsigned_rpc_like_curl_and_state(http: aiohttp.ClientSession) -> None:
    manager, _ = make_manager()
    async with ApiServer(manager, extra_state=lambda: {"sessions": [{"peer": "127.0.0.1:5000"}]}) as server:
        status, body = await rpc(
            http, server, "CreateMediaConnectFlow", FlowName="A", FlowRegion="cn-shenzhen"
        )
        assert status == 200 and body["RetCode"] == 0 and body["Description"] == "OK"
        flow_id = body["Content"]["FlowId"]
        status, body = await rpc(http, server, "GetMediaConnectFlow", FlowId=flow_id)
        assert (status, body["Retcode"], body["Content"]["FlowRegion"]) == (200, 0, "cn-shenzhen")
        async with http.get(f"{server.url}/", params={"Action": "GetMediaConnectAvailableRegion"}) as r:
            assert r.status == 200 and (await r.json())["Content"]["DefaultRegion"] == "ap-southeast-1"
        async with http.get(f"{server.url}/_emulator/state") as r:
            state = await r.json()
    assert [f["id"] for f in state["flows"]] == [flow_id]
    assert state["flows"][0]["region"] == "cn-shenzhen" and state["default_region"] == "ap-southeast-1"
    assert len(state["regions"]) == 8 and state["sessions"] == [{"peer": "127.0.0.1:5000"}]


async def test_error_body_shape(http: aiohttp.ClientSession) -> None:
    manager, _ = make_manager()
    async with ApiServer(manager) as server:
        status, body = await rpc(http, server, "GetMediaConnectFlow", FlowId="missing")
        assert status == 404
        assert set(body) == {"RequestId", "Code", "Message", "HostId", "Recommend"}
        assert body["Code"] == "ResourceNotFound" and body["Message"].startswith("FlowId")
        async with http.post(f"{server.url}/") as r:
            assert r.status == 400 and (await r.json())["Code"] == "MissingParameter"


async def test_reset_stops_flows_and_frees_ports(http: aiohttp.ClientSession) -> None:
    manager, runtime = make_manager()
    async with ApiServer(manager) as server:
        _, body = await rpc(http, server, "CreateMediaConnectFlow", FlowName="A", FlowRegion="ap-southeast-1")
        flow_id = body["Content"]["FlowId"]
        status, body = await rpc(
            http,
            server,
            "AddMediaConnectFlowInput",
            FlowId=flow_id,
            InputName="in",
            InputProtocol="SRT-Listener",
        )
        assert status == 200 and body["Content"]["InputUrl"] == "srt://127.0.1.1:10000"
        await rpc(http, server, "UpdateMediaConnectFlowStatus", FlowId=flow_id, Status="online")
        assert runtime.live == {flow_id} and runtime.ports["ap-southeast-1"] == {10000}
        async with http.post(f"{server.url}/_emulator/reset") as r:
            assert r.status == 200 and (await r.json()) == {"status": "ok"}
        assert runtime.live == set() and runtime.ports["ap-southeast-1"] == set() and manager.flows == []
        status, body = await rpc(http, server, "GetMediaConnectFlow", FlowId=flow_id)
        assert status == 404


async def test_async_extra_state_and_admin_errors(http: aiohttp.ClientSession) -> None:
    manager, _ = make_manager()

    async def extra() -> dict[str, Any]:
        return {"links": []}

    async with (
        ApiServer(manager, extra_state=extra) as server,
        http.get(f"{server.url}/_emulator/state") as r,
    ):
        assert (await r.json())["links"] == []

    def broken() -> dict[str, Any]:
        raise RuntimeError("runtime state unavailable")

    async with (
        ApiServer(manager, extra_state=broken) as server,
        http.get(f"{server.url}/_emulator/state") as r,
    ):
        assert r.status == 500
        assert "runtime state unavailable" in (await r.json())["error"]


async def test_more_routes_can_be_added_to_the_app(http: aiohttp.ClientSession) -> None:
    manager, _ = make_manager()
    app = build_app(manager)

    async def links(request: web.Request) -> web.Response:
        return web.json_response({"links": ["sg-fra"]})

    app.router.add_get("/_emulator/links", links)
    async with ApiServer(manager, app=app) as server:
        assert server.port > 0
        async with http.get(f"{server.url}/_emulator/links") as r:
            assert (await r.json()) == {"links": ["sg-fra"]}
        async with http.get(f"{server.url}/_emulator/health") as r:
            assert r.status == 200


@pytest.mark.parametrize("value", ["1_000_000", "1e6", "0x10", "12.5", "ten"])
async def test_integers_are_decimal_only(http: aiohttp.ClientSession, value: str) -> None:
    manager, _ = make_manager()
    async with ApiServer(manager) as server:
        _, body = await rpc(http, server, "CreateMediaConnectFlow", FlowName="A", FlowRegion="ap-southeast-1")
        status, body = await rpc(
            http,
            server,
            "AddMediaConnectFlowInput",
            FlowId=body["Content"]["FlowId"],
            InputName="in",
            InputProtocol="RTMP-PUSH",
            MaxBitrate=value,
        )
    assert (status, body["Code"]) == (400, "InvalidParameter")
    assert body["Message"] == f"MaxBitrate: {value!r} is not an integer"
