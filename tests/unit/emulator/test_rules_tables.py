"""The rule tables of emulator/model/rules.py: one classification of endpoints (what the manager, the
last mile and the runtime read) and one table of which parameter applies to which protocol, with the
refusal every operation answers."""

from __future__ import annotations

import pytest

from emulator.errors import InvalidValue
from emulator.model.flow import FlowInput, FlowOutput, InputProtocol, OutputProtocol, Role
from emulator.model.rules import (
    APPLIES_TO,
    CONNECTIONS,
    Connection,
    applies,
    connection,
    dialing,
    listening,
    protocols,
    refuse_inapplicable,
)

LISTENING = {
    Role.INPUT: {InputProtocol.RTMP_PUSH, InputProtocol.SRT_LISTENER},
    Role.OUTPUT: {OutputProtocol.RTMP_PULL, OutputProtocol.SRT_LISTENER},
}
DIALING = {
    Role.INPUT: {InputProtocol.RTMP_PULL, InputProtocol.SRT_CALLER},
    Role.OUTPUT: {OutputProtocol.RTMP_PUSH, OutputProtocol.SRT_CALLER},
}


def test_every_protocol_of_each_role_connects_one_way() -> None:
    assert set(CONNECTIONS[Role.INPUT]) == set(InputProtocol)
    assert set(CONNECTIONS[Role.OUTPUT]) == set(OutputProtocol)
    for role in Role:
        assert set(protocols(role, Connection.LISTENING)) == LISTENING[role]
        assert set(protocols(role, Connection.DIALING)) == DIALING[role]
        assert protocols(role, Connection.BACKBONE) == ("Flow",)


@pytest.mark.parametrize("protocol", list(InputProtocol))
def test_an_input_is_classified_by_its_role_not_only_its_protocol_string(protocol: InputProtocol) -> None:
    inp = FlowInput(name="i", protocol=protocol)
    out = FlowOutput(name="o", protocol=OutputProtocol(protocol.value))
    # "RTMP-PUSH" listens as an input and dials as an output.
    assert listening(inp) == (protocol in LISTENING[Role.INPUT])
    assert dialing(inp) == (protocol in DIALING[Role.INPUT])
    assert listening(out) == (out.protocol in LISTENING[Role.OUTPUT])
    assert dialing(out) == (out.protocol in DIALING[Role.OUTPUT])
    assert (connection(inp) is Connection.BACKBONE) == (protocol is InputProtocol.FLOW)


def test_the_table_names_only_parameters_of_its_role() -> None:
    assert list(APPLIES_TO[Role.INPUT]) == ["InputFromUrl", "PairFlowId", "PairOutputName", "Cidrs"]
    assert list(APPLIES_TO[Role.OUTPUT]) == [
        "OutputToUrl",
        "PairFlowId",
        "PairInputName",
        "PlayerLimit",
        "Cidrs",
    ]
    assert applies(Role.INPUT, InputProtocol.RTMP_PULL, "InputFromUrl")
    assert not applies(Role.INPUT, InputProtocol.RTMP_PUSH, "InputFromUrl")
    assert applies(Role.INPUT, InputProtocol.RTMP_PUSH, "MaxBitrate")  # not in the table: every protocol


REFUSALS = [
    (Role.INPUT, InputProtocol.RTMP_PUSH, "InputFromUrl", "applies only to RTMP-PULL and SRT-Caller inputs"),
    (Role.INPUT, InputProtocol.SRT_CALLER, "PairFlowId", "applies only to Flow inputs"),
    (Role.INPUT, InputProtocol.FLOW, "Cidrs", "applies only to RTMP-PUSH and SRT-Listener inputs"),
    (
        Role.OUTPUT,
        OutputProtocol.RTMP_PULL,
        "OutputToUrl",
        "applies only to RTMP-PUSH and SRT-Caller outputs",
    ),
    (Role.OUTPUT, OutputProtocol.FLOW, "PlayerLimit", "applies only to RTMP-PULL and SRT-Listener outputs"),
    (Role.OUTPUT, OutputProtocol.SRT_CALLER, "PairInputName", "applies only to Flow outputs"),
]


@pytest.mark.parametrize(
    ("role", "protocol", "name", "reason"), REFUSALS, ids=[f"{r[1]}-{r[2]}" for r in REFUSALS]
)
def test_an_inapplicable_parameter_is_refused_naming_it(
    role: Role, protocol: InputProtocol | OutputProtocol, name: str, reason: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        refuse_inapplicable(role, protocol, {name: "x"})
    assert caught.value.field == name
    assert str(caught.value) == f"{name}: {reason}, not {protocol}"


def test_absent_and_empty_values_are_never_refused_and_the_first_given_one_is_named() -> None:
    refuse_inapplicable(Role.INPUT, InputProtocol.RTMP_PUSH, {"InputFromUrl": "", "PairFlowId": None})
    with pytest.raises(InvalidValue) as caught:
        refuse_inapplicable(
            Role.INPUT, InputProtocol.FLOW, {"Cidrs": "10.0.0.0/8", "InputFromUrl": "rtmp://h/a/b"}
        )
    assert caught.value.field == "InputFromUrl"  # table order, not the caller's
