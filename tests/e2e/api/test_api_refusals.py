"""Every refusal of ICE-API.md's rules through the official SDK: HTTP status, ICE Code, and a Message
that names the field (the SDK raises ClientException for 4xx with the error body in ``data``).

Each refusal is one row of a table: the state it is met in, the call, and what the refusal says; the
test id is the row's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client
from api_harness import ApiThread, assert_refused

SG, FRA = "ap-southeast-1", "eu-central-1"
pytestmark = pytest.mark.sdk

# A refused call, given the SDK and the flow id its state built.
Act = Callable[[Client, str], object]


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


# The states a refusal is met in; each returns the flow id the refused call names.


def no_flow(sdk: Client) -> str:
    return "nope"


def flow_a(sdk: Client) -> str:
    return create(sdk, "A")


def flow_a_in_two_regions(sdk: Client) -> str:
    flow = create(sdk, "A")
    create(sdk, "A", FRA)  # a name is unique per region only
    return flow


def with_input(sdk: Client) -> str:
    flow = create(sdk, "A")
    add_input(sdk, flow, "in", "RTMP-PUSH")
    return flow


def failover_open(sdk: Client) -> str:
    flow = with_input(sdk)
    sdk.open_media_connect_flow_failover(M.OpenMediaConnectFlowFailoverRequest(flow_id=flow))
    return flow


def two_inputs(sdk: Client) -> str:
    flow = failover_open(sdk)
    add_input(sdk, flow, "in2", "RTMP-PUSH")
    return flow


def four_outputs(sdk: Client) -> str:
    flow = with_input(sdk)
    for n in range(4):
        add_output(sdk, flow, f"o{n}", "RTMP-PULL")
    return flow


def srt_ends(sdk: Client) -> str:
    flow = create(sdk, "A")
    add_input(sdk, flow, "in", "SRT-Listener")
    add_output(sdk, flow, "out", "SRT-Listener")
    return flow


def online(sdk: Client) -> str:
    flow = srt_ends(sdk)
    set_status(sdk, flow, "online")
    return flow


# The refused calls.


def creating(**kw: Any) -> Act:
    return lambda sdk, _flow: sdk.create_media_connect_flow(M.CreateMediaConnectFlowRequest(**kw))


def adding_input(name: str, protocol: str, **kw: Any) -> Act:
    return lambda sdk, flow: add_input(sdk, flow, name, protocol, **kw)


def adding_output(name: str, protocol: str, **kw: Any) -> Act:
    return lambda sdk, flow: add_output(sdk, flow, name, protocol, **kw)


def setting(status: str) -> Act:
    return lambda sdk, flow: set_status(sdk, flow, status)


def calling(method: Callable[[Client, Any], object], request: Callable[..., Any], **kw: Any) -> Act:
    """``method`` (an SDK call, unbound) with a ``request`` naming the state's flow."""
    return lambda sdk, flow: method(sdk, request(flow_id=flow, **kw))


@dataclass(frozen=True)
class Refusal:
    what: str  # the test id
    given: Callable[[Client], str]
    act: Act
    answer: tuple[int, str]  # HTTP status, ICE Code
    field: str | None = None  # the Message starts with it
    says: str = ""  # and holds this


BAD, MISSING = (400, "InvalidParameter"), (400, "MissingParameter")
NOT_FOUND, DENIED = (404, "ResourceNotFound"), (403, "OperationDenied")


