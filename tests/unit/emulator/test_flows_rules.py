"""FlowManager: every rule of ICE-API.md about names, inputs, outputs, values and Flow pairing."""

from __future__ import annotations

import re

import pytest

from emulator.errors import FlowError, InvalidValue, MissingValue, NotFound, PortUnavailable, WrongState
from emulator.model.flow import Family, Flow, InputProtocol, OutputProtocol
from emulator.model.manager import FlowManager
from tests.kit.fake_runtime import FakeRuntime

SG, FRA = "ap-southeast-1", "eu-central-1"


def refused(exc_type: type[FlowError], field: str | None, call: object, *args: object, **kw: object) -> str:
    """Call and return the message of the expected refusal; the message names ``field``."""
    assert callable(call)
    with pytest.raises(exc_type) as info:
        call(*args, **kw)
    message = str(info.value)
    if field is not None:
        assert info.value.field == field, message
        assert message.startswith(field), message
    return message


def rtmp_flow(m: FlowManager, name: str = "A", region: str = SG) -> Flow:
    flow = m.create_flow(name=name, region=region)
    m.add_input(flow.id, name=f"{name}in", protocol="RTMP-PUSH")
    return flow


def srt_flow(m: FlowManager, name: str = "S", region: str = SG) -> Flow:
    flow = m.create_flow(name=name, region=region)
    m.add_input(flow.id, name=f"{name}in", protocol="SRT-Listener")
    return flow


# --- names -------------------------------------------------------------------------------------------


def test_flow_names(manager: FlowManager) -> None:
    flow = manager.create_flow(name="Flow_A-1", region=SG)
    assert (flow.name, flow.region.id, flow.status, flow.create_time) == (
        "Flow_A-1",
        SG,
        "offline",
        "2023-11-14T22:13:20Z",
    )
    manager.create_flow(name="x" * 64, region=SG)
    assert "at most 64" in refused(InvalidValue, "FlowName", manager.create_flow, name="x" * 65, region=SG)
    for bad in ("has space", "dot.ted", "slash/", "ünï"):
        refused(InvalidValue, "FlowName", manager.create_flow, name=bad, region=SG)
    refused(MissingValue, "FlowName", manager.create_flow, name="", region=SG)
    refused(MissingValue, "FlowName", manager.create_flow, name=None, region=SG)


def test_flow_name_unique_per_region(manager: FlowManager) -> None:
    manager.create_flow(name="A", region=SG)
    msg = refused(InvalidValue, "FlowName", manager.create_flow, name="A", region=SG)
    assert "already exists" in msg
    assert manager.create_flow(name="A", region=FRA).region.id == FRA


def test_flow_region_must_exist(manager: FlowManager) -> None:
    assert "mars-1" in refused(InvalidValue, "FlowRegion", manager.create_flow, name="A", region="mars-1")
    refused(MissingValue, "FlowRegion", manager.create_flow, name="A", region="")


