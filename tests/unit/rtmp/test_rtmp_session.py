"""Server and client sessions pumped against each other in memory (no sockets, no loop)."""

from __future__ import annotations

import random

import pytest

from mediaplane.rtmp import amf0
from mediaplane.rtmp.chunk import ChunkEncoder, encode_fmt0
from mediaplane.rtmp.errors import LocalProtocolError
from mediaplane.rtmp.events import (
    Connected,
    ConnectionClosed,
    Event,
    HandshakeCompleted,
    MediaReceived,
    PlayRequested,
    PlayStarted,
    PlayStopped,
    PublishRequested,
    PublishStarted,
    PublishStopped,
    StatusReceived,
    StreamCreated,
)
from mediaplane.rtmp.handshake import ClientHandshake
from mediaplane.rtmp.message import MediaKind, MediaMessage, MessageType
from mediaplane.rtmp.session import (
    ClientSessionState,
    RtmpClientSession,
    RtmpServerSession,
    ServerSessionState,
)


def events(session: RtmpServerSession | RtmpClientSession) -> list[Event]:
    out = []
    while (e := session.next_event()) is not None:
        out.append(e)
    return out


class Pair:
    """A client and a server session joined by an in-memory pipe; ``pump`` moves bytes until quiet."""

    def __init__(self, mode: str, key: str = "cam1", *, step: int = 0, chunk_size: int = 4096) -> None:
        self.server = RtmpServerSession(random.Random(1), chunk_size=chunk_size)
        self.client = RtmpClientSession(
            random.Random(2), app="live", key=key, mode=mode, tc_url="rtmp://h/live", chunk_size=chunk_size
        )
        self.step = step
        self.server_events: list[Event] = []
        self.client_events: list[Event] = []
        self.client.initiate()

    def _feed(self, target: RtmpServerSession | RtmpClientSession, data: bytes) -> None:
        if not self.step:
            target.receive_data(data)
        else:
            for i in range(0, len(data), self.step):
                target.receive_data(data[i : i + self.step])

    def pump(self) -> None:
        while True:
            c2s = self.client.data_to_send()
            if c2s:
                self._feed(self.server, c2s)
            self.server_events += events(self.server)
            for e in self.server_events:
                if isinstance(e, PublishRequested) and self.server._pending_request == e.stream_id:
                    self.on_request(e)
                if isinstance(e, PlayRequested) and self.server._pending_request == e.stream_id:
                    self.on_request(e)
            s2c = self.server.data_to_send()
            if s2c:
                self._feed(self.client, s2c)
            self.client_events += events(self.client)
            if not c2s and not s2c:
                return

    def on_request(self, e: PublishRequested | PlayRequested) -> None:
        if isinstance(e, PublishRequested):
            self.server.accept_publish(e.stream_id)
        else:
            self.server.accept_play(e.stream_id)


@pytest.mark.parametrize("step", [0, 1, 7])
def test_publish_flow_and_media_pass_through(step: int) -> None:
    pair = Pair("publish", step=step, chunk_size=128)
    pair.pump()
    assert pair.client.state is ClientSessionState.PUBLISHING
    assert pair.server.state is ServerSessionState.PUBLISHING
    types = [type(e) for e in pair.client_events]
    assert types[:3] == [HandshakeCompleted, Connected, StreamCreated] and PublishStarted in types
    req = next(e for e in pair.server_events if isinstance(e, PublishRequested))
    assert (req.key, req.publish_type, pair.server.app) == ("cam1", "live", "live")
    assert pair.server_events[0] == HandshakeCompleted(digest=True)

    meta = MediaMessage(
        type_id=18,
        timestamp=0,
        payload=amf0.encode_all(["onMetaData", {"width": 320.0}]),
        kind=MediaKind.METADATA,
    )
    video = MediaMessage(
        type_id=9, timestamp=0x1000000, payload=b"\x17\x01" + bytes(range(256)) * 20, kind=MediaKind.KEYFRAME
    )
    cue = MediaMessage(
        type_id=18, timestamp=5, payload=amf0.encode_all(["onCuePoint", {"n": 1.0}]), kind=MediaKind.DATA
    )
    for m in (meta, video, cue):
        pair.client.send_media(m)
    pair.pump()
    got = [e.message for e in pair.server_events if isinstance(e, MediaReceived)]
    assert [(m.type_id, m.timestamp, m.payload, m.kind) for m in got] == [
        (18, 0, meta.payload, MediaKind.METADATA),  # @setDataFrame unwrapped
        (9, 0x1000000, video.payload, MediaKind.KEYFRAME),
        (18, 5, cue.payload, MediaKind.DATA),
    ]

    pair.client.stop()
    pair.pump()
    assert any(isinstance(e, PublishStopped) for e in pair.server_events)
    assert pair.server.state.value == "connected"


