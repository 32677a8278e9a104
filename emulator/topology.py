"""Topology files: regions, links, flows and access keys declared in YAML (or JSON).

Shape (every key optional; see ``fixtures/topologies/`` for complete examples)::

    api: {host: 127.0.0.1, port: 8080}        # the ICE API (``--api-port`` overrides the port)
    access_keys: {AK1: secret1}                # absent or empty: any key is accepted, signatures unchecked
    seed: 42                                   # seeds every link's randomness and the stream keys

    # The region catalogue (see emulator.regions.RegionCatalogue.from_dict):
    rtmp_port: 1935
    srt_port_min: 10000
    srt_port_max: 10999
    regions: [{id: ap-southeast-1, host: 127.0.1.1, rtmp_port: 0}]
    latency_ms: {ap-southeast-1/eu-central-1: 80}     # one-way defaults per pair

    links:                                     # backbone impairments, per direction
      - from: ap-southeast-1
        to: eu-central-1
        both_ways: true                        # also to -> from (default false)
        profile: transpacific                  # a named profile, then any Impairment field overrides it
        loss_pct: 1.0
        timeline:                              # optional, runs by itself once the emulator is up
          - {at_s: 10, changes: {loss_pct: 100}, duration_s: 8}

    flows:
      - name: FlowA
        region: ap-southeast-1
        status: online                         # default offline
        failover: false
        input: {name: FlowAInput, protocol: RTMP-PUSH, max_bitrate: 1000000}
        backup_input: {...}                    # needs failover: true
        outputs:
          - {name: FlowAOutput, protocol: RTMP-PULL}
      - name: FlowB
        region: eu-central-1
        status: online
        input: {name: FlowBInput, protocol: Flow, pair_flow: FlowA, pair_output: FlowAOutput}
        outputs: [{name: FlowBOutput, protocol: RTMP-PULL}]

Input keys: name, protocol, from_url, max_bitrate, cidrs, pair_flow (a flow name of this file, or
``region/name``), pair_output, srt_latency, srt_passphrase, srt_pbkeylen, with_internal_vip. Output keys:
name, protocol, to_url, pair_flow, pair_input, player_limit, cidrs, srt_latency, srt_passphrase,
srt_pbkeylen, forbid. Inputs and outputs other than Flow ones also take ``last_mile``: the endpoint's
last-mile impairment (:mod:`emulator.model.lastmile`), ``{to_region: {...}, from_region: {...}}`` or one
impairment (``{profile: lossy-4g}``, ``{delay_ms: 150}``) for both directions. Flows are created in file
order; a flow may pair with one declared earlier or later.

Stream keys of a topology's RTMP endpoints (RTMP-PUSH inputs, RTMP-PULL outputs) are not random: they are
:func:`stream_key` of the seed (0 when absent), the region, the flow and the endpoint name, so the same file
gives the same URLs at every start (``mcemu up`` with no topology always prints the same demo URLs). Set a
seed of your own when others who know this scheme can reach the media ports. Flows made through the API get
random keys, as on the real service.
Errors raise :class:`~emulator.errors.ConfigError` naming the flow and key. Every value is type-checked
first against :data:`SCHEMA` (``topology: api.port: expected a port number (0-65535), got 'abc'``);
impairment fields, timelines and ``last_mile`` bodies are checked by their own parsers, which name the
field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mediaplane.netem import Impairment, Timeline

from .errors import ConfigError
from .model.impairment import impairment_from_body
from .model.lastmile import LastMileSpec
from .regions import RegionCatalogue

__all__ = [
    "DEFAULT_TOPOLOGY",
    "SCHEMA",
    "LinkSpec",
    "Topology",
    "check_types",
    "ephemeral_topology",
    "load_topology",
    "stream_key",
]

_CATALOGUE_KEYS = {"rtmp_port", "srt_port_min", "srt_port_max", "regions", "latency_ms", "default_region"}
_TOP_KEYS = _CATALOGUE_KEYS | {"api", "access_keys", "seed", "links", "flows"}
_FLOW_KEYS = {"name", "region", "status", "failover", "input", "backup_input", "outputs"}
_INPUT_KEYS = {
    "name", "protocol", "from_url", "max_bitrate", "cidrs", "pair_flow", "pair_output", "srt_latency",
    "srt_passphrase", "srt_pbkeylen", "with_internal_vip", "last_mile",
}  # fmt: skip
_OUTPUT_KEYS = {
    "name", "protocol", "to_url", "pair_flow", "pair_input", "player_limit", "cidrs", "srt_latency",
    "srt_passphrase", "srt_pbkeylen", "forbid", "last_mile",
}  # fmt: skip
_LINK_KEYS = {"from", "to", "both_ways", "profile", "timeline"}


# -- value types ------------------------------------------------------------------------------------
# A kind is one of the names below; a trailing "?" also accepts null (treated as absent).
_KIND_TEXT = {
    "int": "an integer",
    "port": "a port number (0-65535)",
    "str": "a string",
    "bool": "true or false",
    "number": "a number",
    "mapping": "a mapping",
    "list": "a list",
    "str|int": "a string or an integer",
    "list|mapping": "a list or a mapping",
    "str|mapping": "a string or a mapping",
}

_ENDPOINT_COMMON = {
    "name": "str", "protocol": "str", "cidrs": "str?", "pair_flow": "str?", "srt_latency": "int?",
    "srt_passphrase": "str?", "srt_pbkeylen": "int?", "last_mile": "str|mapping?",
}  # fmt: skip

_TIMELINE_STEP = {
    "at_s": "number", "duration_s": "number?", "changes": "mapping", "impairment": "mapping",
    "profile": "str", "revert": "bool",
}  # fmt: skip
"""The types of a timeline step's keys (checked by ``_link``: a timeline is a list or ``{steps: [...]}``)."""

