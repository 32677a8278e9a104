"""FlowManager: status changes, offline-only changes, deletes, failover, forbid, ports, reset, snapshot."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from emulator.errors import FlowStartError, InvalidValue, MissingValue, NotFound, WrongState
from emulator.model.flow import Flow, FlowInput
from emulator.model.manager import FlowManager
from tests.kit.fake_runtime import FakeRuntime, run

SG, FRA = "ap-southeast-1", "eu-central-1"


def flow_with_io(m: FlowManager, name: str = "A", protocol: str = "RTMP-PUSH") -> Flow:
    flow = m.create_flow(name=name, region=SG)
    m.add_input(flow.id, name="in", protocol=protocol)
    m.add_output(flow.id, name="out", protocol="RTMP-PULL" if protocol.startswith("RTMP") else "SRT-Listener")
    return flow


def test_start_and_stop(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = flow_with_io(manager)
    run(manager.set_status(flow.id, "online"))
    assert flow.online and flow.status == "online" and flow.start_time == "2023-11-14T22:13:20Z"
    assert runtime.live == {flow.id}
    run(manager.set_status(flow.id, "online"))  # idempotent: no second start
    assert [c for c in runtime.calls if c[0] == "start"] == [("start", flow.id)]
    run(manager.set_status(flow.id, "offline"))
    assert (flow.status, flow.start_time, runtime.live) == ("offline", "", set())
    run(manager.set_status(flow.id, "offline"))
    assert [c for c in runtime.calls if c[0] == "stop"] == [("stop", flow.id)]


def test_status_values(manager: FlowManager) -> None:
    flow = flow_with_io(manager)
    with pytest.raises(InvalidValue) as info:
        run(manager.set_status(flow.id, "running"))
    assert info.value.field == "Status" and "online, offline" in str(info.value)
    with pytest.raises(MissingValue):
        run(manager.set_status(flow.id, None))
    with pytest.raises(NotFound):
        run(manager.set_status("nope", "online"))


def test_start_needs_an_input(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = manager.create_flow(name="A", region=SG)
    with pytest.raises(WrongState, match="no input"):
        run(manager.set_status(flow.id, "online"))
    assert not flow.online and runtime.calls == []


def test_runtime_refusal_keeps_flow_offline(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = flow_with_io(manager)
    runtime.refuse_start = "paired flow is gone"
    with pytest.raises(FlowStartError, match="paired flow is gone"):
        run(manager.set_status(flow.id, "online"))
    assert flow.status == "offline" and flow.start_time == ""
    runtime.refuse_start = None
    run(manager.set_status(flow.id, "online"))
    assert flow.online


def test_configuration_changes_refused_while_online(manager: FlowManager) -> None:
    flow = flow_with_io(manager)
    run(manager.set_status(flow.id, "online"))
    attempts: list[tuple[Any, ...]] = [
        (manager.add_input, flow.id),
        (manager.update_input, flow.id),
        (manager.delete_input, flow.id),
        (manager.add_output, flow.id),
        (manager.update_output, flow.id, "out"),
        (manager.delete_output, flow.id, "out"),
        (manager.open_failover, flow.id),
        (manager.close_failover, flow.id),
        (manager.delete_flow, flow.id),
    ]
    for call, *args in attempts:
        kw = {"name": "x", "protocol": "RTMP-PUSH"} if call in (manager.add_input, manager.add_output) else {}
        with pytest.raises(WrongState) as info:
            call(*args, **kw)
        assert "is online; set it offline" in str(info.value), call
    assert len(flow.outputs) == 1 and len(flow.inputs) == 1 and manager.get_flow(flow.id) is flow


def test_delete_flow_releases_everything(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = flow_with_io(manager, protocol="SRT-Listener")
    assert runtime.ports[SG] == {10000, 10001}
    manager.delete_flow(flow.id)
    assert runtime.ports[SG] == set()
    with pytest.raises(NotFound):
        manager.get_flow(flow.id)
    again = flow_with_io(manager, protocol="SRT-Listener")  # the name and ports are free again
    assert again.inputs[0].srt_port == 10000


def test_input_deletable_only_without_outputs(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = flow_with_io(manager, protocol="SRT-Listener")
    with pytest.raises(WrongState, match="still has outputs"):
        manager.delete_input(flow.id)
    manager.delete_output(flow.id, "out")
    assert runtime.ports[SG] == {10000}
    manager.delete_input(flow.id, "in")
    assert flow.inputs == [] and runtime.ports[SG] == set()
    with pytest.raises(NotFound, match="no input"):
        manager.delete_input(flow.id)


def test_failover_lifecycle(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    with pytest.raises(WrongState, match="no input"):
        manager.open_failover(flow.id)
    manager.add_input(flow.id, name="main", protocol="RTMP-PUSH")
    manager.open_failover(flow.id)
    manager.open_failover(flow.id)  # idempotent
    assert flow.failover_open
    backup = manager.add_input(flow.id, name="spare", protocol="RTMP-PUSH")
    manager.add_output(flow.id, name="out", protocol="RTMP-PULL")
    with pytest.raises(WrongState, match="backup input 'spare'"):
        manager.close_failover(flow.id)
    with pytest.raises(MissingValue) as info:
        manager.delete_input(flow.id)
    assert info.value.field == "InputName"
    with pytest.raises(WrongState, match="delete the backup input 'spare' first"):
        manager.delete_input(flow.id, "main")
    assert manager.get_input(flow.id, "spare") is backup
    manager.delete_input(flow.id, "spare")  # a backup goes even with outputs present
    manager.close_failover(flow.id)
    manager.close_failover(flow.id)
    assert not flow.failover_open and [i.name for i in flow.inputs] == ["main"]


def test_update_input(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    inp = manager.add_input(
        flow.id, name="in", protocol="SRT-Listener", cidrs="10.0.0.0/8", srt_passphrase="secret-pass-1"
    )
    manager.update_input(flow.id, max_bitrate=5_000_000, srt_latency=400)
    assert (inp.max_bitrate, inp.srt_latency, inp.cidrs, inp.srt_pbkeylen) == (
        5_000_000,
        400,
        "10.0.0.0/8",
        16,
    )
    manager.update_input(flow.id, name="in", cidrs="", srt_passphrase="")
    assert (inp.cidrs, inp.srt_passphrase) == ("", "")
    with pytest.raises(InvalidValue) as info:
        manager.update_input(flow.id, srt_pbkeylen=20, max_bitrate=1000)
    assert info.value.field == "SrtPbkeyLen" and inp.max_bitrate == 5_000_000  # nothing applied
    with pytest.raises(InvalidValue, match=r"^InputFromUrl"):
        manager.update_input(flow.id, from_url="srt://h:1")
    with pytest.raises(NotFound):
        manager.update_input(flow.id, name="other")


def test_update_pull_input_source(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    inp = manager.add_input(flow.id, name="in", protocol="RTMP-PULL", from_url="rtmp://h/live/a")
    manager.update_input(flow.id, from_url="rtmp://h2/live/b")
    assert inp.url == inp.from_url == "rtmp://h2/live/b"
    with pytest.raises(InvalidValue, match=r"^InputFromUrl"):
        manager.update_input(flow.id, from_url="srt://h:1")


def test_update_output(manager: FlowManager) -> None:
    flow = flow_with_io(manager)
    out = manager.update_output(flow.id, "out", player_limit=3, cidrs="192.168.0.0/16")
    assert (out.player_limit, out.cidrs) == (3, "192.168.0.0/16")
    push = manager.add_output(flow.id, name="push", protocol="RTMP-PUSH", to_url="rtmp://h/live/a")
    manager.update_output(flow.id, "push", to_url="rtmp://h/live/b")
    assert push.url == push.to_url == "rtmp://h/live/b"
    with pytest.raises(InvalidValue, match=r"^PlayerLimit"):
        manager.update_output(flow.id, "push", player_limit=2)
    with pytest.raises(NotFound, match=r"^OutputName"):
        manager.update_output(flow.id, "ghost", player_limit=2)


def test_forbid_and_resume(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = flow_with_io(manager)
    manager.forbid_output(flow.id, "out")
    assert (
        flow.outputs["out"].forbid and runtime.forbidden == {}
    )  # offline: the runtime reads .forbid at start
    run(manager.set_status(flow.id, "online"))
    manager.resume_output(flow.id, "out")
    manager.resume_output(flow.id, "out")  # idempotent
    manager.forbid_output(flow.id, "out")
    assert [c for c in runtime.calls if c[0] in ("forbid", "resume")] == [
        ("resume", flow.id, "out"),
        ("forbid", flow.id, "out"),
    ]
    with pytest.raises(NotFound):
        manager.forbid_output(flow.id, "ghost")


def test_input_status_comes_from_the_runtime_while_online(manager: FlowManager, runtime: FakeRuntime) -> None:
    flow = flow_with_io(manager)
    inp = flow.inputs[0]
    assert manager.input_status(flow, inp) == "offline"
    run(manager.set_status(flow.id, "online"))
    assert manager.input_status(flow, inp) == "disconnected"
    runtime.status[(flow.id, "in")] = "connected"
    assert manager.input_status(flow, inp) == "connected"


class _Gate:
    """An awaitable that suspends once: lets a test observe the manager mid-start."""

    def __await__(self) -> Generator[None, None, None]:
        yield


class _SlowRuntime(FakeRuntime):
    async def start_flow(self, flow: Flow) -> None:
        await _Gate()
        await super().start_flow(flow)


def test_changes_refused_while_status_is_changing(catalogue: Any) -> None:
    runtime = _SlowRuntime()
    manager = FlowManager(catalogue, runtime)
    flow = flow_with_io(manager)
    starting = manager.set_status(flow.id, "online")
    starting.send(None)  # suspended inside start_flow
    with pytest.raises(WrongState, match="changing status"):
        manager.add_output(flow.id, name="o2", protocol="RTMP-PULL")
    with pytest.raises(WrongState, match="changing status"):
        run(manager.set_status(flow.id, "offline"))
    with pytest.raises(StopIteration):
        starting.send(None)
    assert flow.online


def test_reset_stops_releases_and_forgets(manager: FlowManager, runtime: FakeRuntime) -> None:
    a = flow_with_io(manager, "A", "SRT-Listener")
    b = flow_with_io(manager, "B", "SRT-Listener")
    run(manager.set_status(a.id, "online"))
    run(manager.reset())
    assert ("stop", a.id) in runtime.calls and ("stop", b.id) not in runtime.calls
    assert runtime.ports[SG] == set() and manager.flows == [] and runtime.live == set()
    assert a.status == "offline"


def test_snapshot_is_json(manager: FlowManager, runtime: FakeRuntime) -> None:
    a = flow_with_io(manager, "A")
    manager.add_input(
        manager.create_flow(name="B", region=FRA).id,
        name="bin",
        protocol="Flow",
        pair_flow_id=a.id,
        pair_output_name="out",
    )
    run(manager.set_status(a.id, "online"))
    runtime.status[(a.id, "in")] = "connected"
    snap = json.loads(json.dumps(manager.snapshot()))
    assert [r["id"] for r in snap["regions"]][:2] == [SG, FRA] and snap["default_region"] == SG
    fa, fb = snap["flows"]
    assert (fa["name"], fa["status"], fa["inputs"][0]["status"], fa["outputs"][0]["name"]) == (
        "A",
        "online",
        "connected",
        "out",
    )
    assert fb["inputs"][0]["pair_flow_id"] == a.id and fb["inputs"][0]["status"] == "offline"


def test_find_flow(manager: FlowManager) -> None:
    a = manager.create_flow(name="A", region=SG)
    assert manager.find_flow(SG, "A") is a and manager.find_flow(FRA, "A") is None


def test_get_input_default_is_primary(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    with pytest.raises(NotFound, match="no input"):
        manager.get_input(flow.id)
    inp: FlowInput = manager.add_input(flow.id, name="in", protocol="RTMP-PUSH")
    assert manager.get_input(flow.id) is inp and manager.get_input(flow.id, "") is inp


class _BrokenStopRuntime(FakeRuntime):
    async def stop_flow(self, flow: Flow) -> None:
        raise OSError("socket already gone")


def test_stop_failure_still_leaves_the_flow_offline(catalogue: Any) -> None:
    manager = FlowManager(catalogue, _BrokenStopRuntime())
    flow = flow_with_io(manager)
    run(manager.set_status(flow.id, "online"))
    run(manager.set_status(flow.id, "offline"))
    assert flow.status == "offline" and flow.start_time == ""
