"""The RTMP sessions' state machines: Enum inputs, one table per role, every change (closing included)
through one ``_set_state``."""

from __future__ import annotations

import logging
import random

import pytest

from mediaplane.rtmp.chunk import ChunkEncoder
from mediaplane.rtmp.client_session import CLIENT_TRANSITIONS
from mediaplane.rtmp.events import PublishRequested
from mediaplane.rtmp.message import CommandMessage, serialize_payload
from mediaplane.rtmp.server_session import SERVER_TRANSITIONS
from mediaplane.rtmp.session import (
    ClientInput,
    ClientSessionState,
    RtmpClientSession,
    RtmpServerSession,
    ServerInput,
    ServerSessionState,
)


def connected_pair() -> tuple[RtmpServerSession, RtmpClientSession]:
    """A server and a publishing client pumped until quiet: the publish request awaits its answer."""
    server = RtmpServerSession(random.Random(1))
    client = RtmpClientSession(random.Random(2), app="live", key="k", mode="publish")
    client.initiate()
    while True:
        c2s = client.data_to_send()
        server.receive_data(c2s)
        s2c = server.data_to_send()
        client.receive_data(s2c)
        if not c2s and not s2c:
            return server, client


@pytest.mark.parametrize(
    ("table", "states", "close", "closed"),
    [
        (SERVER_TRANSITIONS, ServerSessionState, ServerInput.CLOSE, ServerSessionState.CLOSED),
        (CLIENT_TRANSITIONS, ClientSessionState, ClientInput.CLOSE, ClientSessionState.CLOSED),
    ],
    ids=["server", "client"],
)
def test_every_open_state_closes_through_the_table_and_closed_is_final(
    table: dict, states: type, close: object, closed: object
) -> None:
    for state in states:
        if state is closed:
            assert not any(s is closed for s, _ in table), "nothing leaves CLOSED"
        else:
            assert table[(state, close)] is closed
    # Every input of the role's Enum is used by some row, every state is reached or initial.
    inputs = {i for _, i in table}
    assert inputs == set(type(close))  # type: ignore[arg-type]
    reached = set(table.values())
    assert set(states) - reached <= {next(iter(states))}


def test_a_server_session_closes_through_set_state_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    server, _ = connected_pair()
    assert server.state is ServerSessionState.CONNECTED
    with caplog.at_level(logging.DEBUG, logger="mediaplane.rtmp.base_session"):
        server.close("test over")
    assert server.state is ServerSessionState.CLOSED
    assert "state connected -> closed" in caplog.text


def test_the_handshake_moves_both_roles_through_their_tables(caplog: pytest.LogCaptureFixture) -> None:
    server = RtmpServerSession(random.Random(1))
    client = RtmpClientSession(random.Random(2), app="live", key="k", mode="play")
    client.initiate()
    with caplog.at_level(logging.DEBUG, logger="mediaplane.rtmp.base_session"):
        server.receive_data(client.data_to_send())  # C0 C1
        client.receive_data(server.data_to_send())  # S0 S1 S2: the client is done, sends C2 and connect
        assert client.state is ClientSessionState.CONNECTING
        server.receive_data(client.data_to_send())
    assert server.state is ServerSessionState.CONNECTED
    assert "state handshake -> wait_connect" in caplog.text
    assert "state handshake -> connecting" in caplog.text
    assert "state wait_connect -> connected" in caplog.text


def test_an_input_the_table_lacks_is_a_protocol_error_that_closes_only_that_session() -> None:
    server, _ = connected_pair()
    other, _ = connected_pair()
    requested = [e for e in iter(server.next_event, None) if isinstance(e, PublishRequested)]
    server.accept_publish(requested[0].stream_id)
    # A second connect on a publishing session: (PUBLISHING, CONNECT) is not in the table.
    assert (ServerSessionState.PUBLISHING, ServerInput.CONNECT) not in SERVER_TRANSITIONS
    type_id, payload = serialize_payload(
        CommandMessage(name="connect", transaction_id=9.0, command_object={"app": "live"}, args=())
    )
    encoder = ChunkEncoder()
    server.receive_data(encoder.encode(csid=3, timestamp=0, type_id=type_id, stream_id=0, payload=payload))
    assert server.state is ServerSessionState.CLOSED
    assert server.close_reason == "unexpected connect in state publishing"
    assert other.state is ServerSessionState.CONNECTED


def test_the_handshake_cores_change_state_only_through_their_table() -> None:
    from mediaplane.rtmp.handshake import (
        HANDSHAKE_TRANSITIONS,
        ClientHandshake,
        HandshakeInput,
        HandshakeState,
        ServerHandshake,
    )

    assert {i for _, i in HANDSHAKE_TRANSITIONS} == set(HandshakeInput)
    assert set(HANDSHAKE_TRANSITIONS.values()) == {HandshakeState.WAIT_C2, HandshakeState.DONE}
    server, client = ServerHandshake(random.Random(1)), ClientHandshake(random.Random(2))
    c0c1 = client.initiate()
    s0s1s2 = server.receive_data(c0c1)
    assert server.state is HandshakeState.WAIT_C2
    c2 = client.receive_data(s0s1s2)
    assert client.done
    assert server.receive_data(c2) == b"" and server.done
