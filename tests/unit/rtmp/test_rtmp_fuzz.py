"""Hostile input never escapes a session as an exception: it either is handled or closes the session
with a ConnectionClosed event (hypothesis over raw bytes and over well-framed random commands)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mediaplane.rtmp import amf0
from mediaplane.rtmp.chunk import ChunkEncoder
from mediaplane.rtmp.events import ConnectionClosed, Event, PlayRequested, PublishRequested
from mediaplane.rtmp.handshake import ClientHandshake
from mediaplane.rtmp.session import RtmpClientSession, RtmpServerSession


def handshaken_server() -> RtmpServerSession:
    server = RtmpServerSession(random.Random(1))
    hs = ClientHandshake(random.Random(2))
    server.receive_data(hs.initiate())
    server.receive_data(hs.receive_data(server.data_to_send()))
    while server.next_event() is not None:
        pass
    return server


def drain(session: RtmpServerSession | RtmpClientSession) -> list[Event]:
    out: list[Event] = []
    while (e := session.next_event()) is not None:
        out.append(e)
    return out


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 64))
def test_random_bytes_after_the_handshake(data: bytes, step: int) -> None:
    server = handshaken_server()
    for i in range(0, len(data), step):
        server.receive_data(data[i : i + step])
        server.data_to_send()
    events = drain(server)
    closes = [e for e in events if isinstance(e, ConnectionClosed)]
    assert len(closes) <= 1 and (not closes or server.closed)


amf_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=12), st.just(amf0.UNDEFINED)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)),
    max_leaves=8,
)
commands = st.tuples(
    st.sampled_from(
        [
            "connect",
            "createStream",
            "publish",
            "play",
            "deleteStream",
            "closeStream",
            "FCUnpublish",
            "FCPublish",
            "releaseStream",
            "getStreamLength",
            "_checkbw",
            "pause",
            "onStatus",
            "bogus",
        ]
    ),
    st.one_of(st.floats(), st.none(), st.text(max_size=3)),
    st.lists(amf_values, max_size=4),
    st.integers(0, 3),
    st.sampled_from([18, 20, 17, 1, 2, 3, 4, 5, 6, 8, 9, 22]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=12))
def test_random_well_framed_messages(messages: list[tuple[str, object, list[object], int, int]]) -> None:
    server = handshaken_server()
    enc = ChunkEncoder()
    # Start connected with one stream, so the random messages reach every state.
    prelude: list[tuple[str, object, list[object], int, int]] = [
        ("connect", 1.0, [{"app": "live"}], 0, 20),
        ("createStream", 2.0, [None], 0, 20),
    ]
    for name, txn, args, stream_id, type_id in prelude + messages:
        body = amf0.encode_all([name, txn, *args])
        if type_id == 17:
            body = b"\x00" + body
        elif type_id not in (18, 20):
            body = body[:12]
        server.receive_data(
            enc.encode(csid=3, timestamp=0, type_id=type_id, stream_id=stream_id, payload=body)
        )
        server.data_to_send()
        for event in drain(server):
            # Answer requests the way an owner would, alternating accept and reject.
            if isinstance(event, PublishRequested):
                server.accept_publish(event.stream_id)
            elif isinstance(event, PlayRequested):
                server.reject_play(event.stream_id, "nope")
        if server.closed:
            return
