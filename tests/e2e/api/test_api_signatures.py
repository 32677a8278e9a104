"""Signatures through the official SDK: V3 (default) and V1 (signature_algorithm='v2') accepted; with keys
configured, an unknown key, a wrong secret and a stale date are refused with the gateway's codes. Also the
transport: unknown Action / Version, form-encoded bodies, and the SDK's async variants in the same loop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.models import Config
from api_harness import ApiThread, assert_refused
from darabonba.runtime import ExtendsParameters, RuntimeOptions

from emulator.api import ApiServer
from emulator.model.manager import FlowManager
from emulator.regions import RegionCatalogue

pytestmark = pytest.mark.sdk
KEYS = {"mcemu-ak": "mcemu-secret", "other-ak": "other-secret"}
STALE = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 20 * 60))


@pytest.fixture
def keyed() -> Iterator[ApiThread]:
    with ApiThread(access_keys=KEYS) as server:
        yield server


def create(sdk: Client, name: str, runtime: RuntimeOptions | None = None) -> str:
    request = M.CreateMediaConnectFlowRequest(flow_name=name, flow_region="eu-central-1")
    if runtime is None:
        return str(sdk.create_media_connect_flow(request).body.content.flow_id)
    return str(sdk.create_media_connect_flow_with_options(request, runtime).body.content.flow_id)


def call_action(
    sdk: Client,
    action: str,
    *,
    version: str = "2020-11-09",
    query: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A raw RPC call through the SDK's generic call_api (for actions the ICE client has no method for)."""
    params = utils_models.Params(
        action=action,
        version=version,
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(query=query or {}, body=body)
    result: dict[str, Any] = sdk.call_api(params, request, RuntimeOptions())
    return result


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_configured_keys_accept_both_signatures(keyed: ApiThread, v1: bool) -> None:
    for ak, secret in KEYS.items():
        sdk = keyed.client(v1=v1, ak=ak, secret=secret)
        flow_id = create(sdk, f"F-{ak}")
        got = sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=flow_id)).body.content
        assert got.flow_name == f"F-{ak}"
        # Values that need percent-encoding are signed and verified identically.
        sdk.add_media_connect_flow_input(
            M.AddMediaConnectFlowInputRequest(
                flow_id=flow_id,
                input_name="in",
                input_protocol="RTMP-PULL",
                input_from_url="rtmp://10.0.0.1:1935/live/k?token=a+b/c&x=é",
            )
        )
        sdk.add_media_connect_flow_output(
            M.AddMediaConnectFlowOutputRequest(
                flow_id=flow_id,
                output_name="out",
                output_protocol="RTMP-PULL",
                cidrs="10.0.0.0/8, 192.168.0.1",
            )
        )
        got_in = sdk.get_media_connect_flow_input(
            M.GetMediaConnectFlowInputRequest(flow_id=flow_id)
        ).body.content
        assert got_in.input_url == "rtmp://10.0.0.1:1935/live/k?token=a+b/c&x=é"


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_unknown_key_and_wrong_secret(keyed: ApiThread, v1: bool) -> None:
    request = M.CreateMediaConnectFlowRequest(flow_name="X", flow_region="eu-central-1")
    stranger = keyed.client(v1=v1, ak="stranger-ak", secret="mcemu-secret")
    msg = assert_refused(
        stranger.create_media_connect_flow, request, status=404, code="InvalidAccessKeyId.NotFound"
    )
    assert "stranger-ak" in msg
    wrong = keyed.client(v1=v1, ak="mcemu-ak", secret="not-the-secret")
    msg = assert_refused(wrong.create_media_connect_flow, request, status=400, code="SignatureDoesNotMatch")
    assert "string to sign" in msg
    assert keyed.manager.flows == []


