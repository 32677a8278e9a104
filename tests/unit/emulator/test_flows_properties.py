"""Random sequences of API operations (Hypothesis): whatever is accepted or refused, the manager's
invariants hold: SRT ports owned == ports allocated, limits, families, online flows live in the runtime."""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.errors import FlowError, PortUnavailable
from emulator.model.manager import FlowManager
from emulator.regions import RegionCatalogue
from tests.kit.fake_runtime import FakeRuntime, run

REGIONS = ["ap-southeast-1", "eu-central-1"]
PROTOCOLS = ["RTMP-PUSH", "RTMP-PULL", "SRT-Listener", "SRT-Caller", "Flow"]
URLS = {"RTMP": "rtmp://10.0.0.1/live/k", "SRT": "srt://10.0.0.1:9000"}
DIALING = {"add_input": ("RTMP-PULL", "SRT-Caller"), "add_output": ("RTMP-PUSH", "SRT-Caller")}
"""The protocols whose endpoint is given the remote's URL (an input's from_url, an output's to_url)."""

# Each step: (operation, flow index, protocol index, pair-flow index, flag); weights favour building up.
KINDS = (
    ["add_input"] * 6
    + ["add_output"] * 8
    + ["status"] * 4
    + ["failover"] * 3
    + ["delete_output"] * 2
    + ["delete_input"] * 2
    + ["create", "delete_flow"]
)
step = st.tuples(
    st.sampled_from(KINDS), st.integers(0, 5), st.integers(0, 4), st.integers(0, 5), st.booleans()
)


def apply(m: FlowManager, action: tuple[str, int, int, int, bool], counter: itertools.count[int]) -> None:
    kind, a, b, c, flag = action
    flows = m.flows
    fid = flows[a % len(flows)].id if flows else "none"
    pair = flows[c % len(flows)] if flows else None
    if kind == "create":
        m.create_flow(name=f"F{b}", region=REGIONS[a % 2])
    elif kind in DIALING:
        proto = PROTOCOLS[b]
        url = URLS["SRT" if proto.startswith("SRT") else "RTMP"] if proto in DIALING[kind] else None
        paired = pair if proto == "Flow" and pair else None
        pair_id = paired.id if paired else None
        if kind == "add_input":
            pair_output = next(iter(paired.outputs), None) if paired else None
            name = f"in{next(counter)}"
            m.add_input(
                fid,
                name=name,
                protocol=proto,
                from_url=url,
                pair_flow_id=pair_id,
                pair_output_name=pair_output,
            )
        else:
            pair_input = paired.inputs[0].name if paired and paired.inputs else None
            name = f"out{next(counter)}"
            m.add_output(
                fid, name=name, protocol=proto, to_url=url, pair_flow_id=pair_id, pair_input_name=pair_input
            )
    elif kind == "delete_output":
        names = m.output_names(fid)
        m.delete_output(fid, names[b % len(names)] if names else "none")
    elif kind == "delete_input":
        inputs = m.get_flow(fid).inputs
        m.delete_input(fid, inputs[-1].name if flag and inputs else None)
    elif kind == "delete_flow":
        m.delete_flow(fid)
    elif kind == "status":
        run(m.set_status(fid, "online" if flag else "offline"))
    elif kind == "failover":
        (m.open_failover if flag else m.close_failover)(fid)


def check_invariants(m: FlowManager, runtime: FakeRuntime) -> None:
    owned: dict[str, set[int]] = {r: set() for r in REGIONS}
    for flow in m.flows:
        assert len(flow.inputs) <= (2 if flow.failover_open else 1)
        assert len(flow.outputs) <= 4
        if flow.outputs:
            assert flow.inputs, "outputs without an input"
        for endpoint in [*flow.inputs, *flow.outputs.values()]:
            assert endpoint.family is flow.family
            if endpoint.srt_port is not None:
                assert endpoint.srt_port not in owned[flow.region.id], "port owned twice"
                owned[flow.region.id].add(endpoint.srt_port)
        assert flow.online == (flow.id in runtime.live)
        assert bool(flow.start_time) == flow.online
        assert len({f.name for f in m.flows if f.region is flow.region}) == len(
            [f for f in m.flows if f.region is flow.region]
        )
    for region in REGIONS:
        assert runtime.ports.get(region, set()) == owned[region]


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(step, max_size=40))
def test_random_operation_sequences_keep_invariants(steps: list[tuple[str, int, int, int, bool]]) -> None:
    runtime = FakeRuntime()
    manager = FlowManager(RegionCatalogue.default(srt_port_min=20000, srt_port_max=20004), runtime)
    counter = itertools.count()
    for n in range(4):
        manager.create_flow(name=f"Seed{n}", region=REGIONS[n % 2])
    for action in steps:
        with contextlib.suppress(FlowError, PortUnavailable):
            apply(manager, action, counter)
        check_invariants(manager, runtime)
    run(manager.reset())
    assert manager.flows == [] and runtime.live == set()
    assert all(not ports for ports in runtime.ports.values())
