"""Fuzzing the RTMP cores inside the normal suite: handshake, chunk decoder, AMF0, raw -> typed
messages, and both session roles, fed mutations of a real ffmpeg publish (fixtures/rtmp_publish_ffmpeg.bin,
recorded by ``python -m fuzz.record_rtmp_publish``: a raw socket server running our server core while
ffmpeg publishes one second of a 160x90 lavfi clip) and of our server's answers to it, plus random
bytes. Only the package's own protocol errors may escape, and every input stays within the
allocation budget of fuzz.harness (the same targets run under atheris: ``python -m fuzz``)."""

from __future__ import annotations

import random

import pytest
from fuzz_inputs import fuzz_settings, inputs_for
from hypothesis import given
from hypothesis import strategies as st

from fuzz.harness import DEFAULT_BUDGET_BYTES, run_one
from fuzz.targets import TARGETS
from fuzz.targets.rtmp import RTMP_HANDSHAKE_BYTES, RTMP_SERVER_CAPTURE
from mediaplane.rtmp import amf0
from mediaplane.rtmp.chunk import ChunkEncoder

RTMP_TARGETS = [name for name in TARGETS if name.startswith("rtmp_")]


@pytest.mark.parametrize("name", RTMP_TARGETS)
def test_every_seed_runs_clean(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds():
        run_one(target, seed)


@fuzz_settings(200)
@given(inputs_for(TARGETS["rtmp_handshake"], random_max_size=4000))
def test_fuzz_rtmp_handshake(data: bytes) -> None:
    run_one(TARGETS["rtmp_handshake"], data)


@fuzz_settings(300)
@given(inputs_for(TARGETS["rtmp_chunk"]))
def test_fuzz_rtmp_chunk(data: bytes) -> None:
    run_one(TARGETS["rtmp_chunk"], data)


@fuzz_settings(300)
@given(inputs_for(TARGETS["rtmp_amf0"]))
def test_fuzz_rtmp_amf0(data: bytes) -> None:
    run_one(TARGETS["rtmp_amf0"], data)


@fuzz_settings(300)
@given(inputs_for(TARGETS["rtmp_message"]))
def test_fuzz_rtmp_message(data: bytes) -> None:
    run_one(TARGETS["rtmp_message"], data)


@fuzz_settings(150)
@given(inputs_for(TARGETS["rtmp_server_session"]))
def test_fuzz_rtmp_server_session(data: bytes) -> None:
    run_one(TARGETS["rtmp_server_session"], data)


@fuzz_settings(150)
@given(inputs_for(TARGETS["rtmp_server_session_after_handshake"]))
def test_fuzz_rtmp_server_session_after_handshake(data: bytes) -> None:
    run_one(TARGETS["rtmp_server_session_after_handshake"], data)


@fuzz_settings(150)
@given(inputs_for(TARGETS["rtmp_client_session"]))
def test_fuzz_rtmp_client_session(data: bytes) -> None:
    run_one(TARGETS["rtmp_client_session"], data)


@fuzz_settings(100)
@given(
    length=st.sampled_from((0xFFFFFF, 0x800000, 0x100000)) | st.integers(0, 0xFFFFFF),
    chunk_size=st.sampled_from((0x7FFFFFFF, 0x1000000, 65536)) | st.integers(1, 0x7FFFFFFF),
    body=st.integers(0, 64 * 1024 - 64),
    csids=st.integers(1, 8),
)
def test_declared_lengths_buy_no_memory(length: int, chunk_size: int, body: int, csids: int) -> None:
    """Huge declared message lengths and chunk sizes on several chunk streams: the decoder and a
    session may hold what arrived, never what was announced."""
    enc = ChunkEncoder()
    stream = enc.encode(csid=2, timestamp=0, type_id=1, stream_id=0, payload=chunk_size.to_bytes(4, "big"))
    per = body // csids
    for csid in range(3, 3 + csids):
        header = bytes([csid]) + bytes(3) + length.to_bytes(3, "big") + b"\x09" + (1).to_bytes(4, "little")
        stream += header + bytes(per)
    assert len(stream) <= 64 * 1024
    run_one(TARGETS["rtmp_chunk"], stream)
    run_one(TARGETS["rtmp_server_session_after_handshake"], stream)
    assert DEFAULT_BUDGET_BYTES <= 8 * 1024 * 1024


hostile_numbers = st.one_of(
    st.sampled_from((-1.0, 0.0, 2.0**32, 2.0**31, 1e300, -1e300, float("inf"), float("nan"), 0.5, 65599.0)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**40), 2**40).map(float),
)
hostile_values: st.SearchStrategy[object] = st.one_of(
    hostile_numbers, st.none(), st.booleans(), st.text(max_size=8), st.just({})
)


@fuzz_settings(300)
@given(
    stream_id=hostile_values,
    txn=st.sampled_from((4.0, 3.0, 5.0)) | hostile_numbers,
    split=st.integers(1, 400),
)
def test_hostile_create_stream_results(stream_id: object, txn: float, split: int) -> None:
    """A hostile server's createStream answer (-1, 2**32, 1e300, NaN, a string...) is a typed
    protocol error or a usable stream id, for a publishing and a playing client alike."""
    server = RTMP_SERVER_CAPTURE.read_bytes()[:RTMP_HANDSHAKE_BYTES]
    enc = ChunkEncoder()
    connect_ok = amf0.encode_all(
        [
            "_result",
            1.0,
            {"fmsVer": "FMS/3,5,7,7009"},
            {"level": "status", "code": "NetConnection.Connect.Success"},
        ]
    )
    created = amf0.encode_all(["_result", txn, None, stream_id])
    started = amf0.encode_all(
        ["onStatus", 0.0, None, {"level": "status", "code": "NetStream.Publish.Start", "description": "ok"}]
    )
    for payload in (connect_ok, created, started):
        server += enc.encode(csid=3, timestamp=0, type_id=20, stream_id=0, payload=payload)
    rng = random.Random(split)
    cut = rng.randrange(len(server))
    run_one(TARGETS["rtmp_client_session"], server[:cut] + server[cut:])
