"""The one error table and the one error middleware (emulator/api/errors.py): every route answers a
domain error with the table's status, the ICE RPC in the ICE body and the admin routes in
``{"error": ...}``, also routes added after build_app and routes on an application build_app did not
make; no row of the table is shadowed by an earlier one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from emulator.api import ApiServer, build_app
from emulator.api.admin import add_event_routes
from emulator.api.errors import ERROR_CODES, INTERNAL_ERROR, error_code
from emulator.errors import (
    EmulatorError,
    InvalidValue,
    MissingValue,
    NotFound,
    PortUnavailable,
    SignatureMismatch,
    WrongState,
)
from emulator.events import EventBus
from emulator.model.manager import FlowManager
from emulator.regions import RegionCatalogue
from tests.kit.fake_runtime import FakeRuntime


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def manager() -> FlowManager:
    return FlowManager(RegionCatalogue.default(srt_port_min=10000, srt_port_max=10009), FakeRuntime())


def test_no_row_of_the_table_is_shadowed_by_an_earlier_one() -> None:
    classes = [cls for cls, _status, _code in ERROR_CODES]
    assert len(set(classes)) == len(classes)
    for i, earlier in enumerate(classes):
        for later in classes[i + 1 :]:
            assert not issubclass(later, earlier), f"{later.__name__} is answered as {earlier.__name__}"


def test_anything_not_in_the_table_is_an_internal_error() -> None:
    assert error_code(RuntimeError("x")) == INTERNAL_ERROR
    assert error_code(EmulatorError("x")) == INTERNAL_ERROR
    assert error_code(PortUnavailable("x")) == (503, "ServiceUnAvailable")


RAISED: list[tuple[Callable[[], BaseException], int, str]] = [
    (lambda: NotFound("FlowId", "no flow with id 'x'"), 404, "FlowId: no flow with id 'x'"),
    (lambda: InvalidValue("Cidrs", "'x' is not a CIDR"), 400, "Cidrs: 'x' is not a CIDR"),
    (lambda: MissingValue("Name"), 400, "Name is required"),
    (lambda: WrongState("flow f is online"), 403, "flow f is online"),
    (lambda: PortUnavailable("no free SRT port"), 503, "no free SRT port"),
    (lambda: ValueError("the body is not valid JSON"), 400, "the body is not valid JSON"),
    (lambda: RuntimeError("a bug"), 500, "RuntimeError: a bug"),
]


@pytest.mark.parametrize(("make", "status", "message"), RAISED, ids=[r[2].split(":")[0] for r in RAISED])
async def test_an_admin_route_added_later_answers_from_the_table(
    http: aiohttp.ClientSession, make: Callable[[], BaseException], status: int, message: str
) -> None:
    m = manager()
    app = build_app(m)

    async def failing(request: web.Request) -> web.Response:
        raise make()

    app.router.add_get("/_emulator/later", failing)
    async with ApiServer(m, app=app) as server, http.get(f"{server.url}/_emulator/later") as r:
        assert (r.status, await r.json()) == (status, {"error": message})


async def test_a_transport_refusal_on_an_admin_route_answers_the_ice_body(
    http: aiohttp.ClientSession,
) -> None:
    m = manager()
    app = build_app(m)

    async def refusing(request: web.Request) -> web.Response:
        raise SignatureMismatch("the signature does not match")

    app.router.add_get("/_emulator/refusing", refusing)
    async with ApiServer(m, app=app) as server, http.get(f"{server.url}/_emulator/refusing") as r:
        body = await r.json()
    assert r.status == 400 and body["Code"] == "SignatureDoesNotMatch"
    assert body["Message"] == "the signature does not match" and body["RequestId"]


async def test_the_rpc_answers_the_ice_body(http: aiohttp.ClientSession) -> None:
    m = manager()
    async with ApiServer(m) as server:
        params = {"Action": "GetMediaConnectFlow", "Version": "2020-11-09", "FlowId": "nope"}
        async with http.post(f"{server.url}/", params=params) as r:
            body = await r.json()
    assert r.status == 404 and body["Code"] == "ResourceNotFound"
    assert body["Message"] == "FlowId: no flow with id 'nope'"
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


async def test_routes_on_an_app_build_app_did_not_make_answer_the_same(http: aiohttp.ClientSession) -> None:
    app = web.Application()
    add_event_routes(app, EventBus())
    m = manager()
    async with ApiServer(m, app=app) as server:
        async with http.get(f"{server.url}/_emulator/events?after=x") as r:
            assert (r.status, await r.json()) == (400, {"error": "after: 'x' is not an event id"})
        async with http.get(f"{server.url}/elsewhere") as r:
            assert r.status == 404  # aiohttp's own answer outside the API's routes
