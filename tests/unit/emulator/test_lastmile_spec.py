"""Last-mile specs from their JSON form, endpoint classification, and URL rewriting (no sockets)."""

from __future__ import annotations

import pytest

from emulator.model.flow import FlowInput, FlowOutput, InputProtocol, OutputProtocol
from emulator.model.impairment import impairment_from_body
from emulator.model.lastmile import LastMileSpec
from emulator.model.rules import dialing, listening
from emulator.runtime.lastmile import remote_address, replace_address
from mediaplane.netem import Impairment, profile


def test_one_impairment_serves_both_directions() -> None:
    spec = LastMileSpec.from_body({"delay_ms": 150})
    assert spec.to_region == spec.from_region == Impairment(delay_ms=150)
    assert LastMileSpec.from_body("satellite").to_region == profile("satellite")


def test_directions_and_profile_overrides() -> None:
    spec = LastMileSpec.from_body({"to_region": {"profile": "lossy-4g", "loss_pct": 3}})
    assert spec.from_region is None and spec.get("from_region") == Impairment()
    assert spec.to_region == profile("lossy-4g").with_changes({"loss_pct": 3})
    assert spec.to_dict()["from_region"] is None
    assert LastMileSpec.from_body(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "names no impairment"),
        ({"to_region": {"delay_ms": 1}, "loss_pct": 2}, "not both forms"),
        ({"from_region": {"loss_pct": 101}}, "from_region: loss_pct"),
        ({"profile": "nope"}, "unknown impairment profile"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_bodies_name_the_problem(body: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LastMileSpec.from_body(body)


def test_impairment_from_body_validates() -> None:
    with pytest.raises(ValueError, match="delay_ms"):
        impairment_from_body({"delay_ms": -5})


def test_input_and_output_protocols_sharing_a_name_are_classified_by_role() -> None:
    push_in = FlowInput(name="i", protocol=InputProtocol.RTMP_PUSH)
    push_out = FlowOutput(name="o", protocol=OutputProtocol.RTMP_PUSH)
    assert listening(push_in) and not dialing(push_in)
    assert dialing(push_out) and not listening(push_out)
    flow_in = FlowInput(name="f", protocol=InputProtocol.FLOW)
    assert not listening(flow_in) and not dialing(flow_in)
    srt = FlowOutput(name="s", protocol=OutputProtocol.SRT_LISTENER)
    assert listening(srt)


def test_urls_keep_path_and_query() -> None:
    url = "srt://10.0.0.1:9000?passphrase=abcdefghij&streamid=x"
    assert replace_address(url, "127.0.0.1", 4242) == "srt://127.0.0.1:4242?passphrase=abcdefghij&streamid=x"
    assert remote_address(url) == ("10.0.0.1", 9000)
    assert remote_address("rtmp://example.net/live/key") == ("example.net", 1935)
    with pytest.raises(ValueError):
        remote_address("srt://host-without-port")
