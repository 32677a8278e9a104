"""Fuzz targets for the loaders of YAML/JSON documents: netem timelines and topologies."""

from __future__ import annotations

import json
from typing import Any

import yaml

from emulator.errors import ConfigError
from emulator.topology import Topology
from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.models import NetemError

from ..harness import FuzzTarget
from .inputs import FIXTURES

__all__ = ["NETEM_ERRORS", "TARGETS", "TOPOLOGY_ERRORS", "netem_timeline_value", "topology_value"]


NETEM_ERRORS = (NetemError,)
TOPOLOGY_ERRORS = (ConfigError,)


def _load_document(data: bytes) -> Any:
    """A YAML (or JSON, which YAML reads too) document, or ``_REJECTED`` when the text is not one."""
    try:
        return yaml.load(data.decode("utf-8", "replace"), Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return _REJECTED
    except RecursionError:
        return _REJECTED  # PyYAML's composer recurses on nesting; not our parser


_REJECTED = object()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (same documents as ``yaml.safe_load``, far faster)."""


def netem_timeline_value(doc: Any) -> None:
    """A timeline document (dict or list) parsed, validated and scheduled over a base impairment."""
    timeline = Timeline.from_dict(doc)
    base = Impairment(delay_ms=20.0)
    schedule = timeline.schedule(base)
    times = [time_s for time_s, _ in schedule]
    assert times[0] == 0.0 and times == sorted(times)
    timeline.impairment_at(timeline.end_s / 2, base)
    assert Timeline.from_dict(json.loads(json.dumps(timeline.to_dict()))) == timeline


def netem_timeline(data: bytes) -> None:
    """:func:`netem_timeline_value` of a YAML/JSON text."""
    doc = _load_document(data)
    if doc is not _REJECTED:
        netem_timeline_value(doc)


def _timeline_seeds() -> list[bytes]:
    doc = {
        "steps": [
            {"at_s": 10, "changes": {"loss_pct": 100}, "duration_s": 8},
            {"at_s": 18, "changes": {"loss_pct": 5, "jitter_ms": 3.5}},
            {"at_s": 30, "profile": "satellite", "duration_s": 5},
            {
                "at_s": 40,
                "impairment": {"delay_ms": 20, "outage_period_s": 4, "outage_duration_s": 1},
                "duration_s": 5,
                "revert": False,
            },
        ]
    }
    return [json.dumps(doc).encode(), yaml.safe_dump(doc["steps"]).encode()]


def topology_value(doc: Any) -> None:
    """A topology document loaded the way ``mcemu up --topology`` loads it."""
    Topology.from_dict(doc or {})


def topology(data: bytes) -> None:
    """:func:`topology_value` of a YAML/JSON topology text (seeds: fixtures/topologies/)."""
    doc = _load_document(data)
    if doc is not _REJECTED:
        topology_value(doc)


def _topology_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / "topologies").glob("*.yaml"))]


TARGETS: tuple[FuzzTarget, ...] = (
    FuzzTarget(name="netem_timeline", run=netem_timeline, allowed=NETEM_ERRORS, seeds=_timeline_seeds),
    FuzzTarget(name="topology", run=topology, allowed=TOPOLOGY_ERRORS, seeds=_topology_seeds),
)
"""The netem timeline and topology targets, in the order ``python -m fuzz --list`` shows them."""