def test_stale_date_v3(keyed: ApiThread) -> None:
    sdk = keyed.client(ak="mcemu-ak", secret="mcemu-secret")
    stale = RuntimeOptions(extends_parameters=ExtendsParameters(headers={"x-acs-date": STALE}))
    msg = assert_refused(create, sdk, "X", stale, status=400, code="InvalidTimeStamp.Expired")
    assert "x-acs-date" in msg and "15 minutes" in msg


def test_stale_timestamp_v1(keyed: ApiThread) -> None:
    sdk = keyed.client(v1=True, ak="mcemu-ak", secret="mcemu-secret")
    stale = RuntimeOptions(extends_parameters=ExtendsParameters(queries={"Timestamp": STALE}))
    msg = assert_refused(create, sdk, "X", stale, status=400, code="InvalidTimeStamp.Expired")
    assert "Timestamp" in msg


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_by_default_any_key_is_accepted(api: ApiThread, v1: bool) -> None:
    for n, (ak, secret) in enumerate((("anything", "at-all"), ("LTAI-fake", "x"))):
        create(api.client(v1=v1, ak=ak, secret=secret), f"F{n}")
    assert len(api.manager.flows) == 2


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_unknown_action_and_version(api: ApiThread, v1: bool) -> None:
    sdk = api.client(v1=v1)
    msg = assert_refused(
        call_action, sdk, "DescribeMediaConnectFlows", status=404, code="InvalidAction.NotFound"
    )
    assert "DescribeMediaConnectFlows" in msg
    assert_refused(
        call_action,
        sdk,
        "GetMediaConnectAvailableRegion",
        version="2019-01-01",
        status=400,
        code="InvalidVersion",
    )


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_form_encoded_body_parameters(keyed: ApiThread, v1: bool) -> None:
    sdk = keyed.client(v1=v1, ak="mcemu-ak", secret="mcemu-secret")
    result = call_action(
        sdk, "CreateMediaConnectFlow", query={"FlowRegion": "cn-hangzhou"}, body={"FlowName": "FromBody"}
    )
    flow_id = result["body"]["Content"]["FlowId"]
    assert keyed.manager.get_flow(flow_id).name == "FromBody"
    assert keyed.manager.get_flow(flow_id).region.id == "cn-hangzhou"


class _IdleRuntime:
    """A FlowRuntime for the in-loop test below: addresses only; nothing is ever started."""

    def rtmp_address(self, region: Any) -> tuple[str, int]:
        return region.host, 1935

    def allocate_srt_port(self, region: Any) -> int:
        return 10000

    def release_srt_port(self, region: Any, port: int) -> None:
        pass

    async def start_flow(self, flow: Any) -> None:
        pass

    async def stop_flow(self, flow: Any) -> None:
        pass

    def input_status(self, flow: Any, input: Any) -> str:
        return "disconnected"

    def set_output_forbidden(self, flow: Any, output: Any, forbidden: bool) -> None:
        pass


async def test_async_sdk_in_the_same_loop() -> None:
    """The way a pytest fixture uses the emulator: server and SDK ``_async`` calls share one event loop."""
    manager = FlowManager(
        RegionCatalogue.default(rtmp_port=0, srt_port_min=0, srt_port_max=0), _IdleRuntime()
    )
    async with ApiServer(manager, access_keys={"ak": "sk"}) as server:
        sdk = Client(
            Config(
                access_key_id="ak",
                access_key_secret="sk",
                region_id="ap-southeast-1",
                endpoint=server.endpoint,
                protocol="http",
            )
        )
        r = await sdk.create_media_connect_flow_async(
            M.CreateMediaConnectFlowRequest(flow_name="AsyncFlow", flow_region="us-west-1")
        )
        flow_id = r.body.content.flow_id
        got = await sdk.get_media_connect_flow_async(M.GetMediaConnectFlowRequest(flow_id=flow_id))
        assert (got.body.content.flow_name, got.body.content.flow_region) == ("AsyncFlow", "us-west-1")
        regions = await sdk.get_media_connect_available_region_async()
        assert regions.body.content.default_region == "ap-southeast-1"
