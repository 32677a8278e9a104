"""Budgets and hostile values in the sessions, byte by byte: what a peer declares on the wire buys memory
only up to what the connection is allowed, and every hostile value from a server is a typed close of
that session (never a foreign exception out of the core)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from mediaplane.rtmp import amf0
from mediaplane.rtmp.chunk import ChunkDecoder, ChunkEncoder, encode_fmt0
from mediaplane.rtmp.events import (
    ConnectionClosed,
    Event,
    MediaReceived,
    PlayStarted,
    PublishRequested,
    PublishStarted,
)
from mediaplane.rtmp.handshake import ClientHandshake, ServerHandshake
from mediaplane.rtmp.message import (
    Abort,
    CommandMessage,
    MediaKind,
    MediaMessage,
    MessageType,
    PeerBandwidthLimit,
    RtmpMessage,
    SetChunkSize,
    SetPeerBandwidth,
    WindowAckSize,
    parse_message,
    serialize_payload,
)
from mediaplane.rtmp.session import RtmpClientSession, RtmpServerSession, ServerSessionState

ONE_MIB = 1024 * 1024


def events(session: RtmpServerSession | RtmpClientSession) -> list[Event]:
    out = []
    while (e := session.next_event()) is not None:
        out.append(e)
    return out


def closes(evs: list[Event]) -> list[ConnectionClosed]:
    return [e for e in evs if isinstance(e, ConnectionClosed)]


def video(size: int, timestamp: int = 0) -> MediaMessage:
    return MediaMessage(
        type_id=MessageType.VIDEO,
        timestamp=timestamp,
        payload=b"\x17\x01" + random.Random(size).randbytes(size - 2),
        kind=MediaKind.KEYFRAME,
    )


# -- the server role -----------------------------------------------------------------------------
class Client:
    """A scripted client over an in-memory pipe to a real server session."""

    def __init__(self) -> None:
        self.server = RtmpServerSession(random.Random(1))
        hs = ClientHandshake(random.Random(2))
        self.server.receive_data(hs.initiate())
        self.server.receive_data(hs.receive_data(self.server.data_to_send()))
        self.enc = ChunkEncoder()
        self.events = events(self.server)

    def wire(self, message: RtmpMessage, *, stream_id: int = 0, csid: int = 3) -> bytes:
        type_id, payload = serialize_payload(message)
        return self.enc.encode(csid=csid, timestamp=0, type_id=type_id, stream_id=stream_id, payload=payload)

    def command(self, *values: Any, stream_id: int = 0) -> bytes:
        return self.wire(
            CommandMessage(name=values[0], transaction_id=values[1], command_object=None, args=values[2:]),
            stream_id=stream_id,
        )

    def feed(self, data: bytes, *, step: int = 0) -> list[Event]:
        if step:
            for i in range(0, len(data), step):
                self.server.receive_data(data[i : i + step])
        else:
            self.server.receive_data(data)
        new = events(self.server)
        self.events += new
        return new

    def connect(self) -> None:
        self.feed(
            self.wire(
                CommandMessage(name="connect", transaction_id=1.0, command_object={"app": "live"}, args=())
            )
            + self.command("createStream", 2.0)
        )
        self.server.data_to_send()


def test_a_16_mib_header_before_authorisation_is_refused_on_the_header() -> None:
    client = Client()
    client.connect()
    wire = bytes.fromhex("06 000000 ffffff 09 01000000") + bytes(4096)
    fed = 0
    new: list[Event] = []
    while not new:
        new = client.feed(wire[fed : fed + 1])
        fed += 1
    assert fed == 12, "refused on the last byte of the message header"
    assert new == [
        ConnectionClosed(reason="message of 16777215 bytes exceeds the limit of 16384 bytes", error=True)
    ]
    assert client.server.state is ServerSessionState.CLOSED
    assert client.server._decoder.buffered_bytes == 0 and client.server._decoder.pending_bytes == 0


def test_a_large_command_before_authorisation_is_refused() -> None:
    client = Client()
    payload = amf0.encode_all(["connect", 1.0, None, "x" * 20_000])
    wire = client.enc.encode(csid=3, timestamp=0, type_id=20, stream_id=0, payload=payload)
    assert client.feed(wire, step=64) == [
        ConnectionClosed(
            reason=f"message of {len(payload)} bytes exceeds the limit of 16384 bytes", error=True
        )
    ]


@pytest.mark.parametrize("step", [0, 1, 997])
def test_after_publish_is_accepted_a_1_mib_video_message_arrives(step: int) -> None:
    client = Client()
    client.connect()
    (request,) = [
        e
        for e in client.feed(client.command("publish", 3.0, "cam", "live", stream_id=1))
        if isinstance(e, PublishRequested)
    ]
    client.server.accept_publish(request.stream_id)
    message = video(ONE_MIB, timestamp=40)
    client.enc.set_chunk_size(4096)
    wire = client.wire(SetChunkSize(size=4096), csid=2) + encode_fmt0(
        csid=6, timestamp=40, type_id=9, stream_id=1, payload=message.payload, chunk_size=4096
    )
    got = client.feed(wire, step=step)
    media = [e.message for e in got if isinstance(e, MediaReceived)]
    assert [(m.timestamp, m.payload) for m in media] == [(40, message.payload)]
    assert not closes(client.events)


def test_media_pipelined_behind_publish_waits_for_the_answer() -> None:
    client = Client()
    client.connect()
    payload = video(ONE_MIB).payload
    wire = (
        client.wire(SetChunkSize(size=4096), csid=2)
        + client.command("publish", 3.0, "cam", "live", stream_id=1)
        + encode_fmt0(csid=6, timestamp=0, type_id=9, stream_id=1, payload=payload, chunk_size=4096)
    )
    new = client.feed(wire[: 64 * 1024 - 1])  # under the unauthorised budget: it waits
    assert [type(e) for e in new] == [PublishRequested]
    client.server.accept_publish(1)
    client.feed(wire[64 * 1024 - 1 :])
    media = [e.message for e in client.events if isinstance(e, MediaReceived)]
    assert [m.payload for m in media] == [payload] and not closes(client.events)


def test_flooding_behind_an_unanswered_request_is_bounded() -> None:
    client = Client()
    client.connect()
    wire = client.command("publish", 3.0, "cam", "live", stream_id=1) + bytes(70_000)
    new = client.feed(wire)
    assert [type(e) for e in new] == [PublishRequested, ConnectionClosed]
    assert closes(new)[0].reason == "too many bytes before publish or play was answered"


def test_budget_narrows_again_after_unpublish() -> None:
    client = Client()
    client.connect()
    client.feed(client.command("publish", 3.0, "cam", "live", stream_id=1))
    client.server.accept_publish(1)
    client.feed(client.command("FCUnpublish", 4.0, "cam"))
    assert client.server.state is ServerSessionState.CONNECTED
    new = client.feed(bytes.fromhex("06 000000 100000 09 01000000"))
    assert new == [
        ConnectionClosed(reason="message of 1048576 bytes exceeds the limit of 16384 bytes", error=True)
    ]


def test_chunk_streams_before_authorisation_are_capped() -> None:
    client = Client()
    wire = b"".join(
        bytes([csid]) + bytes.fromhex("000000 000001 08 00000000") + b"a" for csid in range(3, 40)
    )
    assert closes(client.feed(wire)) == [ConnectionClosed(reason="too many chunk streams", error=True)]


def test_deep_amf0_nesting_and_long_strings_are_parse_errors() -> None:
    client = Client()
    deep = amf0.encode("connect") + amf0.encode(1.0) + b"\x0a\x00\x00\x00\x01" * 5000 + b"\x05"
    client.enc.set_chunk_size(0x7FFFFFFF)
    wire = client.wire(SetChunkSize(size=0x7FFFFFFF), csid=2) + client.enc.encode(
        csid=3, timestamp=0, type_id=20, stream_id=0, payload=deep[:16000]
    )
    assert closes(client.feed(wire)) == [ConnectionClosed(reason="AMF0 value nested too deeply", error=True)]
    other = Client()
    lying = amf0.encode("connect") + amf0.encode(1.0) + b"\x02\xff\xffabc"
    wire = other.enc.encode(csid=3, timestamp=0, type_id=20, stream_id=0, payload=lying)
    assert closes(other.feed(wire)) == [ConnectionClosed(reason="truncated AMF0 value", error=True)]


def test_closing_releases_the_decoder_buffers() -> None:
    client = Client()
    client.connect()
    client.feed(client.command("publish", 3.0, "cam", "live", stream_id=1))
    client.server.accept_publish(1)
    client.feed(bytes.fromhex("06 000000 300000 09 01000000") + bytes(128))
    assert client.server._decoder.pending_bytes == 3 * ONE_MIB
    client.server.close("bye")
    assert client.server._decoder.pending_bytes == 0 and client.server._decoder.buffered_bytes == 0


# -- the client role against a hostile server ------------------------------------------------------
class HostileServer:
    """Speaks the server side by hand so that every value it sends can be chosen."""

    def __init__(self, mode: str) -> None:
        self.client = RtmpClientSession(random.Random(2), app="live", key="cam", mode=mode)
        self.client.initiate()
        hs = ServerHandshake(random.Random(1))
        self.client.receive_data(hs.receive_data(self.client.data_to_send()))
        self._skip = 1536  # C2
        self.dec = ChunkDecoder()
        self.enc = ChunkEncoder()
        self.events = events(self.client)
        self.commands: list[CommandMessage] = []
        self._read()

    def _read(self) -> None:
        data = self.client.data_to_send()
        data, self._skip = data[self._skip :], max(0, self._skip - len(data))
        self.dec.receive_data(data)
        while (raw := self.dec.next_message()) is not None:
            message = parse_message(raw)
            if isinstance(message, SetChunkSize):
                self.dec.set_chunk_size(message.size)
            elif isinstance(message, CommandMessage):
                self.commands.append(message)

    def send(self, message: RtmpMessage, *, stream_id: int = 0) -> list[Event]:
        type_id, payload = serialize_payload(message)
        csid = 2 if type_id <= MessageType.SET_PEER_BANDWIDTH else 3
        return self.send_raw(
            self.enc.encode(csid=csid, timestamp=0, type_id=type_id, stream_id=stream_id, payload=payload)
        )

    def send_raw(self, data: bytes) -> list[Event]:
        self.client.receive_data(data)
        new = events(self.client)
        self.events += new
        self._read()
        return new

    def result(self, name: str, *args: Any, obj: Any = None) -> list[Event]:
        txn = next(c.transaction_id for c in reversed(self.commands) if c.name == name)
        return self.send(CommandMessage(name="_result", transaction_id=txn, command_object=obj, args=args))

    def to_create_stream(self) -> None:
        self.result("connect", {"level": "status", "code": "NetConnection.Connect.Success"})
        assert any(c.name == "createStream" for c in self.commands)

    def to_stream_1(self) -> None:
        """Connected, and createStream answered with message stream 1."""
        self.to_create_stream()
        self.result("createStream", 1.0)

    def on_status(self, info: dict[str, Any]) -> list[Event]:
        return self.send(
            CommandMessage(name="onStatus", transaction_id=0.0, command_object=None, args=(info,)),
            stream_id=1,
        )


class _Missing:
    pass


@pytest.mark.parametrize(
    "value",
    [
        -1.0,
        0.0,
        2.0**32,
        1e300,
        -1e300,
        math.nan,
        math.inf,
        -math.inf,
        1.5,
        "1",
        True,
        None,
        {"id": 1.0},
        _Missing,
    ],
)
@pytest.mark.parametrize("mode", ["publish", "play"])
def test_hostile_create_stream_result_closes_with_a_typed_reason(value: Any, mode: str) -> None:
    server = HostileServer(mode)
    server.to_create_stream()
    args = () if value is _Missing else (value,)
    new = server.result("createStream", *args)
    assert new == [ConnectionClosed(reason="createStream result has no valid stream id", error=True)]
    assert server.client.closed and server.client.stream_id == 0


@pytest.mark.parametrize("value", [1.0, 0xFFFFFFFF * 1.0])
def test_create_stream_result_at_the_edges_is_accepted(value: float) -> None:
    server = HostileServer("publish")
    server.to_create_stream()
    server.result("createStream", value)
    publish = server.commands[-1]
    assert publish.name == "publish" and server.client.stream_id == int(value)


def test_chunk_size_zero_from_a_server_closes_the_client() -> None:
    server = HostileServer("play")
    new = server.send_raw(bytes.fromhex("02 000000 000004 01 00000000 00000000"))
    assert new == [ConnectionClosed(reason="invalid chunk size", error=True)]


def test_absurd_control_values_from_a_server_are_harmless() -> None:
    server = HostileServer("play")
    server.send(SetChunkSize(size=0x7FFFFFFF))
    server.send(WindowAckSize(size=0xFFFFFFFF))
    server.send(WindowAckSize(size=1))
    server.send(SetPeerBandwidth(size=0, limit=PeerBandwidthLimit.HARD))
    server.send(SetPeerBandwidth(size=0xFFFFFFFF, limit=PeerBandwidthLimit.DYNAMIC))
    server.send(Abort(csid=0xFFFFFFFF))
    server.to_stream_1()
    new = server.on_status({"level": "status", "code": "NetStream.Play.Start"})
    assert any(isinstance(e, PlayStarted) for e in new) and not closes(server.events)


def test_a_16_mib_header_from_a_server_before_play_starts_is_refused() -> None:
    server = HostileServer("play")
    new = server.send_raw(bytes.fromhex("06 000000 ffffff 09 01000000"))
    assert new == [
        ConnectionClosed(reason="message of 16777215 bytes exceeds the limit of 16384 bytes", error=True)
    ]


def test_a_player_client_takes_a_1_mib_frame_once_playing() -> None:
    server = HostileServer("play")
    server.to_stream_1()
    server.on_status({"level": "status", "code": "NetStream.Play.Start"})
    payload = video(ONE_MIB).payload
    new = server.send_raw(
        encode_fmt0(csid=6, timestamp=0, type_id=9, stream_id=1, payload=payload, chunk_size=128)
    )
    assert [e.message.payload for e in new if isinstance(e, MediaReceived)] == [payload]


def test_publisher_client_is_authorised_by_publish_start() -> None:
    server = HostileServer("publish")
    server.to_stream_1()
    new = server.on_status({"level": "status", "code": "NetStream.Publish.Start"})
    assert any(isinstance(e, PublishStarted) for e in new)
    assert server.client._decoder.limits.max_media_message_bytes > ONE_MIB


def test_message_streams_are_capped_and_delete_stream_frees_one() -> None:
    client = Client()
    client.connect()  # one stream open
    for txn in range(3, 18):
        client.feed(client.command("createStream", float(txn)))
    assert not closes(client.events)
    client.feed(client.command("deleteStream", 18.0, 16.0))
    client.feed(client.command("createStream", 19.0))
    assert not closes(client.events)
    new = client.feed(client.command("createStream", 20.0))
    assert new == [ConnectionClosed(reason="too many message streams", error=True)]


def test_a_server_status_text_is_one_short_line_in_the_close_reason() -> None:
    server = HostileServer("play")
    server.to_stream_1()
    new = server.on_status({"level": "error", "code": "NetStream.Play.Failed\n", "description": "x" * 10_000})
    (closed,) = closes(new)
    assert closed.reason == "NetStream.Play.Failed?: " + "x" * 200 + "..."