def test_input_and_output_name_limits(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    refused(InvalidValue, "InputName", manager.add_input, flow.id, name="i" * 129, protocol="RTMP-PUSH")
    refused(InvalidValue, "InputName", manager.add_input, flow.id, name="in put", protocol="RTMP-PUSH")
    manager.add_input(flow.id, name="i" * 128, protocol="RTMP-PUSH")
    refused(InvalidValue, "OutputName", manager.add_output, flow.id, name="o" * 129, protocol="RTMP-PULL")
    refused(InvalidValue, "OutputName", manager.add_output, flow.id, name="o:1", protocol="RTMP-PULL")
    refused(MissingValue, "OutputName", manager.add_output, flow.id, name="", protocol="RTMP-PULL")
    manager.add_output(flow.id, name="o" * 128, protocol="RTMP-PULL")


def test_output_names_unique_in_flow_only(manager: FlowManager) -> None:
    a, b = rtmp_flow(manager, "A"), rtmp_flow(manager, "B")
    manager.add_output(a.id, name="out", protocol="RTMP-PULL")
    assert "already has an output" in refused(
        InvalidValue, "OutputName", manager.add_output, a.id, name="out", protocol="RTMP-PULL"
    )
    manager.add_output(b.id, name="out", protocol="RTMP-PULL")


def test_unknown_ids(manager: FlowManager) -> None:
    refused(NotFound, "FlowId", manager.get_flow, "nope")
    refused(MissingValue, "FlowId", manager.get_flow, "")
    flow = rtmp_flow(manager)
    refused(NotFound, "OutputName", manager.get_output, flow.id, "nope")
    refused(NotFound, "InputName", manager.get_input, flow.id, "nope")


# --- inputs ------------------------------------------------------------------------------------------


def test_rtmp_push_input_url_and_stream_key(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=FRA)
    inp = manager.add_input(flow.id, name="FlowAInput", protocol="RTMP-PUSH", max_bitrate=1_000_000)
    assert re.fullmatch(r"rtmp://127\.0\.1\.2:1935/live/FlowAInput_[0-9a-f]{32}", inp.url), inp.url
    assert inp.url.endswith("/live/" + inp.stream_key)
    assert (inp.protocol, inp.family, inp.max_bitrate, inp.backup) == (
        InputProtocol.RTMP_PUSH,
        Family.RTMP,
        1_000_000,
        False,
    )
    assert inp.inner_url == "" and inp.srt_latency is None and inp.srt_port is None
    assert manager.endpoint_for_stream_key(FRA, inp.stream_key) == (flow, inp)
    assert manager.endpoint_for_stream_key(SG, inp.stream_key) is None


def test_with_internal_vip_gives_inner_url_for_push_inputs_only(manager: FlowManager) -> None:
    a = manager.create_flow(name="A", region=SG)
    inp = manager.add_input(a.id, name="in", protocol="SRT-Listener", with_internal_vip=True)
    assert inp.inner_url == inp.url
    b = manager.create_flow(name="B", region=SG)
    pull = manager.add_input(
        b.id, name="in", protocol="RTMP-PULL", from_url="rtmp://10.0.0.1/live/x", with_internal_vip=True
    )
    assert pull.inner_url == ""


def test_only_one_input_without_failover(manager: FlowManager) -> None:
    flow = rtmp_flow(manager)
    msg = refused(WrongState, None, manager.add_input, flow.id, name="second", protocol="RTMP-PUSH")
    assert "failover" in msg


def test_backup_input_same_protocol_after_failover(manager: FlowManager) -> None:
    flow = rtmp_flow(manager)
    manager.open_failover(flow.id)
    refused(
        InvalidValue,
        "InputProtocol",
        manager.add_input,
        flow.id,
        name="b",
        protocol="RTMP-PULL",
        from_url="rtmp://h/live/k",
    )
    refused(InvalidValue, "InputName", manager.add_input, flow.id, name="Ain", protocol="RTMP-PUSH")
    backup = manager.add_input(flow.id, name="b", protocol="RTMP-PUSH")
    assert backup.backup and flow.backup_input is backup and flow.primary_input is not backup
    assert backup.stream_key != flow.inputs[0].stream_key
    refused(WrongState, None, manager.add_input, flow.id, name="c", protocol="RTMP-PUSH")


def test_input_protocol_values(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    msg = refused(InvalidValue, "InputProtocol", manager.add_input, flow.id, name="i", protocol="rtmp-push")
    assert "RTMP-PUSH, RTMP-PULL, SRT-Listener, SRT-Caller, Flow" in msg
    refused(MissingValue, "InputProtocol", manager.add_input, flow.id, name="i", protocol=None)


@pytest.mark.parametrize(
    ("protocol", "url", "field_msg"),
    [
        ("RTMP-PULL", None, "required"),
        ("RTMP-PULL", "srt://1.2.3.4:9000", "rtmp://"),
        ("RTMP-PULL", "rtmp://1.2.3.4/live", "app and a stream key"),
        ("RTMP-PULL", "rtmp:///live/x", "no host"),
        ("SRT-Caller", "rtmp://1.2.3.4/live/x", "srt://"),
        ("SRT-Caller", "srt://1.2.3.4", "needs a port"),
        ("SRT-Caller", "srt://1.2.3.4:99999", "invalid port"),
    ],
)
def test_pull_inputs_need_input_from_url(
    manager: FlowManager, protocol: str, url: str | None, field_msg: str
) -> None:
    flow = manager.create_flow(name="A", region=SG)
    exc = MissingValue if url is None else InvalidValue
    assert field_msg in refused(
        exc, "InputFromUrl", manager.add_input, flow.id, name="i", protocol=protocol, from_url=url
    )
    assert flow.inputs == []


def test_pull_inputs_url_is_the_source(manager: FlowManager) -> None:
    a = manager.create_flow(name="A", region=SG)
    inp = manager.add_input(a.id, name="i", protocol="RTMP-PULL", from_url="rtmp://10.1.1.1:1936/app/key")
    assert inp.url == inp.from_url == "rtmp://10.1.1.1:1936/app/key"
    b = manager.create_flow(name="B", region=SG)
    inp = manager.add_input(b.id, name="i", protocol="SRT-Caller", from_url="srt://10.1.1.1:9000?streamid=x")
    assert (inp.url, inp.family, inp.srt_latency) == ("srt://10.1.1.1:9000?streamid=x", Family.SRT, 120)


def test_srt_listener_input_takes_a_port_from_the_region_range(
    manager: FlowManager, runtime: FakeRuntime
) -> None:
    a = manager.create_flow(name="A", region=FRA)
    inp = manager.add_input(a.id, name="i", protocol="SRT-Listener")
    assert (inp.srt_port, inp.url) == (10000, "srt://127.0.1.2:10000")
    assert manager.endpoint_for_srt_port(FRA, 10000) == (a, inp)
    assert runtime.ports[FRA] == {10000}


@pytest.mark.parametrize(
    ("value", "ok"), [(99, False), (100, True), (100_000_000, True), (100_000_001, False), (-5, False)]
)
def test_max_bitrate_range(manager: FlowManager, value: int, ok: bool) -> None:
    flow = manager.create_flow(name="A", region=SG)
    if ok:
        assert (
            manager.add_input(flow.id, name="i", protocol="RTMP-PUSH", max_bitrate=value).max_bitrate == value
        )
    else:
        assert "100-100,000,000" in refused(
            InvalidValue,
            "MaxBitrate",
            manager.add_input,
            flow.id,
            name="i",
            protocol="RTMP-PUSH",
            max_bitrate=value,
        )


def test_max_bitrate_default(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    assert manager.add_input(flow.id, name="i", protocol="RTMP-PUSH").max_bitrate == 100_000_000


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"srt_pbkeylen": 8}, "SrtPbkeyLen"),
        ({"srt_pbkeylen": 33}, "SrtPbkeyLen"),
        ({"srt_passphrase": "short"}, "SrtPassphrase"),
        ({"srt_passphrase": "p" * 9}, "SrtPassphrase"),
        ({"srt_passphrase": "p" * 80}, "SrtPassphrase"),
        ({"srt_latency": 19}, "SrtLatency"),
        ({"srt_latency": 8001}, "SrtLatency"),
    ],
)
def test_srt_values_refused(manager: FlowManager, kw: dict[str, object], field: str) -> None:
    flow = manager.create_flow(name="A", region=SG)
    refused(InvalidValue, field, manager.add_input, flow.id, name="i", protocol="SRT-Listener", **kw)
    assert flow.inputs == []


