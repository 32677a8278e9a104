"""Impairment config: validation, the plain dict form, profiles."""

from __future__ import annotations

import json

import pytest
import yaml

from mediaplane.netem import Impairment, ImpairmentError, profile, profile_description, profile_names


def test_defaults_are_identity() -> None:
    imp = Impairment()
    imp.validate()
    assert imp.is_identity


def test_dict_round_trip_through_json_and_yaml() -> None:
    imp = Impairment(
        delay_ms=80.0,
        jitter_ms=3.0,
        jitter_distribution="pareto",
        loss_pct=1.0,
        loss_model="gilbert-elliott",
        loss_burst_packets=3.0,
        rate_kbps=5000.0,
        queue_limit_packets=200,
        outage_mode="reset",
        seed=12,
    )
    d = imp.to_dict()
    assert Impairment.from_dict(json.loads(json.dumps(d))) == imp
    assert Impairment.from_dict(yaml.safe_load(yaml.safe_dump(d))) == imp


def test_from_dict_partial_and_ints_become_floats() -> None:
    imp = Impairment.from_dict({"delay_ms": 80, "loss_pct": 2})
    assert imp == Impairment(delay_ms=80.0, loss_pct=2.0)
    assert isinstance(imp.delay_ms, float)


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ValueError, match="unknown impairment keys: bandwith, latency"):
        Impairment.from_dict({"delay_ms": 1, "latency": 3, "bandwith": 5})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"delay_ms": "80"}, "delay_ms must be a number"),
        ({"delay_ms": True}, "delay_ms must be a number"),
        ({"delay_ms": -1}, "delay_ms must be within"),
        ({"loss_pct": 100.5}, "loss_pct must be within 0..100"),
        ({"queue_limit_packets": 1.5}, "queue_limit_packets must be an integer"),
        ({"queue_limit_packets": 0}, "queue_limit_packets must be at least 1"),
        ({"outage": 1}, "outage must be true or false"),
        ({"loss_model": "markov"}, "loss_model must be one of"),
        ({"outage_mode": "flap"}, "outage_mode must be one of"),
        ({"jitter_correlation_pct": 100}, "jitter_correlation_pct"),
        ({"outage_duration_s": 5, "outage_period_s": 2}, "outage_duration_s"),
        ({"loss_model": "gilbert-elliott", "ge_p_pct": 5}, "ge_r_pct must be above 0"),
        ({"loss_burst_packets": 0.5}, "loss_burst_packets"),
        ({"seed": -1}, "seed"),
        ({"rate_kbps": float("nan")}, "rate_kbps must be finite"),
    ],
)
def test_invalid_values(data: dict[str, object], message: str) -> None:
    with pytest.raises(ImpairmentError, match=message):
        Impairment.from_dict(data)


def test_from_dict_needs_a_mapping() -> None:
    with pytest.raises(ValueError, match="must be a mapping"):
        Impairment.from_dict([("delay_ms", 1)])


def test_with_changes() -> None:
    base = profile("transpacific")
    changed = base.with_changes({"loss_pct": 100})
    assert changed.loss_pct == 100.0 and changed.delay_ms == base.delay_ms


def test_profiles_are_valid_and_documented() -> None:
    names = profile_names()
    for required in ("backbone-good", "transpacific", "lossy-4g", "satellite"):
        assert required in names
    for name in names:
        imp = profile(name)
        imp.validate()
        assert profile_description(name)
        assert Impairment.from_dict(imp.to_dict()) == imp
    assert profile("satellite").delay_ms >= 239.0  # geostationary physics
    assert profile("lossy-4g").loss_model == "gilbert-elliott"
    assert profile("perfect").is_identity


def test_unknown_profile() -> None:
    with pytest.raises(ValueError, match="unknown impairment profile 'moon'"):
        profile("moon")


def test_summary() -> None:
    assert Impairment().summary() == "no impairment"
    text = profile("lossy-4g").summary()
    assert "delay 35 ms +-12 normal" in text and "loss 1.5 % (gilbert-elliott, bursts ~3)" in text
    assert "8000 kbps" in text
    assert "OUTAGE (reset)" in Impairment(outage=True, outage_mode="reset").summary()
