"""Every one of the 18 operations through the official SDK (default V3 signature), checking the fields
the SDK's response models read: the seed's walkthrough first, then each operation on its own."""

from __future__ import annotations

import re

import pytest
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client
from api_harness import ApiThread

SG, FRA = "ap-southeast-1", "eu-central-1"
pytestmark = pytest.mark.sdk


def create(sdk: Client, name: str, region: str = SG) -> str:
    r = sdk.create_media_connect_flow(M.CreateMediaConnectFlowRequest(flow_name=name, flow_region=region))
    assert r.status_code == 200 and r.body.ret_code == 0 and r.body.description == "OK" and r.body.request_id
    return str(r.body.content.flow_id)


def test_seed_walkthrough_control_plane(api: ApiThread, sdk: Client) -> None:
    """Flow A in Singapore (RTMP-PUSH in, RTMP-PULL out), Flow B in Frankfurt fed by protocol Flow."""
    a = create(sdk, "FlowA", SG)
    r_in = sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=a, input_name="FlowAInput", input_protocol="RTMP-PUSH", max_bitrate=1_000_000
        )
    )
    in_url = r_in.body.content.input_url
    assert re.fullmatch(r"rtmp://127\.0\.1\.1:\d+/live/FlowAInput_[0-9a-f]{32}", in_url), in_url
    assert r_in.body.content.inner_input_url is None
    a_out = sdk.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(flow_id=a, output_name="FlowAOutput", output_protocol="RTMP-PULL")
    ).body.content.output_url
    assert re.fullmatch(r"rtmp://127\.0\.1\.1:\d+/live/FlowAOutput_[0-9a-f]{32}", a_out), a_out
    b = create(sdk, "FlowB", FRA)
    b_in = sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=b,
            input_name="FlowBInput",
            input_protocol="Flow",
            pair_flow_id=a,
            pair_output_name="FlowAOutput",
        )
    ).body.content.input_url
    assert b_in == a_out
    b_out = sdk.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(flow_id=b, output_name="FlowBOutput", output_protocol="RTMP-PULL")
    ).body.content.output_url
    assert b_out.startswith("rtmp://127.0.1.2:")
    for flow in (a, b):
        r = sdk.update_media_connect_flow_status(
            M.UpdateMediaConnectFlowStatusRequest(flow_id=flow, status="online")
        )
        assert r.body.ret_code == 0 and r.body.content == ""
    assert api.runtime.live == {a, b}
    got = sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=b)).body
    assert got.retcode == 0  # GetMediaConnectFlow spells it Retcode
    assert (got.content.flow_status, got.content.flow_region, got.content.flow_name) == (
        "online",
        FRA,
        "FlowB",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", got.content.start_time)
    api.runtime.status[(a, "FlowAInput")] = "connected"
    a_input = sdk.get_media_connect_flow_input(M.GetMediaConnectFlowInputRequest(flow_id=a)).body.content
    assert (a_input.input_status, a_input.input_url, a_input.max_bitrate) == ("connected", in_url, 1_000_000)
    b_input = sdk.get_media_connect_flow_input(M.GetMediaConnectFlowInputRequest(flow_id=b)).body.content
    assert (b_input.input_protocol, b_input.pair_flow_id, b_input.pair_output_name, b_input.input_status) == (
        "Flow",
        a,
        "FlowAOutput",
        "disconnected",
    )
    for flow in (b, a):
        sdk.update_media_connect_flow_status(
            M.UpdateMediaConnectFlowStatusRequest(flow_id=flow, status="offline")
        )
    assert api.runtime.live == set()
    got = sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=a)).body.content
    assert got.flow_status == "offline" and got.start_time is None


def test_get_flow_fields(sdk: Client) -> None:
    flow_id = create(sdk, "F1", "cn-beijing")
    c = sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=flow_id)).body.content
    assert (c.flow_id, c.flow_name, c.flow_region, c.flow_status, c.flow_failover) == (
        flow_id,
        "F1",
        "cn-beijing",
        "offline",
        "no",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c.create_time)