@pytest.mark.parametrize(
    ("kw", "expect"),
    [
        ({}, (120, "", 0)),
        ({"srt_latency": 20, "srt_pbkeylen": 0}, (20, "", 0)),
        ({"srt_latency": 8000, "srt_passphrase": "p" * 10}, (8000, "p" * 10, 16)),
        ({"srt_passphrase": "p" * 79, "srt_pbkeylen": 32}, (120, "p" * 79, 32)),
        ({"srt_passphrase": "p" * 12, "srt_pbkeylen": 24}, (120, "p" * 12, 24)),
    ],
)
def test_srt_values_accepted(
    manager: FlowManager, kw: dict[str, object], expect: tuple[int, str, int]
) -> None:
    flow = manager.create_flow(name="A", region=SG)
    inp = manager.add_input(flow.id, name="i", protocol="SRT-Listener", **kw)  # type: ignore[arg-type]
    assert (inp.srt_latency, inp.srt_passphrase, inp.srt_pbkeylen) == expect


def test_srt_values_refused_on_rtmp(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    for kw, field in (({"srt_latency": 100}, "SrtLatency"), ({"srt_passphrase": "p" * 12}, "SrtPassphrase")):
        assert "only to SRT" in refused(
            InvalidValue, field, manager.add_input, flow.id, name="i", protocol="RTMP-PUSH", **kw
        )


def test_cidrs(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    msg = refused(
        InvalidValue,
        "Cidrs",
        manager.add_input,
        flow.id,
        name="i",
        protocol="RTMP-PUSH",
        cidrs="10.0.0.0/8,300.1.1.1",
    )
    assert "300.1.1.1" in msg
    inp = manager.add_input(flow.id, name="i", protocol="RTMP-PUSH", cidrs=" 10.0.0.0/8 , 192.168.1.7")
    assert inp.cidrs == "10.0.0.0/8,192.168.1.7"
    b = manager.create_flow(name="B", region=SG)
    assert "only to RTMP-PUSH and SRT-Listener" in refused(
        InvalidValue,
        "Cidrs",
        manager.add_input,
        b.id,
        name="i",
        protocol="RTMP-PULL",
        from_url="rtmp://h/live/k",
        cidrs="10.0.0.0/8",
    )
    assert (
        manager.add_input(b.id, name="i", protocol="RTMP-PULL", from_url="rtmp://h/live/k", cidrs="").cidrs
        == ""
    )


def test_inapplicable_input_parameters(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    refused(
        InvalidValue,
        "InputFromUrl",
        manager.add_input,
        flow.id,
        name="i",
        protocol="RTMP-PUSH",
        from_url="rtmp://h/live/k",
    )
    refused(
        InvalidValue,
        "PairFlowId",
        manager.add_input,
        flow.id,
        name="i",
        protocol="RTMP-PUSH",
        pair_flow_id="x",
    )
    refused(
        InvalidValue,
        "PairOutputName",
        manager.add_input,
        flow.id,
        name="i",
        protocol="SRT-Listener",
        pair_output_name="x",
    )
    assert flow.inputs == []


# --- outputs -----------------------------------------------------------------------------------------


def test_rtmp_pull_output_url(manager: FlowManager) -> None:
    flow = rtmp_flow(manager, region=FRA)
    out = manager.add_output(flow.id, name="FlowBOutput", protocol="RTMP-PULL")
    assert re.fullmatch(r"rtmp://127\.0\.1\.2:1935/live/FlowBOutput_[0-9a-f]{32}", out.url), out.url
    assert out.url.endswith("/live/" + out.stream_key)
    assert (out.player_limit, out.forbid, out.family, out.protocol) == (
        5,
        False,
        Family.RTMP,
        OutputProtocol.RTMP_PULL,
    )
    assert manager.endpoint_for_stream_key(FRA, out.stream_key) == (flow, out)


def test_output_needs_an_input_first(manager: FlowManager) -> None:
    flow = manager.create_flow(name="A", region=SG)
    assert "no input" in refused(
        WrongState, None, manager.add_output, flow.id, name="o", protocol="RTMP-PULL"
    )


def test_at_most_four_outputs(manager: FlowManager) -> None:
    flow = rtmp_flow(manager)
    for n in range(4):
        manager.add_output(flow.id, name=f"o{n}", protocol="RTMP-PULL")
    assert "4 outputs" in refused(
        WrongState, None, manager.add_output, flow.id, name="o5", protocol="RTMP-PULL"
    )
    assert manager.output_names(flow.id) == ["o0", "o1", "o2", "o3"]


@pytest.mark.parametrize(
    ("family_input", "protocol"),
    [("rtmp", "SRT-Listener"), ("rtmp", "SRT-Caller"), ("srt", "RTMP-PULL"), ("srt", "RTMP-PUSH")],
)
def test_no_rtmp_srt_conversion(manager: FlowManager, family_input: str, protocol: str) -> None:
    flow = rtmp_flow(manager) if family_input == "rtmp" else srt_flow(manager)
    to_url = {"SRT-Caller": "srt://1.2.3.4:9000", "RTMP-PUSH": "rtmp://1.2.3.4/live/x"}.get(protocol)
    msg = refused(
        InvalidValue,
        "OutputProtocol",
        manager.add_output,
        flow.id,
        name="o",
        protocol=protocol,
        to_url=to_url,
    )
    assert "no RTMP<->SRT conversion" in msg


@pytest.mark.parametrize(
    ("protocol", "url", "exc"),
    [
        ("RTMP-PUSH", None, MissingValue),
        ("RTMP-PUSH", "srt://h:1", InvalidValue),
        ("SRT-Caller", None, MissingValue),
        ("SRT-Caller", "srt://h", InvalidValue),
    ],
)
def test_push_outputs_need_output_to_url(
    manager: FlowManager, protocol: str, url: str | None, exc: type[FlowError]
) -> None:
    flow = rtmp_flow(manager) if protocol.startswith("RTMP") else srt_flow(manager)
    refused(exc, "OutputToUrl", manager.add_output, flow.id, name="o", protocol=protocol, to_url=url)
    assert flow.outputs == {}


def test_push_output_url_is_the_destination(manager: FlowManager) -> None:
    flow = srt_flow(manager)
    out = manager.add_output(
        flow.id, name="o", protocol="SRT-Caller", to_url="srt://10.0.0.9:7001", srt_latency=300
    )
    assert (out.url, out.to_url, out.srt_latency, out.player_limit, out.srt_port) == (
        "srt://10.0.0.9:7001",
        "srt://10.0.0.9:7001",
        300,
        None,
        None,
    )


def test_player_limit(manager: FlowManager) -> None:
    flow = rtmp_flow(manager)
    for bad in (0, 6):
        assert "1-5" in refused(
            InvalidValue,
            "PlayerLimit",
            manager.add_output,
            flow.id,
            name="o",
            protocol="RTMP-PULL",
            player_limit=bad,
        )
    assert manager.add_output(flow.id, name="o", protocol="RTMP-PULL", player_limit=2).player_limit == 2
    refused(
        InvalidValue,
        "PlayerLimit",
        manager.add_output,
        flow.id,
        name="p",
        protocol="RTMP-PUSH",
        to_url="rtmp://h/live/k",
        player_limit=2,
    )


def test_inapplicable_output_parameters(manager: FlowManager) -> None:
    flow = rtmp_flow(manager)
    refused(
        InvalidValue,
        "OutputToUrl",
        manager.add_output,
        flow.id,
        name="o",
        protocol="RTMP-PULL",
        to_url="rtmp://h/live/k",
    )
    refused(
        InvalidValue,
        "PairInputName",
        manager.add_output,
        flow.id,
        name="o",
        protocol="RTMP-PULL",
        pair_input_name="x",
    )
    refused(
        InvalidValue,
        "Cidrs",
        manager.add_output,
        flow.id,
        name="o",
        protocol="RTMP-PUSH",
        to_url="rtmp://h/live/k",
        cidrs="10.0.0.0/8",
    )
    refused(
        InvalidValue,
        "SrtLatency",
        manager.add_output,
        flow.id,
        name="o",
        protocol="RTMP-PULL",
        srt_latency=200,
    )


# --- Flow pairing ------------------------------------------------------------------------------------


def test_flow_input_pairing_errors_say_exactly_what_is_wrong(manager: FlowManager) -> None:
    a = rtmp_flow(manager, "A", SG)
    manager.add_output(a.id, name="push", protocol="RTMP-PUSH", to_url="rtmp://h/live/k")
    b = manager.create_flow(name="B", region=FRA)

    def add(**kw: object) -> object:
        return manager.add_input(b.id, name="Bin", protocol="Flow", **kw)  # type: ignore[arg-type]

    refused(MissingValue, "PairFlowId", add, pair_output_name="FlowAOutput")
    assert "no-such-flow" in refused(
        NotFound, "PairFlowId", add, pair_flow_id="no-such-flow", pair_output_name="FlowAOutput"
    )
    refused(MissingValue, "PairOutputName", add, pair_flow_id=a.id)
    msg = refused(NotFound, "PairOutputName", add, pair_flow_id=a.id, pair_output_name="FlowAOutput")
    assert "FlowAOutput" in msg and a.id in msg
    msg = refused(InvalidValue, "PairOutputName", add, pair_flow_id=a.id, pair_output_name="push")
    assert "RTMP-PULL or SRT-Listener" in msg
    assert "another flow" in refused(InvalidValue, "PairFlowId", add, pair_flow_id=b.id, pair_output_name="x")
    assert b.inputs == []


def test_flow_input_takes_family_and_url_from_its_pair(manager: FlowManager) -> None:
    a = rtmp_flow(manager, "A", SG)
    a_out = manager.add_output(a.id, name="FlowAOutput", protocol="RTMP-PULL")
    b = manager.create_flow(name="B", region=FRA)
    b_in = manager.add_input(
        b.id, name="FlowBInput", protocol="Flow", pair_flow_id=a.id, pair_output_name="FlowAOutput"
    )
    assert (b_in.family, b_in.url, b_in.pair_flow_id, b_in.pair_output_name) == (
        Family.RTMP,
        a_out.url,
        a.id,
        "FlowAOutput",
    )
    refused(InvalidValue, "OutputProtocol", manager.add_output, b.id, name="o", protocol="SRT-Listener")
    assert manager.add_output(b.id, name="FlowBOutput", protocol="RTMP-PULL").family is Family.RTMP


def test_flow_output_pairing(manager: FlowManager) -> None:
    b = manager.create_flow(name="B", region=FRA)
    b_pull = manager.add_input(b.id, name="pull", protocol="RTMP-PULL", from_url="rtmp://h/live/k")
    c = rtmp_flow(manager, "C", FRA)
    s = srt_flow(manager, "S", FRA)
    a = rtmp_flow(manager, "A", SG)

    def add(**kw: object) -> object:
        return manager.add_output(a.id, name="toB", protocol="Flow", **kw)  # type: ignore[arg-type]

    refused(MissingValue, "PairFlowId", add, pair_input_name="pull")
    refused(NotFound, "PairFlowId", add, pair_flow_id="zzz", pair_input_name="pull")
    refused(MissingValue, "PairInputName", add, pair_flow_id=b.id)
    refused(NotFound, "PairInputName", add, pair_flow_id=b.id, pair_input_name="nope")
    assert "RTMP-PUSH or SRT-Listener" in refused(
        InvalidValue, "PairInputName", add, pair_flow_id=b.id, pair_input_name=b_pull.name
    )
    assert "no RTMP<->SRT conversion" in refused(
        InvalidValue, "PairInputName", add, pair_flow_id=s.id, pair_input_name="Sin"
    )
    out = add(pair_flow_id=c.id, pair_input_name="Cin")
    assert out.url == c.inputs[0].url and out.family is Family.RTMP  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("a_in", "a_out", "b_in", "b_out"),
    [
        ("RTMP-PUSH", "RTMP-PULL", "Flow", "RTMP-PUSH"),
        ("RTMP-PULL", "RTMP-PULL", "Flow", "RTMP-PULL"),
        ("RTMP-PUSH", "Flow", "RTMP-PUSH", "RTMP-PULL"),
        ("RTMP-PULL", "Flow", "RTMP-PUSH", "RTMP-PUSH"),
        ("SRT-Listener", "SRT-Listener", "Flow", "SRT-Listener"),
        ("SRT-Caller", "SRT-Listener", "Flow", "SRT-Caller"),
        ("SRT-Listener", "Flow", "SRT-Listener", "SRT-Caller"),
        ("SRT-Caller", "Flow", "SRT-Listener", "SRT-Listener"),
    ],
)
def test_every_cross_region_combination_of_the_seed(
    manager: FlowManager, a_in: str, a_out: str, b_in: str, b_out: str
) -> None:
    src = {"RTMP-PULL": "rtmp://10.0.0.1/live/src", "SRT-Caller": "srt://10.0.0.1:9000"}
    dst = {"RTMP-PUSH": "rtmp://10.0.0.2/live/dst", "SRT-Caller": "srt://10.0.0.2:9000"}
    a = manager.create_flow(name="FlowA", region=SG)
    b = manager.create_flow(name="FlowB", region=FRA)
    manager.add_input(a.id, name="FlowAInput", protocol=a_in, from_url=src.get(a_in))
    if a_out == "Flow":  # Flow B's push input must exist before Flow A's Flow output pairs with it
        manager.add_input(b.id, name="FlowBInput", protocol=b_in)
        manager.add_output(
            a.id, name="FlowAOutput", protocol="Flow", pair_flow_id=b.id, pair_input_name="FlowBInput"
        )
    else:
        manager.add_output(a.id, name="FlowAOutput", protocol=a_out)
        manager.add_input(
            b.id, name="FlowBInput", protocol="Flow", pair_flow_id=a.id, pair_output_name="FlowAOutput"
        )
    out = manager.add_output(b.id, name="FlowBOutput", protocol=b_out, to_url=dst.get(b_out))
    assert out.family is a.family is b.family


def test_port_exhaustion_leaves_nothing_behind(manager: FlowManager, runtime: FakeRuntime) -> None:
    flows = [manager.create_flow(name=f"F{n}", region=SG) for n in range(11)]
    for flow in flows[:10]:
        manager.add_input(flow.id, name="i", protocol="SRT-Listener")
    with pytest.raises(PortUnavailable):
        manager.add_input(flows[10].id, name="i", protocol="SRT-Listener")
    assert flows[10].inputs == []
    assert runtime.ports[SG] == set(range(10000, 10010))
