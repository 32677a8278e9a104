"""Timelines: parsing and which impairment is in force when."""

from __future__ import annotations

import pytest

from mediaplane.netem import Impairment, ImpairmentError, Timeline, profile

BASE = Impairment(delay_ms=20.0)


def test_outage_then_partial_loss() -> None:
    # "at 10 s: loss 100 % for 8 s, then 5 % loss"
    tl = Timeline.from_dict(
        {
            "steps": [
                {"at_s": 10, "changes": {"loss_pct": 100}, "duration_s": 8},
                {"at_s": 18, "changes": {"loss_pct": 5}},
            ]
        }
    )
    assert tl.impairment_at(0.0, BASE) == BASE
    assert tl.impairment_at(9.99, BASE).loss_pct == 0.0
    assert tl.impairment_at(10.0, BASE).loss_pct == 100.0
    assert tl.impairment_at(17.9, BASE).delay_ms == 20.0
    assert tl.impairment_at(18.0, BASE).loss_pct == 5.0
    assert tl.impairment_at(1e6, BASE).loss_pct == 5.0
    assert [t for t, _ in tl.schedule(BASE)] == [0.0, 10.0, 18.0]
    assert tl.end_s == 18.0


def test_revert_restores_only_touched_fields() -> None:
    tl = Timeline.from_dict(
        [
            {"at_s": 1, "changes": {"loss_pct": 50}, "duration_s": 10},
            {"at_s": 2, "changes": {"delay_ms": 200}},
        ]
    )
    assert tl.impairment_at(5, BASE) == Impairment(delay_ms=200.0, loss_pct=50.0)
    assert tl.impairment_at(12, BASE) == Impairment(delay_ms=200.0)


def test_no_revert_and_whole_impairment_and_profile() -> None:
    tl = Timeline.from_dict(
        {
            "steps": [
                {"at_s": 1, "impairment": {"jitter_ms": 5}, "duration_s": 1, "revert": False},
                {"at_s": 5, "profile": "satellite", "duration_s": 2},
            ]
        }
    )
    assert tl.impairment_at(1.5, BASE) == Impairment(jitter_ms=5.0)
    assert tl.impairment_at(3, BASE) == Impairment(jitter_ms=5.0)
    assert tl.impairment_at(6, BASE) == profile("satellite")
    assert tl.impairment_at(7, BASE) == Impairment(jitter_ms=5.0)


def test_round_trip() -> None:
    data = {
        "steps": [
            {"at_s": 1.0, "changes": {"loss_pct": 5}, "duration_s": 2.0},
            {"at_s": 3.0, "profile": "lossy-4g", "revert": False, "duration_s": 1.0},
            {"at_s": 4.0, "impairment": Impairment(delay_ms=3.0).to_dict()},
        ]
    }
    tl = Timeline.from_dict(data)
    assert Timeline.from_dict(tl.to_dict()) == tl


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"changes": {"loss_pct": 1}}], "step 0: at_s is required"),
        ([{"at_s": -1, "changes": {}}], "at_s must not be negative"),
        ([{"at_s": 1}], "needs exactly one of"),
        ([{"at_s": 1, "changes": {}, "profile": "satellite"}], "needs exactly one of"),
        ([{"at_s": 1, "changes": {"los_pct": 1}}], "step 0: unknown impairment keys: los_pct"),
        ([{"at_s": 1, "profile": "nope"}], "unknown impairment profile"),
        ([{"at_s": 1, "changes": {}, "duration_s": 0}], "duration_s must be above 0"),
        ([{"at_s": 1, "changes": {}, "when": 3}], "unknown keys: when"),
        ({"steps": [], "loop": True}, "timeline: unknown keys: loop"),
        ("at 10 s", "must be a list of steps"),
    ],
)
def test_invalid(data: object, message: str) -> None:
    with pytest.raises(ImpairmentError, match=message):
        Timeline.from_dict(data)