SCHEMA: dict[str, Any] = {
    "api": ("mapping?", {"host": "str", "port": "port"}),
    "access_keys": ("mapping?", "str"),  # every value a secret string
    "seed": "int?",
    "rtmp_port": "port",
    "srt_port_min": "port",
    "srt_port_max": "port",
    "default_region": "str?",
    "regions": ("list?", {
        "id": "str", "name": "str", "host": "str", "rtmp_port": "port", "srt_port_min": "port",
        "srt_port_max": "port", "srt_ports": "str|int",
    }),
    "latency_ms": ("mapping?", "number"),
    "links": ("list?", {"from": "str", "to": "str", "both_ways": "bool?", "profile": "str",
                        "timeline": "list|mapping?"}),
    "flows": ("list?", {
        "name": "str", "region": "str", "status": "str?", "failover": "bool?",
        "input": ("mapping?", {**_ENDPOINT_COMMON, "from_url": "str?", "max_bitrate": "int?",
                               "pair_output": "str?", "with_internal_vip": "bool?"}),
        "backup_input": ("mapping?", {**_ENDPOINT_COMMON, "from_url": "str?", "max_bitrate": "int?",
                                      "pair_output": "str?", "with_internal_vip": "bool?"}),
        "outputs": ("list?", {**_ENDPOINT_COMMON, "to_url": "str?", "pair_input": "str?",
                              "player_limit": "int?", "forbid": "bool?"}),
    }),
}  # fmt: skip
"""The type of every key a topology may have: a kind (see ``_KIND_TEXT``), or ``(kind, inner)`` where
``inner`` is the schema of each entry of a list, the keys of a mapping, or the kind of every value of a
mapping. Keys not listed (a link's impairment fields) are left to their parser."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is(value: Any, kind: str) -> bool:
    if kind.endswith("?"):
        return value is None or _is(value, kind[:-1])
    if "|" in kind:
        return any(_is(value, k) for k in kind.split("|"))
    if kind in ("int", "port"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and (kind == "int" or 0 <= value <= 65535)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "mapping":
        return isinstance(value, Mapping)
    return isinstance(value, list)  # "list"


def _check(value: Any, spec: Any, key: str) -> None:
    kind, inner = spec if isinstance(spec, tuple) else (spec, None)
    if not _is(value, kind):
        raise ConfigError(f"topology: {key}: expected {_KIND_TEXT[kind.rstrip('?')]}, got {_short(value)}")
    if value is None or inner is None:
        return
    if isinstance(value, list):
        for i, entry in enumerate(value):
            _check(entry, ("mapping", inner) if isinstance(inner, dict) else inner, f"{key}[{i}]")
        return
    for name, item in value.items():
        if not isinstance(name, str):
            raise ConfigError(f"topology: {key}: keys must be strings, got {_short(name)}")
        if isinstance(inner, dict):
            if name in inner:
                _check(item, inner[name], f"{key}.{name}")
        else:
            _check(item, inner, f"{key}.{name}")


def check_types(doc: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first value whose type :data:`SCHEMA` does not allow."""
    for name, value in doc.items():
        if isinstance(name, str) and name in SCHEMA:
            _check(value, SCHEMA[name], name)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """The impairment of one direction of a region pair (and optionally its reverse)."""

    src: str
    dst: str
    impairment: Impairment
    both_ways: bool = False
    timeline: Timeline | None = None