@pytest.mark.parametrize("step", [0, 1])
def test_play_flow_receives_prechunked_media(step: int) -> None:
    pair = Pair("play", step=step)
    pair.pump()
    assert pair.server.state is ServerSessionState.PLAYING
    assert any(isinstance(e, PlayStarted) for e in pair.client_events)
    codes = [e.code for e in pair.client_events if isinstance(e, StatusReceived)]
    assert codes == ["NetStream.Play.Reset", "NetStream.Play.Start"]
    sent = [
        MediaMessage(
            type_id=9, timestamp=ts, payload=bytes([0x27, 1]) + bytes(ts % 9000), kind=MediaKind.FRAME
        )
        for ts in (0xFFFFF0, 0xFFFFFF, 0x1000028, 0x1000050)
    ]
    for m in sent:
        pair.server.send_media(m)
    pair.pump()
    got = [e.message for e in pair.client_events if isinstance(e, MediaReceived)]
    assert [(m.timestamp, m.payload) for m in got] == [(m.timestamp, m.payload) for m in sent]

    pair.server.notify_unpublished()
    pair.server.notify_published()
    pair.pump()
    codes = [e.code for e in pair.client_events if isinstance(e, StatusReceived)]
    assert codes[-3:] == [
        "NetStream.Play.UnpublishNotify",
        "NetStream.Play.PublishNotify",
        "NetStream.Play.Start",
    ]
    pair.client.stop()
    pair.pump()
    assert any(isinstance(e, PlayStopped) for e in pair.server_events)


def test_rejected_publish_closes_the_client_with_the_status_code() -> None:
    pair = Pair("publish")
    pair.on_request = lambda e: pair.server.reject_publish(e.stream_id, "busy")  # type: ignore[method-assign]
    pair.pump()
    closed = [e for e in pair.client_events if isinstance(e, ConnectionClosed)]
    assert closed == [ConnectionClosed(reason="NetStream.Publish.BadName: busy", error=True)]


def test_rejected_play_says_stream_not_found() -> None:
    pair = Pair("play")
    pair.on_request = lambda e: pair.server.reject_play(e.stream_id, "no such stream")  # type: ignore[method-assign]
    pair.pump()
    assert (
        ConnectionClosed(reason="NetStream.Play.StreamNotFound: no such stream", error=True)
        in pair.client_events
    )


def test_acknowledgements_follow_the_window() -> None:
    pair = Pair("publish")
    pair.pump()
    # The server announced a 2.5 MB window: after that many bytes it must acknowledge.
    before = pair.server.bytes_sent
    for i in range(30):
        pair.client.send_media(
            MediaMessage(
                type_id=9, timestamp=i * 40, payload=b"\x27\x01" + bytes(100_000), kind=MediaKind.FRAME
            )
        )
    pair.pump()
    assert pair.server.bytes_sent > before
    assert pair.client.peer_acknowledged >= 2_500_000


def test_ping_request_gets_a_response() -> None:
    pair = Pair("play")
    pair.pump()
    pair.server.ping(1234)
    s2c = pair.server.data_to_send()
    pair.client.receive_data(s2c)
    reply = pair.client.data_to_send()
    assert bytes.fromhex("0007000004d2") in reply


def _connected_server() -> RtmpServerSession:
    server = RtmpServerSession(random.Random(1))
    hs = ClientHandshake(random.Random(2))
    server.receive_data(hs.initiate())
    server.receive_data(hs.receive_data(server.data_to_send()))
    events(server)
    return server


