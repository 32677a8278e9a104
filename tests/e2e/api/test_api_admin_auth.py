"""The admin API keeps the ICE API's promises: with access keys configured every ``/_emulator/*`` route
but health needs a V1 or V3 signature checked by the same verifier (unsigned, unknown key, wrong secret,
tampered path or body: the ICE error body and code), ``/metrics`` and health stay open and hold no
secret, and ``/_emulator/state`` hides stream keys and passphrases from unsigned callers. A real
emulator (real runtime, every port 0), the official SDK for ICE calls, urllib for the admin routes."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from admin_client import Answer, admin_call
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client

from emulator.api.signature import (
    sign_v3,
    v3_authorization,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)
from emulator.testing import EmulatorThread

AK = ("admin-ak", "admin-secret")
SG, FRA = "ap-southeast-1", "eu-central-1"


@pytest.fixture
def keyed() -> Iterator[EmulatorThread]:
    with EmulatorThread({"access_keys": {AK[0]: AK[1]}}) as emu:
        yield emu


@pytest.fixture
def open_emu() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        yield emu


def sdk(emu: EmulatorThread) -> Client:
    return emu.sdk_client(access_key_id=AK[0], secret=AK[1])


def add_flows(client: Client) -> dict[str, str]:
    """Flow A (Singapore: RTMP-PUSH input, RTMP-PULL output, RTMP-PUSH output to a foreign URL), Flow B
    (Frankfurt, fed by A's RTMP-PULL output) and Flow C (encrypted SRT-Listener input and output), all
    online: every kind of secret the state holds."""
    a = client.create_media_connect_flow(
        M.CreateMediaConnectFlowRequest(flow_name="A", flow_region=SG)
    ).body.content.flow_id
    push = client.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=a, input_name="In", input_protocol="RTMP-PUSH")
    ).body.content.input_url
    pull = client.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(flow_id=a, output_name="Out", output_protocol="RTMP-PULL")
    ).body.content.output_url
    client.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(
            flow_id=a,
            output_name="Push",
            output_protocol="RTMP-PUSH",
            output_to_url="rtmp://127.0.0.1:9/app/foreign-stream-key",
        )
    )
    b = client.create_media_connect_flow(
        M.CreateMediaConnectFlowRequest(flow_name="B", flow_region=FRA)
    ).body.content.flow_id
    client.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=b, input_name="FromA", input_protocol="Flow", pair_flow_id=a, pair_output_name="Out"
        )
    )
    c = client.create_media_connect_flow(
        M.CreateMediaConnectFlowRequest(flow_name="C", flow_region=SG)
    ).body.content.flow_id
    client.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(
            flow_id=c,
            input_name="SrtIn",
            input_protocol="SRT-Listener",
            srt_passphrase="passphrase-0123456789",
        )
    )
    client.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(
            flow_id=c,
            output_name="SrtOut",
            output_protocol="SRT-Listener",
            srt_passphrase="other-pass-987654",
        )
    )
    for fid in (a, b, c):
        client.update_media_connect_flow_status(
            M.UpdateMediaConnectFlowStatusRequest(flow_id=fid, status="online")
        )
    return {"a": a, "b": b, "c": c, "push_key": push.rsplit("/", 1)[1], "pull_key": pull.rsplit("/", 1)[1]}


def secrets_of(emu: EmulatorThread, ids: dict[str, str]) -> list[str]:
    return [
        ids["push_key"],
        ids["pull_key"],
        "passphrase-0123456789",
        "other-pass-987654",
        "foreign-stream-key",
        emu.run(lambda: emu.em.runtime.backbone_app),
    ]


#: (method, path, body) of every admin route (health and /metrics are open; see below).
ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/_emulator/reset", None),
    ("GET", "/_emulator/state", None),
    ("GET", "/_emulator/links", None),
    ("PUT", f"/_emulator/links/{SG}/{FRA}", {"loss_pct": 100}),
    ("DELETE", f"/_emulator/links/{SG}/{FRA}", None),
    ("POST", f"/_emulator/links/{SG}/{FRA}/timeline", {"steps": [{"at_s": 0, "changes": {"outage": True}}]}),
    ("GET", "/_emulator/lastmile", None),
    ("PUT", "/_emulator/lastmile/{a}/input/In", {"delay_ms": 100}),
    ("DELETE", "/_emulator/lastmile/{a}/input/In", None),
]


def assert_ice_refusal(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.body.get("Code")) == (status, code), answer
    assert set(answer.body) == {"RequestId", "Code", "Message", "HostId", "Recommend"}, answer.body


def test_every_admin_route_refuses_what_the_ice_api_refuses(keyed: EmulatorThread) -> None:
    ids = add_flows(sdk(keyed))
    base = keyed.api_url
    for method, template, body in ROUTES:
        path = template.format(a=ids["a"])
        assert_ice_refusal(admin_call(base, method, path, body), 400, "IncompleteSignature")
        assert_ice_refusal(
            admin_call(base, method, path, body, key=(AK[0], "wrong")), 400, "SignatureDoesNotMatch"
        )
        assert_ice_refusal(
            admin_call(base, method, path, body, key=("nobody", "x")), 404, "InvalidAccessKeyId.NotFound"
        )
        assert_ice_refusal(
            admin_call(base, method, path, body, key=(AK[0], "wrong"), v1=True), 400, "SignatureDoesNotMatch"
        )
    # Nothing changed: both flows still online, no impairment, no last mile, the SDK still works.
    for fid in (ids["a"], ids["b"], ids["c"]):
        flow = sdk(keyed).get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=fid)).body.content
        assert flow.flow_status == "online"
    assert keyed.run(lambda: keyed.em.backbone.overrides()) == {}
    assert keyed.run(lambda: keyed.em.runtime.lastmile.view()) == {"endpoints": []}


def test_signed_admin_calls_work_with_v3_and_v1(keyed: EmulatorThread) -> None:
    ids = add_flows(sdk(keyed))
    base = keyed.api_url
    for v1 in (False, True):
        for method, template, body in ROUTES[1:]:  # reset last
            answer = admin_call(base, method, template.format(a=ids["a"]), body, key=AK, v1=v1)
            assert answer.status == 200, (method, template, v1, answer)
    put = admin_call(base, "PUT", f"/_emulator/links/{SG}/{FRA}", {"delay_ms": 90}, key=AK)
    assert put.status == 200 and put.body["impairments"][0]["impairment"]["delay_ms"] == 90
    assert admin_call(base, "POST", "/_emulator/reset", key=AK).status == 200
    assert keyed.run(lambda: keyed.em.manager.flows) == []


def test_a_v3_signature_covers_path_body_date_and_nonce(keyed: EmulatorThread) -> None:
    base = keyed.api_url
    link = f"/_emulator/links/{SG}/{FRA}"
    tampered_body = admin_call(base, "PUT", link, {"delay_ms": 90}, key=AK, sent_body=b'{"loss_pct": 100}')
    assert_ice_refusal(tampered_body, 400, "SignatureDoesNotMatch")
    tampered_path = admin_call(base, "DELETE", link, key=AK, sent_path=f"/_emulator/links/{FRA}/{SG}")
    assert_ice_refusal(tampered_path, 400, "SignatureDoesNotMatch")
    # A signature that leaves the date and nonce out could be replayed with fresh ones: refused.
    headers = sign_v3(
        method="GET",
        path="/_emulator/state",
        query={},
        headers={"host": base.split("://")[1]},
        body=b"",
        access_key_id=AK[0],
        secret=AK[1],
    )
    canonical = v3_canonical_request(
        "GET", "/_emulator/state", {}, tuple(headers.items()), ["host"], headers["x-acs-content-sha256"]
    )
    headers["Authorization"] = v3_authorization(
        AK[0], ["host"], v3_signature(AK[1], v3_string_to_sign(canonical))
    )
    req = urllib.request.Request(base + "/_emulator/state", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400 and b"SignedHeaders must include x-acs-date" in info.value.read()


def test_health_and_metrics_stay_open_and_hold_no_secret(keyed: EmulatorThread) -> None:
    ids = add_flows(sdk(keyed))
    health = admin_call(keyed.api_url, "GET", "/_emulator/health")
    assert health.status == 200 and health.body["status"] == "ok"
    # Wait for the backbone leg A -> B to be live, so that /metrics lists a link too.
    deadline = time.monotonic() + 30
    while not keyed.run(lambda: list(keyed.em.backbone.links())):
        assert time.monotonic() < deadline, "the backbone link never came up"
        time.sleep(0.05)
    metrics = admin_call(keyed.api_url, "GET", "/metrics")
    assert metrics.status == 200
    text = metrics.raw.decode()
    assert "mcemu_link_delivered_total" in text and f'flow_id="{ids["a"]}"' in text
    for secret in secrets_of(keyed, ids):
        assert secret not in text and secret not in health.raw.decode()


def test_state_hides_secrets_from_unsigned_callers(open_emu: EmulatorThread) -> None:
    ids = add_flows(sdk(open_emu))
    secrets = secrets_of(open_emu, ids)
    bare = admin_call(open_emu.api_url, "GET", "/_emulator/state")  # as curl: no keys configured, open
    assert bare.status == 200 and bare.body["redacted"] is True
    text = bare.raw.decode()
    for secret in secrets:
        assert secret not in text, secret
    flow_a = next(f for f in bare.body["flows"] if f["id"] == ids["a"])
    urls = {o["name"]: o for o in flow_a["outputs"]}
    assert urls["Out"]["url"].endswith("/live/***") and urls["Out"]["stream_key"] == "***"
    assert urls["Push"]["to_url"] == "rtmp://127.0.0.1:9/app/***"
    assert flow_a["inputs"][0]["url"].startswith("rtmp://127.0.1.1:")
    # A signed call (any key: none is configured, as the SDK and the CLI sign) sees everything.
    signed = admin_call(open_emu.api_url, "GET", "/_emulator/state", key=("any", "thing"))
    assert signed.status == 200 and "redacted" not in signed.body
    for secret in (ids["push_key"], ids["pull_key"], "foreign-stream-key"):
        assert secret in signed.raw.decode(), secret


def test_state_with_keys_shows_secrets_to_a_signed_caller(keyed: EmulatorThread) -> None:
    ids = add_flows(sdk(keyed))
    signed = admin_call(keyed.api_url, "GET", "/_emulator/state", key=AK)
    assert signed.status == 200 and ids["push_key"] in signed.raw.decode()
