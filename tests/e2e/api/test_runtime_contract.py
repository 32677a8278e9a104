"""The shared fake runtime (tests/kit/fake_runtime.py) and the real :class:`emulator.runtime.Runtime`
held to the same checks: what the flow manager may ask, and what each raises when it cannot (an
exhausted SRT port range is PortUnavailable, which the API answers 503; a fake that did not raise it
once let a 403-for-503 bug pass). The real runtime runs with its region RTMP servers started, on
127.0.1.1 with a two-port SRT range that is free when the test starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulator.errors import FlowStartError, PortUnavailable
from emulator.model.flow import Flow, FlowInput, FlowOutput, InputProtocol, OutputProtocol
from emulator.regions import Region, RegionCatalogue
from emulator.runtime import Runtime
from tests.kit.fake_runtime import FakeRuntime
from tests.kit.ports import two_free_udp_ports

HOST = "127.0.1.1"


@pytest.fixture
def region() -> Region:
    port = two_free_udp_ports(HOST)
    doc = {"regions": [{"id": "ap-southeast-1", "host": HOST, "rtmp_port": 0}]}
    doc["regions"][0].update(srt_port_min=port, srt_port_max=port + 1)
    return RegionCatalogue.from_dict(doc).get("ap-southeast-1")


@pytest.fixture(params=["fake", "real"])
async def runtime(request: pytest.FixtureRequest, region: Region) -> AsyncIterator[Any]:
    if request.param == "fake":
        yield FakeRuntime()
        return
    real = Runtime(RegionCatalogue(regions=(region,)))
    await real.start()
    try:
        yield real
    finally:
        await real.close()


def flow_without_input(region: Region) -> Flow:
    return Flow(id="f-1", name="F", region=region)


async def test_rtmp_urls_name_the_region_host(runtime: Any, region: Region) -> None:
    host, port = runtime.rtmp_address(region)
    assert host == region.host and 0 < port < 65536


async def test_an_exhausted_srt_range_raises_port_unavailable(runtime: Any, region: Region) -> None:
    first, second = runtime.allocate_srt_port(region), runtime.allocate_srt_port(region)
    assert {first, second} == {region.srt_port_min, region.srt_port_max}
    with pytest.raises(PortUnavailable):
        runtime.allocate_srt_port(region)
    runtime.release_srt_port(region, first)
    assert runtime.allocate_srt_port(region) == first


async def test_reserving_a_taken_port_raises_port_unavailable(runtime: Any, region: Region) -> None:
    port = runtime.allocate_srt_port(region)
    with pytest.raises(PortUnavailable):
        runtime.reserve_srt_port(region, port)
    runtime.release_srt_port(region, port)
    runtime.reserve_srt_port(region, port)  # free again: taken for a state import


async def test_starting_a_flow_without_input_raises_flow_start_error(runtime: Any, region: Region) -> None:
    with pytest.raises(FlowStartError):
        await runtime.start_flow(flow_without_input(region))


async def test_an_offline_flow_reports_offline_and_ignores_forbid(runtime: Any, region: Region) -> None:
    flow = flow_without_input(region)
    inp = FlowInput(name="In", protocol=InputProtocol.RTMP_PUSH)
    out = FlowOutput(name="Out", protocol=OutputProtocol.RTMP_PULL)
    flow.inputs.append(inp)
    flow.outputs[out.name] = out
    assert runtime.input_status(flow, inp) == "offline"
    runtime.set_output_forbidden(flow, out, True)  # nothing live: nothing to do, no error
    await runtime.stop_flow(flow)  # stopping a flow that is not live is harmless


async def test_the_real_runtime_owns_its_manager_and_close_stops_listening(region: Region) -> None:
    real = Runtime(RegionCatalogue(regions=(region,)))
    assert real.manager.runtime is real  # complete at construction: no attach step
    await real.start()
    flow = flow_without_input(region)
    flow.inputs.append(FlowInput(name="In", protocol=InputProtocol.RTMP_PUSH))
    await real.start_flow(flow)
    host, port = real.rtmp_address(region)
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await real.close()
    assert real.live == {} and real.rtmp_servers == {}
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)