REFUSALS = [
    # Creating flows.
    Refusal(
        "FlowName taken in its region",
        flow_a_in_two_regions,
        creating(flow_name="A", flow_region=SG),
        BAD,
        "FlowName",
        "already exists",
    ),
    Refusal(
        "FlowName with a space", no_flow, creating(flow_name="bad name", flow_region=SG), BAD, "FlowName"
    ),
    Refusal(
        "FlowName of 65 characters",
        no_flow,
        creating(flow_name="x" * 65, flow_region=SG),
        BAD,
        "FlowName",
        "at most 64",
    ),
    Refusal("no FlowName", no_flow, creating(flow_region=SG), MISSING, "FlowName"),
    Refusal("unknown FlowRegion", no_flow, creating(flow_name="B", flow_region="mars-1"), BAD, "FlowRegion"),
    Refusal("no FlowRegion", no_flow, creating(flow_name="B"), MISSING, "FlowRegion"),
    # Unknown flows and names.
    *(
        Refusal(f"{what} of an unknown flow", no_flow, calling(method, request), NOT_FOUND, "FlowId", "nope")
        for what, method, request in (
            ("GetMediaConnectFlow", Client.get_media_connect_flow, M.GetMediaConnectFlowRequest),
            ("DeleteMediaConnectFlow", Client.delete_media_connect_flow, M.DeleteMediaConnectFlowRequest),
            (
                "GetMediaConnectFlowInput",
                Client.get_media_connect_flow_input,
                M.GetMediaConnectFlowInputRequest,
            ),
            (
                "GetMediaConnectFlowAllOutputName",
                Client.get_media_connect_flow_all_output_name,
                M.GetMediaConnectFlowAllOutputNameRequest,
            ),
            (
                "OpenMediaConnectFlowFailover",
                Client.open_media_connect_flow_failover,
                M.OpenMediaConnectFlowFailoverRequest,
            ),
        )
    ),
    Refusal(
        "GetMediaConnectFlow without FlowId",
        no_flow,
        lambda sdk, _flow: sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest()),
        MISSING,
        "FlowId",
    ),
    Refusal(
        "GetMediaConnectFlowInput of a flow with no input",
        flow_a,
        calling(Client.get_media_connect_flow_input, M.GetMediaConnectFlowInputRequest),
        NOT_FOUND,
        "FlowId",
    ),
    Refusal(
        "GetMediaConnectFlowOutput of an unknown output",
        with_input,
        calling(
            Client.get_media_connect_flow_output, M.GetMediaConnectFlowOutputRequest, output_name="ghost"
        ),
        NOT_FOUND,
        "OutputName",
    ),
    Refusal(
        "DeleteMediaConnectFlowInput of an unknown input",
        with_input,
        calling(
            Client.delete_media_connect_flow_input, M.DeleteMediaConnectFlowInputRequest, input_name="ghost"
        ),
        NOT_FOUND,
        "InputName",
    ),
    Refusal(
        "ForbidMediaConnectFlowOutput of an unknown output",
        with_input,
        calling(
            Client.forbid_media_connect_flow_output,
            M.ForbidMediaConnectFlowOutputRequest,
            output_name="ghost",
        ),
        NOT_FOUND,
        "OutputName",
    ),
    # Inputs.
    Refusal("unknown InputProtocol", flow_a, adding_input("in", "RTMP"), BAD, "InputProtocol"),
    Refusal("InputName of 129 characters", flow_a, adding_input("i" * 129, "RTMP-PUSH"), BAD, "InputName"),
    Refusal(
        "RTMP-PULL input without InputFromUrl",
        flow_a,
        adding_input("in", "RTMP-PULL"),
        MISSING,
        "InputFromUrl",
    ),
    Refusal(
        "RTMP-PULL input from an srt URL",
        flow_a,
        adding_input("in", "RTMP-PULL", input_from_url="srt://h:1"),
        BAD,
        "InputFromUrl",
    ),
    Refusal(
        "SRT-Caller input from a URL without port",
        flow_a,
        adding_input("in", "SRT-Caller", input_from_url="srt://h"),
        BAD,
        "InputFromUrl",
    ),
    *(
        Refusal(
            f"MaxBitrate {bitrate}",
            flow_a,
            adding_input("in", "RTMP-PUSH", max_bitrate=bitrate),
            BAD,
            "MaxBitrate",
            "100-100,000,000",
        )
        for bitrate in (99, 100_000_001)
    ),
    Refusal(
        "SrtPbkeyLen 20",
        flow_a,
        adding_input("in", "SRT-Listener", srt_pbkey_len=20),
        BAD,
        "SrtPbkeyLen",
    ),
    Refusal(
        "SrtPassphrase too short",
        flow_a,
        adding_input("in", "SRT-Listener", srt_passphrase="short"),
        BAD,
        "SrtPassphrase",
    ),
    Refusal("SrtLatency 10", flow_a, adding_input("in", "SRT-Listener", srt_latency=10), BAD, "SrtLatency"),
    Refusal(
        "SrtLatency on an RTMP input",
        flow_a,
        adding_input("in", "RTMP-PUSH", srt_latency=200),
        BAD,
        "SrtLatency",
    ),
    Refusal("Cidrs prefix 33", flow_a, adding_input("in", "RTMP-PUSH", cidrs="10.0.0.0/33"), BAD, "Cidrs"),
    Refusal(
        "second input without failover",
        with_input,
        adding_input("in2", "RTMP-PUSH"),
        DENIED,
        says="failover",
    ),
    Refusal(
        "failover input of the other family",
        failover_open,
        adding_input("in2", "SRT-Listener"),
        BAD,
        "InputProtocol",
    ),
    Refusal(
        "closing failover with two inputs",
        two_inputs,
        calling(Client.close_media_connect_flow_failover, M.CloseMediaConnectFlowFailoverRequest),
        DENIED,
    ),
    Refusal(
        "DeleteMediaConnectFlowInput without InputName",
        two_inputs,
        calling(Client.delete_media_connect_flow_input, M.DeleteMediaConnectFlowInputRequest),
        MISSING,
        "InputName",
    ),
    Refusal(
        "MaxBitrate not an integer",
        with_input,
        # The SDK types MaxBitrate as int but sends whatever it is given; the service must say what is wrong.
        calling(
            Client.update_media_connect_flow_input, M.UpdateMediaConnectFlowInputRequest, max_bitrate="fast"
        ),
        BAD,
        "MaxBitrate",
        "not an integer",
    ),
    # Outputs.
    Refusal("output before any input", flow_a, adding_output("o", "RTMP-PULL"), DENIED, says="no input"),
    Refusal(
        "SRT output of an RTMP input",
        with_input,
        adding_output("o", "SRT-Listener"),
        BAD,
        "OutputProtocol",
        "no RTMP<->SRT conversion",
    ),
    Refusal(
        "RTMP-PUSH output without OutputToUrl",
        with_input,
        adding_output("o", "RTMP-PUSH"),
        MISSING,
        "OutputToUrl",
    ),
    Refusal("PlayerLimit 9", with_input, adding_output("o", "RTMP-PULL", player_limit=9), BAD, "PlayerLimit"),
    Refusal("OutputName taken", four_outputs, adding_output("o1", "RTMP-PULL"), BAD, "OutputName"),
    Refusal("fifth output", four_outputs, adding_output("o4", "RTMP-PULL"), DENIED, says="4 outputs"),
    Refusal(
        "deleting the input of a flow with outputs",
        four_outputs,
        calling(Client.delete_media_connect_flow_input, M.DeleteMediaConnectFlowInputRequest),
        DENIED,
        says="still has outputs",
    ),
    # Status.
    Refusal("online without input", flow_a, setting("online"), DENIED, says="no input"),
    Refusal("unknown Status", flow_a, setting("started"), BAD, "Status"),
    Refusal("empty Status", flow_a, setting(""), MISSING, "Status"),
    Refusal(
        "adding an output while online",
        online,
        adding_output("o2", "SRT-Listener"),
        DENIED,
        says="is online",
    ),
    Refusal(
        "updating the input while online",
        online,
        calling(
            Client.update_media_connect_flow_input, M.UpdateMediaConnectFlowInputRequest, srt_latency=300
        ),
        DENIED,
        says="is online",
    ),
    Refusal(
        "updating an output while online",
        online,
        calling(
            Client.update_media_connect_flow_output,
            M.UpdateMediaConnectFlowOutputRequest,
            output_name="out",
            srt_latency=300,
        ),
        DENIED,
        says="is online",
    ),
    Refusal(
        "deleting an output while online",
        online,
        calling(
            Client.delete_media_connect_flow_output, M.DeleteMediaConnectFlowOutputRequest, output_name="out"
        ),
        DENIED,
        says="is online",
    ),
    Refusal(
        "deleting the flow while online",
        online,
        calling(Client.delete_media_connect_flow, M.DeleteMediaConnectFlowRequest),
        DENIED,
        says="is online",
    ),
]


