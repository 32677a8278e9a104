"""An exhausted SRT port range answers 503 ServiceUnAvailable (README), against the REAL runtime: an
emulator whose Singapore region has two SRT ports, driven by the official SDK; flows started on those
ports really listen, and a port freed by a delete serves the next listener."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client
from api_harness import assert_refused

from emulator.testing import EmulatorThread
from tests.kit.ports import two_free_udp_ports

SG_HOST = "127.0.1.1"


@pytest.fixture
def emu() -> Iterator[EmulatorThread]:
    port = two_free_udp_ports(SG_HOST)
    topology = {
        "regions": [
            {"id": "ap-southeast-1", "host": SG_HOST, "srt_port_min": port, "srt_port_max": port + 1},
            {"id": "eu-central-1", "host": "127.0.1.2"},
        ]
    }
    with EmulatorThread(topology) as emu:
        yield emu


def create(client: Client, name: str) -> str:
    request = M.CreateMediaConnectFlowRequest(flow_name=name, flow_region="ap-southeast-1")
    return str(client.create_media_connect_flow(request).body.content.flow_id)


def add_srt_input(client: Client, flow_id: str, name: str) -> str:
    request = M.AddMediaConnectFlowInputRequest(
        flow_id=flow_id, input_name=name, input_protocol="SRT-Listener"
    )
    return str(client.add_media_connect_flow_input(request).body.content.input_url)


def online(client: Client, flow_id: str) -> None:
    client.update_media_connect_flow_status(
        M.UpdateMediaConnectFlowStatusRequest(flow_id=flow_id, status="online")
    )


def udp_port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def test_an_exhausted_srt_port_range_answers_503(emu: EmulatorThread) -> None:
    client = emu.sdk_client()
    a, b, c = create(client, "A"), create(client, "B"), create(client, "C")
    url_a = add_srt_input(client, a, "In")
    out_a = client.add_media_connect_flow_output(
        M.AddMediaConnectFlowOutputRequest(flow_id=a, output_name="Out", output_protocol="SRT-Listener")
    ).body.content.output_url
    message = assert_refused(
        client.add_media_connect_flow_input,
        M.AddMediaConnectFlowInputRequest(flow_id=b, input_name="In", input_protocol="SRT-Listener"),
        status=503,
        code="ServiceUnAvailable",
    )
    assert "no free SRT port left in ap-southeast-1" in message
    # The flow holding both ports starts and really listens on them.
    online(client, a)
    ports = [int(u.rsplit(":", 1)[1]) for u in (url_a, out_a)]
    assert all(udp_port_taken(SG_HOST, p) for p in ports)
    # An RTMP flow still starts: only SRT listeners need a port of the range.
    client.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=c, input_name="In", input_protocol="RTMP-PUSH")
    )
    online(client, c)
    assert_refused(
        client.add_media_connect_flow_output,
        M.AddMediaConnectFlowOutputRequest(flow_id=c, output_name="Srt", output_protocol="SRT-Listener"),
        status=403,
        code="OperationDenied",  # c is online: the state rule comes first
    )
    # Deleting A's output (offline first) frees one port: B gets it and starts.
    client.update_media_connect_flow_status(
        M.UpdateMediaConnectFlowStatusRequest(flow_id=a, status="offline")
    )
    client.delete_media_connect_flow_output(
        M.DeleteMediaConnectFlowOutputRequest(flow_id=a, output_name="Out")
    )
    url_b = add_srt_input(client, b, "In")
    assert url_b == out_a
    online(client, b)
    assert udp_port_taken(SG_HOST, int(url_b.rsplit(":", 1)[1]))
    status = client.get_media_connect_flow(M.GetMediaConnectFlowRequest(flow_id=b)).body.content.flow_status
    assert status == "online"
