"""Every topology value of the wrong type is a one-line ConfigError naming its key, never a TypeError,
AttributeError or KeyError: a walk over every key of a document that uses every key of the schema,
with values of every other JSON type, and hypothesis putting arbitrary JSON anywhere."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.errors import ConfigError
from emulator.topology import Topology

REGION = {"id": "ap-southeast-1", "name": "Singapore", "host": "127.0.1.1", "rtmp_port": 0}
INPUT = {
    "name": "In", "protocol": "SRT-Listener", "from_url": "srt://127.0.0.1:9000", "max_bitrate": 1_000_000,
    "cidrs": "0.0.0.0/0", "pair_flow": "B", "pair_output": "Out", "srt_latency": 200,
    "srt_passphrase": "passphrase-123", "srt_pbkeylen": 16, "with_internal_vip": False,
    "last_mile": {"to_region": {"delay_ms": 10}, "from_region": {"loss_pct": 1.0}},
}  # fmt: skip
OUTPUT = {
    "name": "Out", "protocol": "SRT-Listener", "to_url": "srt://127.0.0.1:9001", "pair_flow": "B",
    "pair_input": "In", "player_limit": 3, "cidrs": "0.0.0.0/0", "srt_latency": 200,
    "srt_passphrase": "passphrase-123", "srt_pbkeylen": 16, "forbid": True, "last_mile": {"delay_ms": 5},
}  # fmt: skip
#: Uses every key of the schema (it need not make sense as flows: only loading is tested).
FULL: dict[str, Any] = {
    "api": {"host": "127.0.0.1", "port": 0},
    "access_keys": {"AK": "secret"},
    "seed": 7,
    "rtmp_port": 0,
    "srt_port_min": 0,
    "srt_port_max": 0,
    "default_region": "ap-southeast-1",
    "regions": [
        REGION,
        {"id": "eu-central-1", "host": "127.0.1.2", "srt_port_min": 0, "srt_port_max": 0},
        {"id": "cn-beijing", "host": "127.0.1.3", "srt_ports": "0-0"},
    ],
    "latency_ms": {"ap-southeast-1/eu-central-1": 80.5},
    "links": [
        {
            "from": "ap-southeast-1",
            "to": "eu-central-1",
            "both_ways": True,
            "loss_pct": 1.0,
            "timeline": [{"at_s": 10, "changes": {"loss_pct": 100}, "duration_s": 8}],
        },
        {"from": "eu-central-1", "to": "cn-beijing", "profile": "lossy-4g", "delay_ms": 40},
    ],
    "flows": [
        {
            "name": "A",
            "region": "ap-southeast-1",
            "status": "online",
            "failover": True,
            "input": INPUT,
            "backup_input": {**INPUT, "name": "Backup"},
            "outputs": [OUTPUT],
        }
    ],
}

#: One value of each JSON type (and YAML's null).
POOL: list[Any] = ["abc", 12345, 1.5, True, None, [1, "x"], {"k": 1}]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of ``doc``, containers included."""
    if path:
        yield path, doc
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from leaves(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from leaves(value, (*path, i))


def replaced(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FULL)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


PATHS = [path for path, _ in leaves(FULL)]


def test_the_full_document_loads() -> None:
    topology = Topology.from_dict(FULL)
    assert topology.api_port == 0 and topology.access_keys == {"AK": "secret"} and len(topology.links) == 2


def _load(doc: dict[str, Any]) -> ConfigError | None:
    """Load; None if it loaded, the ConfigError if refused. Anything else fails the test."""
    try:
        Topology.from_dict(doc)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message, repr(message)
        return exc
    return None


@pytest.mark.parametrize("path", PATHS, ids=lambda p: ".".join(map(str, p)))
def test_every_key_with_a_value_of_another_type_is_a_config_error_naming_it(path: tuple[Any, ...]) -> None:
    original = dict(leaves(FULL))[path]
    name = next(str(k) for k in reversed(path) if isinstance(k, str))
    for value in POOL:
        if value is None or _json_type(value) == _json_type(original):
            _load(replaced(path, value))  # may load or be refused, but only with a ConfigError
            continue
        if isinstance(original, str) and isinstance(value, int) and name == "srt_ports":
            continue  # srt_ports: 10000 is one port
        if name in ("last_mile", "timeline") or path[-2:] == ("last_mile", "to_region"):
            _load(replaced(path, value))  # their parsers take several shapes
            continue
        if _json_type(original) == "number" and isinstance(value, float) and isinstance(original, float):
            continue
        error = _load(replaced(path, value))
        assert error is not None, f"{path} = {value!r} was accepted"
        assert name in str(error), (path, value, str(error))


def test_the_example_of_the_issue() -> None:
    with pytest.raises(ConfigError) as info:
        Topology.from_dict({"api": {"port": "abc"}})
    assert str(info.value) == "topology: api.port: expected a port number (0-65535), got 'abc'"
    with pytest.raises(ConfigError, match=r"^topology: regions\[0\]\.rtmp_port: expected a port number"):
        Topology.from_dict({"regions": [{"id": "ap-southeast-1", "rtmp_port": [1935]}]})
    with pytest.raises(ConfigError, match=r"^links\[0\]: delay_ms must be a number, got '80 ms'"):
        Topology.from_dict({"links": [{"from": "ap-southeast-1", "to": "eu-central-1", "delay_ms": "80 ms"}]})
    with pytest.raises(
        ConfigError, match=r"^topology: api.port: expected a port number \(0-65535\), got 70000"
    ):
        Topology.from_dict({"api": {"port": 70000}})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(PATHS) - 1), value=JSON)
def test_arbitrary_json_anywhere_loads_or_is_a_config_error(index: int, value: Any) -> None:
    _load(replaced(PATHS[index], value))


@settings(max_examples=100, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(sorted(FULL)), JSON, max_size=4))
def test_arbitrary_top_level_documents_load_or_are_a_config_error(doc: dict[str, Any]) -> None:
    _load(doc)