def test_srt_listener_input_get_update_delete(api: ApiThread, sdk: Client) -> None:
    flow_id = create(sdk, "S", "me-central-1")
    r = sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=flow_id,
            input_name="srtin",
            input_protocol="SRT-Listener",
            cidrs="10.0.0.0/8, 127.0.0.1",
            srt_latency=300,
            srt_passphrase="0123456789abc",
            srt_pbkey_len=32,
            with_internal_vip=True,
        )
    ).body.content
    assert r.input_url == "srt://127.0.1.4:10000" and r.inner_input_url == r.input_url
    c = sdk.get_media_connect_flow_input(M.GetMediaConnectFlowInputRequest(flow_id=flow_id)).body.content
    assert (c.input_name, c.input_protocol, c.input_url, c.input_status, c.cidrs) == (
        "srtin",
        "SRT-Listener",
        "srt://127.0.1.4:10000",
        "offline",
        "10.0.0.0/8,127.0.0.1",
    )
    assert (c.srt_latency, c.srt_passphrase, c.srt_pbkey_len, c.max_bitrate) == (
        300,
        "0123456789abc",
        32,
        100_000_000,
    )
    assert c.backup_input_name is None and c.inner_input_url == r.input_url
    r2 = sdk.update_media_connect_flow_input(
        M.UpdateMediaConnectFlowInputRequest(flow_id=flow_id, input_name="srtin", srt_latency=500, cidrs="")
    )
    assert r2.body.ret_code == 0 and r2.body.content == ""
    c = sdk.get_media_connect_flow_input(M.GetMediaConnectFlowInputRequest(flow_id=flow_id)).body.content
    assert (c.srt_latency, c.cidrs) == (500, "")
    sdk.delete_media_connect_flow_input(
        M.DeleteMediaConnectFlowInputRequest(flow_id=flow_id, input_name="srtin")
    )
    assert api.runtime.ports["me-central-1"] == set()
    assert api.manager.get_flow(flow_id).inputs == []


def test_failover_backup_input(sdk: Client) -> None:
    flow_id = create(sdk, "F")
    sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=flow_id, input_name="main", input_protocol="RTMP-PUSH")
    )
    r = sdk.open_media_connect_flow_failover(M.OpenMediaConnectFlowFailoverRequest(flow_id=flow_id))
    assert r.body.ret_code == 0 and r.body.content == ""
    assert (
        sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=flow_id)).body.content.flow_failover
        == "yes"
    )
    backup_url = sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=flow_id,
            input_name="spare",
            input_protocol="RTMP-PUSH",
            max_bitrate=2_000_000,
            cidrs="1.2.3.4",
        )
    ).body.content.input_url
    c = sdk.get_media_connect_flow_input(M.GetMediaConnectFlowInputRequest(flow_id=flow_id)).body.content
    assert (c.input_name, c.backup_input_name, c.backup_input_url, c.backup_max_bitrate, c.backup_cidrs) == (
        "main",
        "spare",
        backup_url,
        2_000_000,
        "1.2.3.4",
    )
    assert c.backup_input_status == "offline" and c.backup_create_time
    sdk.delete_media_connect_flow_input(
        M.DeleteMediaConnectFlowInputRequest(flow_id=flow_id, input_name="spare")
    )
    sdk.close_media_connect_flow_failover(M.CloseMediaConnectFlowFailoverRequest(flow_id=flow_id))
    assert (
        sdk.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=flow_id)).body.content.flow_failover
        == "no"
    )