def _command(
    server: RtmpServerSession, values: list[object], *, stream_id: int = 0, chunk_size: int = 128
) -> None:
    enc = ChunkEncoder()
    enc.set_chunk_size(chunk_size)
    server.receive_data(
        enc.encode(csid=3, timestamp=0, type_id=20, stream_id=stream_id, payload=amf0.encode_all(values))
    )


def test_command_before_connect_closes_with_a_stable_reason() -> None:
    server = _connected_server()
    _command(server, ["publish", 1.0, None, "k", "live"])
    assert events(server) == [ConnectionClosed(reason="command publish before connect", error=True)]
    assert server.state is ServerSessionState.CLOSED


def test_random_bytes_after_handshake_close_the_session() -> None:
    server = _connected_server()
    server.receive_data(b"\x45" + random.Random(3).randbytes(64))
    (closed,) = events(server)
    assert isinstance(closed, ConnectionClosed) and closed.error
    assert closed.reason == "chunk stream 5 has no previous header"


def test_absurd_chunk_size_closes_the_session() -> None:
    server = _connected_server()
    server.receive_data(bytes.fromhex("02 000000 000004 01 00000000 ffffffff"))
    assert events(server) == [ConnectionClosed(reason="invalid chunk size", error=True)]


def test_huge_but_legal_chunk_size_is_accepted() -> None:
    server = _connected_server()
    server.receive_data(bytes.fromhex("02 000000 000004 01 00000000 7fffffff"))
    _command(server, ["connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}], chunk_size=0x7FFFFFFF)
    assert [type(e) for e in events(server)] == [Connected]


def test_publish_with_amf3_connect_is_tolerated() -> None:
    server = _connected_server()
    payload = b"\x00" + amf0.encode_all(["connect", 1.0, {"app": "live/", "objectEncoding": 3.0}])
    server.receive_data(ChunkEncoder().encode(csid=3, timestamp=0, type_id=17, stream_id=0, payload=payload))
    (connected,) = events(server)
    assert connected == Connected(
        app="live", tc_url="", command_object={"app": "live/", "objectEncoding": 3.0}
    )


def test_publish_key_query_is_split_off() -> None:
    server = _connected_server()
    _command(server, ["connect", 1.0, {"app": "live"}])
    _command(server, ["createStream", 2.0, None])
    _command(server, ["publish", 3.0, None, "cam?token=abc", "live"], stream_id=1)
    req = [e for e in events(server) if isinstance(e, PublishRequested)]
    assert req == [PublishRequested(stream_id=1, key="cam", query="token=abc", publish_type="live")]


def test_answer_without_a_request_is_a_local_error() -> None:
    server = _connected_server()
    with pytest.raises(LocalProtocolError):
        server.accept_publish(1)
    client = RtmpClientSession(random.Random(1), app="a", key="k", mode="publish")
    with pytest.raises(LocalProtocolError):
        client.send_media(
            MediaMessage(type_id=MessageType.AUDIO, timestamp=0, payload=b"", kind=MediaKind.FRAME)
        )


def test_closed_session_ignores_input() -> None:
    server = _connected_server()
    server.close("bye")
    assert events(server) == [ConnectionClosed(reason="bye", error=False)]
    server.receive_data(b"\xff" * 10)
    assert events(server) == []


def test_aggregate_from_a_publisher_arrives_as_separate_media() -> None:
    pair = Pair("publish")
    pair.pump()
    tag = (
        bytes([9])
        + (3).to_bytes(3, "big")
        + (200).to_bytes(3, "big")
        + bytes(4)
        + b"\x17\x01z"
        + (14).to_bytes(4, "big")
    )
    pair.client.send_prechunked(
        encode_fmt0(
            csid=6,
            timestamp=200,
            type_id=22,
            stream_id=pair.client.stream_id,
            payload=tag,
            chunk_size=pair.client.out_chunk_size,
        )
    )
    pair.pump()
    got = [e.message for e in pair.server_events if isinstance(e, MediaReceived)]
    assert [(m.type_id, m.timestamp, m.payload, m.kind) for m in got] == [
        (9, 200, b"\x17\x01z", MediaKind.KEYFRAME)
    ]
