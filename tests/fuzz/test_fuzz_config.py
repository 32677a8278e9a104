"""Fuzzing the configuration loaders inside the normal suite: netem timelines (mediaplane.netem) and
topology files (emulator.topology), as mutated YAML text and as structured documents whose values
have every wrong type (huge integers, NaN, infinities, strings, lists, nested mappings). Only
ImpairmentError (a NetemError) or ConfigError may escape."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from fuzz_inputs import fuzz_settings, inputs_for
from hypothesis import given
from hypothesis import strategies as st

from emulator.topology import DEFAULT_TOPOLOGY
from fuzz.harness import guarded, run_one
from fuzz.targets import TARGETS
from fuzz.targets.config import NETEM_ERRORS, TOPOLOGY_ERRORS, netem_timeline_value, topology_value

CONFIG_TARGETS = ["netem_timeline", "topology"]

HUGE = (10**400, -(10**400), 2**64, 2**63, -1, 0, 65536)
scalars = st.one_of(
    st.sampled_from(HUGE),
    st.sampled_from((float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 0.5)),
    st.sampled_from((None, True, False, "", "abc", "online", "RTMP-PUSH", "SRT-Listener", "Flow")),
    st.sampled_from(("ap-southeast-1", "eu-central-1", "satellite", "127.0.0.1", "0.0.0.0/0", "1" * 70)),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
"""Every wrong type a YAML document can carry, with the numbers float() cannot take."""
shallow = st.lists(scalars, max_size=2) | st.dictionaries(
    st.sampled_from(("a", "id", "port", "0")), scalars, max_size=2
)
values = scalars | shallow
numbers = st.floats(0, 100) | st.integers(0, 100) | scalars
"""Mostly plausible numbers, so parsing goes deep before a hostile value stops it."""

IMPAIRMENT_KEYS = (
    "delay_ms", "jitter_ms", "loss_pct", "loss_model", "rate_kbps", "queue_limit_packets", "outage",
    "outage_period_s", "outage_duration_s", "seed", "jitter_distribution", "bogus",
)  # fmt: skip
impairments = st.dictionaries(st.sampled_from(IMPAIRMENT_KEYS), numbers, max_size=3)
_step_tail = {"duration_s": numbers, "revert": st.booleans() | scalars}
steps = st.one_of(
    st.fixed_dictionaries({"at_s": numbers, "changes": impairments}, optional=_step_tail),
    st.fixed_dictionaries({"at_s": numbers, "impairment": impairments}, optional=_step_tail),
    st.fixed_dictionaries(
        {"at_s": numbers, "profile": st.sampled_from(("satellite", "lossy-4g")) | scalars},
        optional=_step_tail,
    ),
    st.dictionaries(
        st.sampled_from(("at_s", "changes", "impairment", "profile", "duration_s", "revert", "x")),
        values,
        max_size=4,
    ),
)
timelines = st.one_of(
    st.lists(steps, max_size=4), st.fixed_dictionaries({"steps": st.lists(steps, max_size=4)}), values
)


def _section(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), values, max_size=5)


endpoint = _section(("name", "protocol", "from_url", "to_url", "max_bitrate", "cidrs", "pair_flow",
                     "srt_latency", "srt_passphrase", "player_limit", "last_mile", "forbid"))  # fmt: skip
flows = st.fixed_dictionaries(
    {"name": values, "region": st.sampled_from(("ap-southeast-1", "eu-central-1")) | values},
    optional={
        "status": values,
        "failover": values,
        "input": endpoint | values,
        "outputs": st.lists(endpoint, max_size=2) | values,
    },
)
links = st.fixed_dictionaries(
    {"from": st.just("ap-southeast-1") | values, "to": st.just("eu-central-1") | values},
    optional={
        "both_ways": values,
        "profile": values,
        "timeline": timelines,
        "loss_pct": values,
        "delay_ms": values,
    },
)
topologies = st.fixed_dictionaries(
    {},
    optional={
        "api": st.dictionaries(st.sampled_from(("host", "port")), values, max_size=2) | values,
        "access_keys": st.dictionaries(st.sampled_from(("AK", "")), values, max_size=2) | values,
        "seed": values,
        "rtmp_port": values,
        "srt_port_min": values,
        "srt_port_max": values,
        "regions": st.lists(_section(("id", "host", "rtmp_port", "name")), max_size=2) | values,
        "latency_ms": st.dictionaries(
            st.sampled_from(("ap-southeast-1/eu-central-1", "x")), values, max_size=2
        )
        | values,
        "default_region": values,
        "links": st.lists(links, max_size=2) | values,
        "flows": st.lists(flows, max_size=2) | values,
    },
)


@pytest.mark.parametrize("name", CONFIG_TARGETS)
def test_every_seed_runs_clean(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds():
        run_one(target, seed)


@fuzz_settings(150)
@given(inputs_for(TARGETS["netem_timeline"], random_max_size=300))
def test_fuzz_netem_timeline_text(data: bytes) -> None:
    run_one(TARGETS["netem_timeline"], data)


@fuzz_settings(300)
@given(timelines)
def test_fuzz_netem_timeline_documents(doc: Any) -> None:
    guarded(netem_timeline_value, doc, allowed=NETEM_ERRORS)


@fuzz_settings(120)
@given(inputs_for(TARGETS["topology"], random_max_size=300))
def test_fuzz_topology_text(data: bytes) -> None:
    run_one(TARGETS["topology"], data)


@fuzz_settings(200)
@given(topologies)
def test_fuzz_topology_documents(doc: Any) -> None:
    guarded(topology_value, doc, allowed=TOPOLOGY_ERRORS)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def _one_value_wrong(draw: st.DrawFn, bases: list[Any]) -> Any:
    """A valid document with one or two values (or whole sections) replaced by a wrong-typed one, so
    every check of the loader is reached, not only the first."""
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(values)
    return doc


TOPOLOGY_BASES = [yaml.safe_load(seed) for seed in TARGETS["topology"].seeds()] + [DEFAULT_TOPOLOGY]
TIMELINE_BASES = [yaml.safe_load(seed) for seed in TARGETS["netem_timeline"].seeds()]


@fuzz_settings(250)
@given(_one_value_wrong(TOPOLOGY_BASES))
def test_fuzz_topology_one_value_wrong(doc: Any) -> None:
    guarded(topology_value, doc, allowed=TOPOLOGY_ERRORS)


@fuzz_settings(200)
@given(_one_value_wrong(TIMELINE_BASES))
def test_fuzz_netem_timeline_one_value_wrong(doc: Any) -> None:
    guarded(netem_timeline_value, doc, allowed=NETEM_ERRORS)


@pytest.mark.parametrize(
    "doc",
    [
        [{"at_s": 10**400, "changes": {}}],
        [{"at_s": 1, "duration_s": -(10**400), "changes": {}}],
        [{"at_s": 1, "changes": {"delay_ms": 10**400}}],
        {"steps": [{"at_s": 0, "impairment": {"rate_kbps": 2**1100}}]},
    ],
)
def test_integers_beyond_the_float_range_are_impairment_errors(doc: Any) -> None:
    """Found by the fuzzer: YAML reads 1000...0 as an int that float() cannot take (OverflowError)."""
    with pytest.raises(NETEM_ERRORS, match="must be"):
        netem_timeline_value(doc)
