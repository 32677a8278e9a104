"""No bad input answers 500: bodies over 1 MiB get 413, malformed or too deeply nested JSON 400, a bad or
over-long request line 400 with no ERROR (and no traceback) in the log, and a set of hostile bodies,
path parameters and query parameters thrown at every route (the ICE RPC included) all answer < 500.
A real emulator (real runtime, every port 0), plain sockets and urllib."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from admin_client import admin_call

from emulator.api import OPERATIONS
from emulator.api.signature import percent_encode
from emulator.testing import EmulatorThread

SG, FRA = "ap-southeast-1", "eu-central-1"
BIG = b'{"delay_ms": "' + b"x" * (2 * 1024 * 1024) + b'"}'
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        yield emu


@pytest.fixture(scope="module")
def flow_id(emu: EmulatorThread) -> str:
    answer = rpc(emu, {"Action": "CreateMediaConnectFlow", "FlowName": "Hostile", "FlowRegion": SG})
    fid = str(answer.body["Content"]["FlowId"])
    rpc(
        emu,
        {
            "Action": "AddMediaConnectFlowInput",
            "FlowId": fid,
            "InputName": "In",
            "InputProtocol": "RTMP-PUSH",
        },
    )
    return fid


def rpc(emu: EmulatorThread, params: dict[str, str], body: bytes | None = None) -> Any:
    return admin_call(emu.api_url, "POST", "/", query=params, raw_body=body)


def test_bodies_over_the_limit_get_413(emu: EmulatorThread, flow_id: str) -> None:
    for method, path in [
        ("PUT", f"/_emulator/links/{SG}/{FRA}"),
        ("POST", f"/_emulator/links/{SG}/{FRA}/timeline"),
        ("PUT", f"/_emulator/lastmile/{flow_id}/input/In"),
        ("POST", "/_emulator/reset"),
        ("POST", "/"),
    ]:
        answer = admin_call(emu.api_url, method, path, raw_body=BIG)
        assert answer.status == 413, (path, answer.status)
        assert answer.body["Code"] == "RequestEntityTooLarge" and "1048576 bytes" in answer.body["Message"]
    assert emu.run(lambda: emu.em.manager.get_flow(flow_id)).name == "Hostile"  # reset did not run


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (DEEP, "nested deeper than 32 levels"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than 32 levels"),
        (b"{not json", "not valid JSON"),
        (b'{"delay_ms": NaN}', "NaN is not a number"),
        (b'{"delay_ms": 1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
    ids=["deep-array", "deep-object", "malformed", "nan", "huge-int", "not-utf8"],
)
def test_malformed_or_deep_json_gets_400(emu: EmulatorThread, flow_id: str, body: bytes, needle: str) -> None:
    for path in (
        f"/_emulator/links/{SG}/{FRA}",
        f"/_emulator/lastmile/{flow_id}/input/In",
    ):
        answer = admin_call(emu.api_url, "PUT", path, raw_body=body)
        assert answer.status == 400 and needle in answer.body["error"], (path, answer)
    answer = admin_call(emu.api_url, "POST", f"/_emulator/links/{SG}/{FRA}/timeline", raw_body=body)
    assert answer.status == 400 and needle in answer.body["error"], answer


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"BREW\x00 / HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["long-line", "long-header", "tls", "version", "method", "length", "chunk"],
)
def test_a_bad_request_line_gets_400_and_no_traceback(
    emu: EmulatorThread, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = raw_exchange(emu.em.api_port, request_bytes)
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0], answer[:200]
    # The log line (DEBUG, one line) is written on the emulator's thread: wait for it.
    deadline = time.monotonic() + 10
    while not any("bad HTTP request refused" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.02)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == [], [(r.levelname, r.getMessage()) for r in noisy]
    assert admin_call(emu.api_url, "GET", "/_emulator/health").status == 200


HOSTILE_VALUES = [
    "",
    " ",
    "\x00",
    "x" * 5000,
    "-1",
    "0",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "-0",
    "true",
    "[]",
    "{}",
    "%zz",
    "../../etc",
    "é\u202e\U0001f600",
    "rtmp://",
    "srt://[::1",
    "10.0.0.0/33,,",
]
HOSTILE_BODIES: list[Any] = [
    None,
    [],
    "text",
    1,
    {"delay_ms": "x"},
    {"delay_ms": 1e308},
    {"delay_ms": -1},
    {"profile": 1},
    {"profile": "no-such-profile"},
    {"profile": "lossy-4g", "loss_pct": [1]},
    {"both_ways": "yes"},
    {"seed": 1.5},
    {"seed": 10**30},
    {"queue_limit_packets": 10**30},
    {"rate_kbps": 1e300},
    {"outage": "yes"},
    {"unknown": 1},
    {"steps": "x"},
    {"steps": [{"at_s": "x", "changes": {}}]},
    {"steps": [{"at_s": 1e300, "changes": {"loss_pct": 5}}]},
    {"steps": [{"at_s": 0, "duration_s": 1e300, "changes": {"loss_pct": 5}}]},
    {"steps": [{"at_s": -1, "changes": {"loss_pct": 5}}]},
    {"steps": [{"at_s": 0, "changes": {"loss_pct": 500}}]},
    {"steps": [{"at_s": 0, "profile": ["x"]}]},
    {"steps": [{"at_s": 0, "impairment": "x"}]},
    {"steps": [1, None]},
    {"to_region": 5},
    {"to_region": {"profile": []}, "from_region": None},
    {"to_region": {}, "extra": 1},
    {"from_region": {"delay_ms": 1e300}},
    {"from_region": "lossy-4g"},
]


def test_hostile_input_at_every_admin_route_never_answers_500(emu: EmulatorThread, flow_id: str) -> None:
    regions = [SG, "nowhere", "", "%2e%2e", "x" * 3000]
    bad: list[tuple[str, str, int]] = []

    def check(method: str, path: str, answer_status: int) -> None:
        if answer_status >= 500:
            bad.append((method, path[:120], answer_status))

    for body in HOSTILE_BODIES:
        for src in regions:
            for method, path in [
                ("PUT", f"/_emulator/links/{src}/{FRA}"),
                ("POST", f"/_emulator/links/{src}/{FRA}/timeline"),
            ]:
                check(method, path, admin_call(emu.api_url, method, path, body).status)
        for role in ("input", "output", "neither"):
            for fid, name in ((flow_id, "In"), ("missing", "In"), (flow_id, "%00"), (flow_id, "x" * 3000)):
                path = f"/_emulator/lastmile/{fid}/{role}/{name}"
                check("PUT", path, admin_call(emu.api_url, "PUT", path, body).status)
        for method, path in [
            ("GET", "/_emulator/state"),
            ("GET", "/_emulator/links"),
            ("POST", "/_emulator/reset"),
        ]:
            if path.endswith("reset"):
                continue  # below, once: it would delete the fixture's flow
            check(method, path, admin_call(emu.api_url, method, path, body).status)
    for value in HOSTILE_VALUES:
        q = {"both_ways": value, value or "k": value}
        for method, path in [
            ("DELETE", f"/_emulator/links/{SG}/{FRA}"),
            ("DELETE", f"/_emulator/lastmile/{flow_id}/input/In"),
            ("DELETE", f"/_emulator/lastmile/{flow_id}/{percent_encode(value) or 'x'}/In"),
            ("GET", "/_emulator/state"),
            ("GET", "/_emulator/lastmile"),
            ("GET", "/metrics"),
            ("GET", "/_emulator/health"),
        ]:
            check(method, path, admin_call(emu.api_url, method, path, query=q).status)
    assert bad == []
    assert admin_call(emu.api_url, "GET", f"/_emulator/links/{SG}/{FRA}/../..").status < 500


#: Every parameter name an ICE operation reads.
ICE_PARAMS = [
    "FlowId", "FlowName", "FlowRegion", "Status", "InputName", "InputProtocol", "Cidrs", "InputFromUrl",
    "MaxBitrate", "PairFlowId", "PairOutputName", "PairInputName", "SrtLatency", "SrtPassphrase",
    "SrtPbkeyLen", "WithInternalVip", "OutputName", "OutputProtocol", "OutputToUrl", "PlayerLimit",
]  # fmt: skip


def test_hostile_ice_parameters_never_answer_500(emu: EmulatorThread, flow_id: str) -> None:
    bad = []
    for action in OPERATIONS:
        for value in HOSTILE_VALUES:
            for own_flow in (False, True):
                params = {"Action": action, "Version": "2020-11-09", **{p: value for p in ICE_PARAMS}}
                if own_flow:
                    params.update(FlowId=flow_id, InputName="In")
                answer = rpc(emu, params)
                if answer.status >= 500:
                    bad.append((action, value[:20], own_flow, answer.body))
        # The same as a form body, and a body that is not one.
        form = "&".join(f"{p}=%ff%fe" for p in ICE_PARAMS).encode()
        answer = admin_call(
            emu.api_url,
            "POST",
            "/",
            query={"Action": action},
            raw_body=form,
            content_type="application/x-www-form-urlencoded",
        )
        if answer.status >= 500:
            bad.append((action, "form", False, answer.body))
    assert bad == []
    assert admin_call(emu.api_url, "POST", "/_emulator/reset").status == 200
