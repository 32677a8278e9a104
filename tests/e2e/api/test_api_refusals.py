"""Every refusal of ICE-API.md's rules through the official SDK: HTTP status, ICE Code, and a Message
that names the field (the SDK raises ClientException for 4xx with the error body in ``data``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client
from api_harness import ApiThread, assert_refused

SG, FRA = "ap-southeast-1", "eu-central-1"
pytestmark = pytest.mark.sdk


def create(sdk: Client, name: str, region: str = SG) -> str:
    r = sdk.create_media_connect_flow(M.CreateMediaConnectFlowRequest(flow_name=name, flow_region=region))
    return str(r.body.content.flow_id)


def add_input(sdk: Client, flow_id: str, name: str, protocol: str, **kw: Any) -> Any:
    return sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=flow_id, input_name=name, input_protocol=protocol, **kw)
    )


def add_output(sdk: Client, flow_id: str, name: str, protocol: str, **kw: Any) -> Any:
    return sdk.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(flow_id=flow_id, output_name=name, output_protocol=protocol, **kw)
    )


def set_status(sdk: Client, flow_id: str, status: str) -> Any:
    return sdk.update_media_connect_flow_status(
        M.UpdateMediaConnectFlowStatusRequest(flow_id=flow_id, status=status)
    )


def test_flow_names_and_regions(sdk: Client) -> None:
    create(sdk, "A")
    req = M.CreateMediaConnectFlowRequest
    msg = assert_refused(
        sdk.create_media_connect_flow,
        req(flow_name="A", flow_region=SG),
        status=400,
        code="InvalidParameter",
        field="FlowName",
    )
    assert "already exists" in msg
    create(sdk, "A", FRA)
    assert_refused(
        sdk.create_media_connect_flow,
        req(flow_name="bad name", flow_region=SG),
        status=400,
        code="InvalidParameter",
        field="FlowName",
    )
    assert "at most 64" in assert_refused(
        sdk.create_media_connect_flow,
        req(flow_name="x" * 65, flow_region=SG),
        status=400,
        code="InvalidParameter",
        field="FlowName",
    )
    assert_refused(
        sdk.create_media_connect_flow,
        req(flow_region=SG),
        status=400,
        code="MissingParameter",
        field="FlowName",
    )
    assert_refused(
        sdk.create_media_connect_flow,
        req(flow_name="B", flow_region="mars-1"),
        status=400,
        code="InvalidParameter",
        field="FlowRegion",
    )
    assert_refused(
        sdk.create_media_connect_flow,
        req(flow_name="B"),
        status=400,
        code="MissingParameter",
        field="FlowRegion",
    )


def test_unknown_flow_and_names(sdk: Client) -> None:
    for call, request in (
        (sdk.get_media_connect_flow, M.GetMediaConnectFlowRequest(flow_id="nope")),
        (sdk.delete_media_connect_flow, M.DeleteMediaConnectFlowRequest(flow_id="nope")),
        (sdk.get_media_connect_flow_input, M.GetMediaConnectFlowInputRequest(flow_id="nope")),
        (
            sdk.get_media_connect_flow_all_output_name,
            M.GetMediaConnectFlowAllOutputNameRequest(flow_id="nope"),
        ),
        (sdk.open_media_connect_flow_failover, M.OpenMediaConnectFlowFailoverRequest(flow_id="nope")),
    ):
        assert "nope" in assert_refused(call, request, status=404, code="ResourceNotFound", field="FlowId")
    assert_refused(
        sdk.get_media_connect_flow,
        M.GetMediaConnectFlowRequest(),
        status=400,
        code="MissingParameter",
        field="FlowId",
    )
    flow = create(sdk, "A")
    assert_refused(
        sdk.get_media_connect_flow_input,
        M.GetMediaConnectFlowInputRequest(flow_id=flow),
        status=404,
        code="ResourceNotFound",
        field="FlowId",
    )
    add_input(sdk, flow, "in", "RTMP-PUSH")
    assert_refused(
        sdk.get_media_connect_flow_output,
        M.GetMediaConnectFlowOutputRequest(flow_id=flow, output_name="ghost"),
        status=404,
        code="ResourceNotFound",
        field="OutputName",
    )
    assert_refused(
        sdk.delete_media_connect_flow_input,
        M.DeleteMediaConnectFlowInputRequest(flow_id=flow, input_name="ghost"),
        status=404,
        code="ResourceNotFound",
        field="InputName",
    )
    assert_refused(
        sdk.forbid_media_connect_flow_output,
        M.ForbidMediaConnectFlowOutputRequest(flow_id=flow, output_name="ghost"),
        status=404,
        code="ResourceNotFound",
        field="OutputName",
    )


def test_input_rules(sdk: Client) -> None:
    flow = create(sdk, "A")
    assert_refused(
        add_input, sdk, flow, "in", "RTMP", status=400, code="InvalidParameter", field="InputProtocol"
    )
    assert_refused(
        add_input, sdk, flow, "i" * 129, "RTMP-PUSH", status=400, code="InvalidParameter", field="InputName"
    )
    assert_refused(
        add_input, sdk, flow, "in", "RTMP-PULL", status=400, code="MissingParameter", field="InputFromUrl"
    )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "RTMP-PULL",
        input_from_url="srt://h:1",
        status=400,
        code="InvalidParameter",
        field="InputFromUrl",
    )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "SRT-Caller",
        input_from_url="srt://h",
        status=400,
        code="InvalidParameter",
        field="InputFromUrl",
    )
    for bitrate in (99, 100_000_001):
        assert "100-100,000,000" in assert_refused(
            add_input,
            sdk,
            flow,
            "in",
            "RTMP-PUSH",
            max_bitrate=bitrate,
            status=400,
            code="InvalidParameter",
            field="MaxBitrate",
        )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "SRT-Listener",
        srt_pbkey_len=20,
        status=400,
        code="InvalidParameter",
        field="SrtPbkeyLen",
    )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "SRT-Listener",
        srt_passphrase="short",
        status=400,
        code="InvalidParameter",
        field="SrtPassphrase",
    )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "SRT-Listener",
        srt_latency=10,
        status=400,
        code="InvalidParameter",
        field="SrtLatency",
    )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "RTMP-PUSH",
        srt_latency=200,
        status=400,
        code="InvalidParameter",
        field="SrtLatency",
    )
    assert_refused(
        add_input,
        sdk,
        flow,
        "in",
        "RTMP-PUSH",
        cidrs="10.0.0.0/33",
        status=400,
        code="InvalidParameter",
        field="Cidrs",
    )
    add_input(sdk, flow, "in", "RTMP-PUSH")
    msg = assert_refused(add_input, sdk, flow, "in2", "RTMP-PUSH", status=403, code="OperationDenied")
    assert "failover" in msg
    sdk.open_media_connect_flow_failover(M.OpenMediaConnectFlowFailoverRequest(flow_id=flow))
    assert_refused(
        add_input,
        sdk,
        flow,
        "in2",
        "SRT-Listener",
        status=400,
        code="InvalidParameter",
        field="InputProtocol",
    )
    add_input(sdk, flow, "in2", "RTMP-PUSH")
    assert_refused(
        sdk.close_media_connect_flow_failover,
        M.CloseMediaConnectFlowFailoverRequest(flow_id=flow),
        status=403,
        code="OperationDenied",
    )
    assert_refused(
        sdk.delete_media_connect_flow_input,
        M.DeleteMediaConnectFlowInputRequest(flow_id=flow),
        status=400,
        code="MissingParameter",
        field="InputName",
    )


def test_output_rules(sdk: Client) -> None:
    flow = create(sdk, "A")
    assert "no input" in assert_refused(
        add_output, sdk, flow, "o", "RTMP-PULL", status=403, code="OperationDenied"
    )
    add_input(sdk, flow, "in", "RTMP-PUSH")
    msg = assert_refused(
        add_output,
        sdk,
        flow,
        "o",
        "SRT-Listener",
        status=400,
        code="InvalidParameter",
        field="OutputProtocol",
    )
    assert "no RTMP<->SRT conversion" in msg
    assert_refused(
        add_output, sdk, flow, "o", "RTMP-PUSH", status=400, code="MissingParameter", field="OutputToUrl"
    )
    assert_refused(
        add_output,
        sdk,
        flow,
        "o",
        "RTMP-PULL",
        player_limit=9,
        status=400,
        code="InvalidParameter",
        field="PlayerLimit",
    )
    for n in range(4):
        add_output(sdk, flow, f"o{n}", "RTMP-PULL")
    assert_refused(
        add_output, sdk, flow, "o1", "RTMP-PULL", status=400, code="InvalidParameter", field="OutputName"
    )
    assert "4 outputs" in assert_refused(
        add_output, sdk, flow, "o4", "RTMP-PULL", status=403, code="OperationDenied"
    )
    assert "still has outputs" in assert_refused(
        sdk.delete_media_connect_flow_input,
        M.DeleteMediaConnectFlowInputRequest(flow_id=flow),
        status=403,
        code="OperationDenied",
    )


@dataclass(frozen=True)
class PairingRefusal:
    """A Flow endpoint added with a pair that is wrong in one way, and the refusal that names it."""

    what: str
    role: str  # the Flow endpoint added: "input" (pairs with an output) or "output" (with an input)
    to: str  # the flow it is added to
    pair: str | None  # the flow it names as PairFlowId (a key of the test's flows, or a bad id)
    pair_name: str  # PairOutputName / PairInputName
    status: int
    code: str
    field: str
    says: str  # in the message


PAIRING_REFUSALS = [
    PairingRefusal(
        what="unknown pair flow",
        role="input",
        to="B",
        pair="wrong-id",
        pair_name="FlowAOutput",
        status=404,
        code="ResourceNotFound",
        field="PairFlowId",
        says="wrong-id",
    ),
    PairingRefusal(
        what="unknown pair output",
        role="input",
        to="B",
        pair="A",
        pair_name="FlowAOutput",
        status=404,
        code="ResourceNotFound",
        field="PairOutputName",
        says="FlowAOutput",
    ),
    PairingRefusal(
        what="pair output not listening",
        role="input",
        to="B",
        pair="A",
        pair_name="FlowAPush",
        status=400,
        code="InvalidParameter",
        field="PairOutputName",
        says="RTMP-PULL or SRT-Listener",
    ),
    PairingRefusal(
        what="no pair flow",
        role="input",
        to="B",
        pair=None,
        pair_name="FlowAPush",
        status=400,
        code="MissingParameter",
        field="PairFlowId",
        says="PairFlowId",
    ),
    PairingRefusal(
        what="pair input not listening",
        role="output",
        to="A",
        pair="C",
        pair_name="pull",
        status=400,
        code="InvalidParameter",
        field="PairInputName",
        says="RTMP-PUSH or SRT-Listener",
    ),
    PairingRefusal(
        what="unknown pair input",
        role="output",
        to="A",
        pair="C",
        pair_name="ghost",
        status=404,
        code="ResourceNotFound",
        field="PairInputName",
        says="ghost",
    ),
    PairingRefusal(
        what="pair input of the other family",
        role="output",
        to="A",
        pair="S",
        pair_name="srtin",
        status=400,
        code="InvalidParameter",
        field="PairInputName",
        says="no RTMP<->SRT conversion",
    ),
]


def test_flow_pairing_says_exactly_what_is_wrong(sdk: Client) -> None:
    flows = {"A": create(sdk, "FlowA", SG), "B": create(sdk, "FlowB", FRA)}
    add_input(sdk, flows["A"], "FlowAInput", "RTMP-PUSH")
    add_output(sdk, flows["A"], "FlowAPush", "RTMP-PUSH", output_to_url="rtmp://10.0.0.1/live/x")
    flows["C"] = create(sdk, "FlowC", FRA)
    add_input(sdk, flows["C"], "pull", "RTMP-PULL", input_from_url="rtmp://10.0.0.1/live/x")
    flows["S"] = create(sdk, "FlowS", FRA)
    add_input(sdk, flows["S"], "srtin", "SRT-Listener")
    for r in PAIRING_REFUSALS:
        if r.role == "input":
            call, name, kw = add_input, "FlowBInput", {"pair_output_name": r.pair_name}
        else:
            call, name, kw = add_output, "toOther", {"pair_input_name": r.pair_name}
        if r.pair is not None:
            kw["pair_flow_id"] = flows.get(r.pair, r.pair)
        msg = assert_refused(
            call, sdk, flows[r.to], name, "Flow", status=r.status, code=r.code, field=r.field, **kw
        )
        assert r.says in msg, f"{r.what}: {msg}"


def test_state_rules(api: ApiThread, sdk: Client) -> None:
    flow = create(sdk, "A")
    assert "no input" in assert_refused(set_status, sdk, flow, "online", status=403, code="OperationDenied")
    assert_refused(set_status, sdk, flow, "started", status=400, code="InvalidParameter", field="Status")
    assert_refused(set_status, sdk, flow, "", status=400, code="MissingParameter", field="Status")
    add_input(sdk, flow, "in", "SRT-Listener")
    add_output(sdk, flow, "out", "SRT-Listener")
    set_status(sdk, flow, "online")
    online_msgs = [
        assert_refused(add_output, sdk, flow, "o2", "SRT-Listener", status=403, code="OperationDenied"),
        assert_refused(
            sdk.update_media_connect_flow_input,
            M.UpdateMediaConnectFlowInputRequest(flow_id=flow, srt_latency=300),
            status=403,
            code="OperationDenied",
        ),
        assert_refused(
            sdk.update_media_connect_flow_output,
            M.UpdateMediaConnectFlowOutputRequest(flow_id=flow, output_name="out", srt_latency=300),
            status=403,
            code="OperationDenied",
        ),
        assert_refused(
            sdk.delete_media_connect_flow_output,
            M.DeleteMediaConnectFlowOutputRequest(flow_id=flow, output_name="out"),
            status=403,
            code="OperationDenied",
        ),
        assert_refused(
            sdk.delete_media_connect_flow,
            M.DeleteMediaConnectFlowRequest(flow_id=flow),
            status=403,
            code="OperationDenied",
        ),
    ]
    assert all("is online" in m for m in online_msgs), online_msgs
    set_status(sdk, flow, "offline")
    api.runtime.refuse_start = "the paired flow's output is gone"
    msg = assert_refused(set_status, sdk, flow, "online", status=403, code="OperationDenied")
    assert msg == "the paired flow's output is gone"
    assert (
        sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=flow)).body.content.flow_status
        == "offline"
    )


def test_bad_integers_name_the_field(sdk: Client) -> None:
    flow = create(sdk, "A")
    add_input(sdk, flow, "in", "RTMP-PUSH")
    # The SDK types MaxBitrate as int but sends whatever it is given; the service must say what is wrong.
    msg = assert_refused(
        sdk.update_media_connect_flow_input,
        M.UpdateMediaConnectFlowInputRequest(flow_id=flow, max_bitrate="fast"),  # type: ignore[arg-type]
        status=400,
        code="InvalidParameter",
        field="MaxBitrate",
    )
    assert "not an integer" in msg