@pytest.mark.parametrize("r", REFUSALS, ids=[r.what for r in REFUSALS])
def test_refused(sdk: Client, r: Refusal) -> None:
    flow = r.given(sdk)
    status, code = r.answer
    msg = assert_refused(r.act, sdk, flow, status=status, code=code, field=r.field)
    assert r.says in msg, msg


def test_a_start_the_runtime_refuses_leaves_the_flow_offline(api: ApiThread, sdk: Client) -> None:
    flow = online(sdk)
    set_status(sdk, flow, "offline")
    api.runtime.refuse_start = "the paired flow's output is gone"
    msg = assert_refused(set_status, sdk, flow, "online", status=403, code="OperationDenied")
    assert msg == "the paired flow's output is gone"
    assert (
        sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=flow)).body.content.flow_status
        == "offline"
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


@pytest.mark.parametrize("r", PAIRING_REFUSALS, ids=[r.what for r in PAIRING_REFUSALS])
def test_flow_pairing_says_exactly_what_is_wrong(sdk: Client, r: PairingRefusal) -> None:
    flows = {"A": create(sdk, "FlowA", SG), "B": create(sdk, "FlowB", FRA)}
    add_input(sdk, flows["A"], "FlowAInput", "RTMP-PUSH")
    add_output(sdk, flows["A"], "FlowAPush", "RTMP-PUSH", output_to_url="rtmp://10.0.0.1/live/x")
    flows["C"] = create(sdk, "FlowC", FRA)
    add_input(sdk, flows["C"], "pull", "RTMP-PULL", input_from_url="rtmp://10.0.0.1/live/x")
    flows["S"] = create(sdk, "FlowS", FRA)
    add_input(sdk, flows["S"], "srtin", "SRT-Listener")
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