@dataclass(kw_only=True)
class Topology:
    """A parsed topology file."""

    regions: RegionCatalogue
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    access_keys: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    links: list[LinkSpec] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Topology:
        if not isinstance(doc, Mapping):
            raise ConfigError("a topology must be a mapping")
        unknown = set(doc) - _TOP_KEYS
        if unknown:
            raise ConfigError(f"unknown topology key(s): {', '.join(sorted(map(str, unknown)))}")
        check_types(doc)
        regions = RegionCatalogue.from_dict({k: v for k, v in doc.items() if k in _CATALOGUE_KEYS})
        regions.validate()
        api = doc.get("api") or {}
        if not isinstance(api, Mapping) or set(api) - {"host", "port"}:
            raise ConfigError("api: a mapping with host and port")
        keys = doc.get("access_keys") or {}
        if not isinstance(keys, Mapping):
            raise ConfigError("access_keys: a mapping of access key id to secret")
        seed = doc.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise ConfigError("seed: an integer")
        links = [_link(entry, regions, i) for i, entry in enumerate(doc.get("links") or [])]
        flows = doc.get("flows") or []
        if not isinstance(flows, list):
            raise ConfigError("flows: a list")
        for i, flow in enumerate(flows):
            _check_flow(flow, i)
        return cls(
            regions=regions,
            api_host=str(api.get("host", "127.0.0.1")),
            api_port=int(api.get("port", 8080)),  # type-checked by check_types
            access_keys={str(k): str(v) for k, v in keys.items()},
            seed=seed,
            links=links,
            flows=list(flows),
        )