def test_outputs_get_update_forbid_resume_list_delete(api: ApiThread, sdk: Client) -> None:
    flow_id = create(sdk, "O")
    sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=flow_id,
            input_name="in",
            input_protocol="SRT-Caller",
            input_from_url="srt://10.1.2.3:9000",
        )
    )
    url = sdk.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(
            flow_id=flow_id,
            output_name="play",
            output_protocol="SRT-Listener",
            player_limit=3,
            cidrs="192.168.0.0/16",
            srt_latency=250,
        )
    ).body.content.output_url
    assert url == "srt://127.0.1.1:10000"
    sdk.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(
            flow_id=flow_id,
            output_name="push",
            output_protocol="SRT-Caller",
            output_to_url="srt://10.9.9.9:7000",
        )
    )
    names = sdk.get_media_connect_flow_all_output_name(
        M.GetMediaConnectFlowAllOutputNameRequest(flow_id=flow_id)
    )
    assert names.body.content == ["play", "push"] and names.body.ret_code == 0
    c = sdk.get_media_connect_flow_output(
        M.GetMediaConnectFlowOutputRequest(flow_id=flow_id, output_name="play")
    ).body.content
    assert (c.output_name, c.output_protocol, c.output_url, c.cidrs, c.forbid, c.player_limit) == (
        "play",
        "SRT-Listener",
        url,
        "192.168.0.0/16",
        "no",
        3,
    )
    assert (c.srt_latency, c.srt_passphrase, c.srt_pbkey_len, c.pair_flow_id) == (250, "", 0, None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c.create_time)
    sdk.update_media_connect_flow_output(
        M.UpdateMediaConnectFlowOutputRequest(
            flow_id=flow_id,
            output_name="push",
            output_to_url="srt://10.9.9.9:7001",
            srt_passphrase="pass-phrase-1",
        )
    )
    c = sdk.get_media_connect_flow_output(
        M.GetMediaConnectFlowOutputRequest(flow_id=flow_id, output_name="push")
    ).body.content
    assert (c.output_url, c.srt_passphrase, c.srt_pbkey_len, c.player_limit) == (
        "srt://10.9.9.9:7001",
        "pass-phrase-1",
        16,
        None,
    )
    sdk.update_media_connect_flow_status(
        M.UpdateMediaConnectFlowStatusRequest(flow_id=flow_id, status="online")
    )
    r = sdk.forbid_media_connect_flow_output(
        M.ForbidMediaConnectFlowOutputRequest(flow_id=flow_id, output_name="play")
    )
    assert r.body.ret_code == 0 and r.body.content == ""
    assert api.runtime.forbidden[(flow_id, "play")] is True
    forbid = sdk.get_media_connect_flow_output(
        M.GetMediaConnectFlowOutputRequest(flow_id=flow_id, output_name="play")
    )
    assert forbid.body.content.forbid == "yes"
    sdk.resume_media_connect_flow_output(
        M.ResumeMediaConnectFlowOutputRequest(flow_id=flow_id, output_name="play")
    )
    assert api.runtime.forbidden[(flow_id, "play")] is False
    sdk.update_media_connect_flow_status(
        M.UpdateMediaConnectFlowStatusRequest(flow_id=flow_id, status="offline")
    )
    sdk.delete_media_connect_flow_output(
        M.DeleteMediaConnectFlowOutputRequest(flow_id=flow_id, output_name="play")
    )
    names = sdk.get_media_connect_flow_all_output_name(
        M.GetMediaConnectFlowAllOutputNameRequest(flow_id=flow_id)
    )
    assert names.body.content == ["push"]
    assert api.runtime.ports[SG] == set()


def test_flow_output_pairs_with_push_input(sdk: Client) -> None:
    b = create(sdk, "B", FRA)
    b_in = sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=b, input_name="FlowBInput", input_protocol="RTMP-PUSH")
    ).body.content.input_url
    a = create(sdk, "A", SG)
    sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=a, input_name="in", input_protocol="RTMP-PULL", input_from_url="rtmp://10.0.0.1/live/src"
        )
    )
    url = sdk.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(
            flow_id=a, output_name="toB", output_protocol="Flow", pair_flow_id=b, pair_input_name="FlowBInput"
        )
    ).body.content.output_url
    assert url == b_in
    c = sdk.get_media_connect_flow_output(
        M.GetMediaConnectFlowOutputRequest(flow_id=a, output_name="toB")
    ).body.content
    assert (c.output_protocol, c.pair_flow_id, c.pair_input_name, c.player_limit) == (
        "Flow",
        b,
        "FlowBInput",
        None,
    )


def test_delete_flow(api: ApiThread, sdk: Client) -> None:
    flow_id = create(sdk, "D")
    sdk.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=flow_id, input_name="in", input_protocol="SRT-Listener")
    )
    r = sdk.delete_media_connect_flow(M.DeleteMediaConnectFlowRequest(flow_id=flow_id))
    assert r.body.ret_code == 0 and r.body.content == ""
    assert api.manager.flows == [] and api.runtime.ports[SG] == set()
    assert create(sdk, "D") != flow_id  # the name is free again


def test_available_regions(sdk: Client) -> None:
    r = sdk.get_media_connect_available_region()
    assert r.body.ret_code == 0
    assert r.body.content.region_list == [
        "ap-southeast-1",
        "eu-central-1",
        "cn-beijing",
        "me-central-1",
        "cn-shanghai",
        "cn-hangzhou",
        "cn-shenzhen",
        "us-west-1",
    ]
    assert r.body.content.default_region == "ap-southeast-1"
