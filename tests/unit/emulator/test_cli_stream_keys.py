"""Stream keys of a topology's RTMP endpoints are a keyed hash of the seed, region, flow and endpoint name:
the same file gives the same URLs at every start, another seed other keys."""

from __future__ import annotations

import hashlib
import hmac
import re

from emulator.topology import stream_key


def test_same_inputs_same_key_in_the_documented_form() -> None:
    key = stream_key(None, "ap-southeast-1", "DemoRtmpA", "DemoRtmpAInput")
    assert key == stream_key(0, "ap-southeast-1", "DemoRtmpA", "DemoRtmpAInput")
    assert re.fullmatch(r"DemoRtmpAInput_[0-9a-f]{32}", key), key
    expected = hmac.new(b"mcemu-stream-key:0", b"ap-southeast-1/DemoRtmpA/DemoRtmpAInput", hashlib.sha256)
    assert key == "DemoRtmpAInput_" + expected.hexdigest()[:32]


def test_seed_region_flow_and_endpoint_each_change_the_key() -> None:
    base = stream_key(7, "ap-southeast-1", "A", "In")
    others = {
        stream_key(8, "ap-southeast-1", "A", "In"),
        stream_key(7, "eu-central-1", "A", "In"),
        stream_key(7, "ap-southeast-1", "B", "In"),
        stream_key(7, "ap-southeast-1", "A", "In2"),
    }
    assert base not in others and len(others) == 4