def _printable(text: str) -> str:
    """``text`` on one line: control characters (a key that is a newline) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _link(entry: Any, regions: RegionCatalogue, index: int) -> LinkSpec:
    where = f"links[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: a mapping")
    for key in ("from", "to"):
        if key not in entry:
            raise ConfigError(f"{where}: '{key}' (a region id) is required")
        if str(entry[key]) not in regions:
            raise ConfigError(f"{where}: {key} {entry[key]!r} is not a region of the catalogue")
    fields = {k: v for k, v in entry.items() if k not in _LINK_KEYS}
    steps = entry.get("timeline")
    steps = steps.get("steps") if isinstance(steps, Mapping) else steps
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, Mapping):
            _check(step, ("mapping", _TIMELINE_STEP), f"{where}.timeline[{i}]")
    if "profile" in entry:
        fields["profile"] = entry["profile"]
    try:
        default_ms = regions.default_latency_ms(str(entry["from"]), str(entry["to"]))
        impairment = impairment_from_body(fields, default_delay_ms=default_ms)
        timeline = Timeline.from_dict(entry["timeline"]) if entry.get("timeline") else None
        if timeline is not None:
            timeline.schedule(impairment)  # a step may be invalid only over this link's impairment
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{where}: {_printable(str(exc))}") from exc
    return LinkSpec(
        src=str(entry["from"]),
        dst=str(entry["to"]),
        impairment=impairment,
        both_ways=bool(entry.get("both_ways", False)),
        timeline=timeline,
    )


def _check_flow(flow: Any, index: int) -> None:
    if not isinstance(flow, Mapping):
        raise ConfigError(f"flows[{index}]: a mapping")
    where = f"flow {flow.get('name', index)!r}"
    unknown = set(flow) - _FLOW_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for key in ("name", "region"):
        if key not in flow:
            raise ConfigError(f"{where}: '{key}' is required")
    if flow.get("status", "offline") not in ("online", "offline"):
        raise ConfigError(f"{where}: status must be online or offline")
    for key in ("input", "backup_input"):
        if key in flow:
            _check_keys(flow[key], _INPUT_KEYS, f"{where} {key}")
    outputs = flow.get("outputs") or []
    if not isinstance(outputs, list):
        raise ConfigError(f"{where}: outputs must be a list")
    for i, out in enumerate(outputs):
        _check_keys(out, _OUTPUT_KEYS, f"{where} outputs[{i}]")


def _check_keys(doc: Any, allowed: set[str], where: str) -> None:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: a mapping")
    unknown = set(doc) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for key in ("name", "protocol"):
        if key not in doc:
            raise ConfigError(f"{where}: '{key}' is required")
    if doc.get("last_mile") is not None:
        try:
            LastMileSpec.from_body(doc["last_mile"])
        except ValueError as exc:
            raise ConfigError(f"{where}: last_mile: {exc}") from exc


EPHEMERAL_PORTS: dict[str, Any] = {"rtmp_port": 0, "srt_port_min": 0, "srt_port_max": 0, "api": {"port": 0}}
"""Topology keys that put the API and every listener of every region on an ephemeral port."""


def ephemeral_topology(doc: Mapping[str, Any] | None = None) -> Topology:
    """A topology from ``doc`` with every port 0 (API included) unless ``doc`` says otherwise: what
    ``Emulator()`` and the test fixtures run, so that runs can share a machine."""
    merged: dict[str, Any] = {**EPHEMERAL_PORTS, "api": {"host": "127.0.0.1", "port": 0}}
    merged.update(doc or {})
    return Topology.from_dict(merged)


STREAM_KEY_HEX_DIGITS = 32
"""Hex digits after ``<EndpointName>_`` in a stream key (as in a random one)."""


def stream_key(seed: int | None, region: str, flow: str, endpoint: str) -> str:
    """The stream key of a topology's RTMP endpoint: ``<endpoint>_<32 hex>``, the hex digits the start of
    HMAC-SHA256 keyed by the seed (0 when None) over ``region/flow/endpoint``. Same inputs, same key."""
    secret = f"mcemu-stream-key:{0 if seed is None else seed}".encode()
    digest = hmac.new(secret, f"{region}/{flow}/{endpoint}".encode(), hashlib.sha256).hexdigest()
    return f"{endpoint}_{digest[:STREAM_KEY_HEX_DIGITS]}"


def load_topology(path: str | pathlib.Path) -> Topology:
    """Read a YAML or JSON topology file. Raises ConfigError (also for unreadable files)."""
    p = pathlib.Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read topology {p}: {exc.strerror}") from exc
    try:
        doc = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: not valid YAML/JSON: {exc}") from exc
    return Topology.from_dict(doc or {})


DEFAULT_TOPOLOGY: dict[str, Any] = {
    "flows": [
        {
            "name": "DemoRtmpA",
            "region": "ap-southeast-1",
            "status": "online",
            "input": {"name": "DemoRtmpAInput", "protocol": "RTMP-PUSH"},
            "outputs": [{"name": "DemoRtmpAOutput", "protocol": "RTMP-PULL"}],
        },
        {
            "name": "DemoRtmpB",
            "region": "eu-central-1",
            "status": "online",
            "input": {
                "name": "DemoRtmpBInput",
                "protocol": "Flow",
                "pair_flow": "DemoRtmpA",
                "pair_output": "DemoRtmpAOutput",
            },
            "outputs": [{"name": "DemoRtmpBOutput", "protocol": "RTMP-PULL"}],
        },
        {
            "name": "DemoSrtA",
            "region": "ap-southeast-1",
            "status": "online",
            "input": {"name": "DemoSrtAInput", "protocol": "SRT-Listener", "srt_latency": 200},
            "outputs": [{"name": "DemoSrtAOutput", "protocol": "SRT-Listener", "srt_latency": 200}],
        },
        {
            "name": "DemoSrtB",
            "region": "eu-central-1",
            "status": "online",
            "input": {
                "name": "DemoSrtBInput",
                "protocol": "Flow",
                "pair_flow": "DemoSrtA",
                "pair_output": "DemoSrtAOutput",
                "srt_latency": 400,
            },
            "outputs": [{"name": "DemoSrtBOutput", "protocol": "SRT-Listener", "srt_latency": 200}],
        },
    ]
}
"""``mcemu up`` with no topology: the seed's Singapore -> Frankfurt RTMP relay and an SRT one, online.

The flow names are not the seed's FlowA / FlowB, so a user can still follow the seed's walkthrough
(which creates FlowA in Singapore) against a default emulator."""
