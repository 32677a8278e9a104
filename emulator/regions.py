"""Regions: where a flow lives, on which address its endpoints listen, and how far apart regions are.

Catalogue
---------
The default catalogue lists the MediaConnect console regions and the ICE API regions, in this order, each
on its own loopback address (Linux routes all of 127.0.0.0/8 to ``lo``, so no setup is needed)::

    ap-southeast-1  Singapore       127.0.1.1
    eu-central-1    Frankfurt       127.0.1.2
    cn-beijing      Beijing         127.0.1.3
    me-central-1    Riyadh          127.0.1.4
    cn-shanghai     Shanghai        127.0.1.5
    cn-hangzhou     Hangzhou        127.0.1.6
    cn-shenzhen     Shenzhen        127.0.1.7
    us-west-1       Silicon Valley  127.0.1.8

Every region's RTMP server listens on ``rtmp_port`` (default 1935) of its address, and its SRT listeners
take UDP ports from ``srt_port_min``-``srt_port_max`` (default 10000-10999; regions may share the range
because each has its own address). Port 0 is allowed everywhere: the RTMP server then binds an ephemeral
port, and ``srt_port_min = srt_port_max = 0`` makes every SRT listener bind an ephemeral port (tests).
The first region of a catalogue is its default region (``GetMediaConnectAvailableRegion.DefaultRegion``)
unless the catalogue names another.

Default one-way latencies
-------------------------
:data:`DEFAULT_ONE_WAY_MS` gives, for every pair of the default catalogue, a one-way delay in ms equal to
half a typical round-trip time measured between data centres in those cities, rounded to the ms. The
figures are medians read from public inter-region measurements (2023-2025), not Alibaba Cloud's own
backbone figures (which are not published per pair):

* cloudping.co, "AWS Region Latency Matrix" (https://cloudping.co/): RTTs between AWS ap-southeast-1
  (Singapore), eu-central-1 (Frankfurt), us-west-1 (N. California, ~60 km from Alibaba's Silicon Valley
  region), me-central-1 (UAE) and ap-east-1 (Hong Kong, the gateway of southern China): e.g. Singapore -
  Frankfurt ~160 ms, Singapore - N. California ~170 ms, Frankfurt - N. California ~148 ms, Hong Kong -
  Singapore ~34 ms, Hong Kong - Frankfurt ~198 ms, Hong Kong - N. California ~155 ms, Hong Kong - UAE
  ~120 ms.
* WonderNetwork global ping statistics (https://wondernetwork.com/pings), city-to-city medians between
  Singapore, Frankfurt, Beijing, Shanghai, Hangzhou, Shenzhen, Riyadh and San Jose, used for the pairs
  with a mainland-China or a Riyadh end (e.g. Beijing - Shanghai ~28 ms, Shanghai - Hangzhou ~7 ms,
  Frankfurt - Riyadh ~90 ms, Singapore - Riyadh ~110 ms).
* Submarine-cable path lengths as a sanity bound (TeleGeography, https://www.submarinecablemap.com/):
  SEA-ME-WE 5 / PEACE (Singapore - Middle East - Europe) and NCP / TPE (Shanghai - US west coast); light
  in fibre needs ~5 us/km, so e.g. Shanghai - San Jose (~10,000 km of cable) cannot be under ~50 ms one way.

Pairs not in the table (custom regions) get ``latency_ms`` entries from the catalogue document, or
:data:`UNKNOWN_PAIR_ONE_WAY_MS`. A region to itself is 0 ms (same data centre; loopback is already there).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, NotFound

__all__ = [
    "DEFAULT_ONE_WAY_MS",
    "DEFAULT_REGIONS",
    "DEFAULT_RTMP_PORT",
    "DEFAULT_SRT_PORT_MAX",
    "DEFAULT_SRT_PORT_MIN",
    "UNKNOWN_PAIR_ONE_WAY_MS",
    "Region",
    "RegionCatalogue",
]

DEFAULT_RTMP_PORT = 1935
DEFAULT_SRT_PORT_MIN = 10000
DEFAULT_SRT_PORT_MAX = 10999
UNKNOWN_PAIR_ONE_WAY_MS = 50.0

#: (id, display name, default loopback address), in catalogue order.
DEFAULT_REGIONS: tuple[tuple[str, str, str], ...] = (
    ("ap-southeast-1", "Singapore", "127.0.1.1"),
    ("eu-central-1", "Frankfurt", "127.0.1.2"),
    ("cn-beijing", "Beijing", "127.0.1.3"),
    ("me-central-1", "Riyadh", "127.0.1.4"),
    ("cn-shanghai", "Shanghai", "127.0.1.5"),
    ("cn-hangzhou", "Hangzhou", "127.0.1.6"),
    ("cn-shenzhen", "Shenzhen", "127.0.1.7"),
    ("us-west-1", "Silicon Valley", "127.0.1.8"),
)


def _pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


# Typical RTT in ms between the two cities (see the module docstring for sources); one-way = RTT / 2.
_RTT_MS: dict[frozenset[str], float] = {
    _pair("ap-southeast-1", "eu-central-1"): 160,
    _pair("ap-southeast-1", "cn-beijing"): 90,
    _pair("ap-southeast-1", "me-central-1"): 110,
    _pair("ap-southeast-1", "cn-shanghai"): 70,
    _pair("ap-southeast-1", "cn-hangzhou"): 74,
    _pair("ap-southeast-1", "cn-shenzhen"): 40,
    _pair("ap-southeast-1", "us-west-1"): 170,
    _pair("eu-central-1", "cn-beijing"): 220,
    _pair("eu-central-1", "me-central-1"): 90,
    _pair("eu-central-1", "cn-shanghai"): 210,
    _pair("eu-central-1", "cn-hangzhou"): 214,
    _pair("eu-central-1", "cn-shenzhen"): 196,
    _pair("eu-central-1", "us-west-1"): 148,
    _pair("cn-beijing", "me-central-1"): 200,
    _pair("cn-beijing", "cn-shanghai"): 28,
    _pair("cn-beijing", "cn-hangzhou"): 30,
    _pair("cn-beijing", "cn-shenzhen"): 42,
    _pair("cn-beijing", "us-west-1"): 170,
    _pair("me-central-1", "cn-shanghai"): 180,
    _pair("me-central-1", "cn-hangzhou"): 184,
    _pair("me-central-1", "cn-shenzhen"): 146,
    _pair("me-central-1", "us-west-1"): 236,
    _pair("cn-shanghai", "cn-hangzhou"): 7,
    _pair("cn-shanghai", "cn-shenzhen"): 30,
    _pair("cn-shanghai", "us-west-1"): 134,
    _pair("cn-hangzhou", "cn-shenzhen"): 28,
    _pair("cn-hangzhou", "us-west-1"): 140,
    _pair("cn-shenzhen", "us-west-1"): 156,
}

#: One-way delay in ms for every unordered pair of the default catalogue (RTT / 2).
DEFAULT_ONE_WAY_MS: Mapping[frozenset[str], float] = {k: v / 2 for k, v in _RTT_MS.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """One emulated region and where its endpoints listen."""

    id: str
    """Region id as the API spells it (``FlowRegion``), e.g. ``ap-southeast-1``."""
    name: str
    """Display name, e.g. ``Singapore``."""
    host: str
    """IP address the region's RTMP server and SRT listeners bind, and that its URLs carry."""
    rtmp_port: int = DEFAULT_RTMP_PORT
    """TCP port of the region's RTMP server (0: ephemeral)."""
    srt_port_min: int = DEFAULT_SRT_PORT_MIN
    """First UDP port for SRT listeners (0 with ``srt_port_max`` 0: ephemeral ports)."""
    srt_port_max: int = DEFAULT_SRT_PORT_MAX
    """Last UDP port for SRT listeners, inclusive."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        if not self.id or not all(c.isalnum() or c in "-_" for c in self.id):
            raise ConfigError(f"region id {self.id!r}: use letters, digits, '-' and '_'")
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ConfigError(f"region {self.id}: host {self.host!r} is not an IP address") from None
        for name in ("rtmp_port", "srt_port_min", "srt_port_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise ConfigError(f"region {self.id}: {name} {value!r} is not a port number (0-65535)")
        if (self.srt_port_min == 0) != (self.srt_port_max == 0):
            raise ConfigError(f"region {self.id}: srt_port_min and srt_port_max must both be 0 or neither")
        if self.srt_port_min > self.srt_port_max:
            raise ConfigError(f"region {self.id}: srt_port_min {self.srt_port_min} > srt_port_max")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "host": self.host,
            "rtmp_port": self.rtmp_port,
            "srt_port_min": self.srt_port_min,
            "srt_port_max": self.srt_port_max,
        }


_REGION_KEYS = {"id", "name", "host", "rtmp_port", "srt_port_min", "srt_port_max", "srt_ports"}
_CATALOGUE_KEYS = {"regions", "default_region", "rtmp_port", "srt_port_min", "srt_port_max", "latency_ms"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionCatalogue:
    """The regions of one emulator run, in order, plus latency overrides for custom pairs."""

    regions: tuple[Region, ...]
    """Regions in catalogue order (``RegionList`` order)."""
    default_region: str = ""
    """Id of the default region; empty means the first region."""
    latency_ms: Mapping[frozenset[str], float] = field(default_factory=dict)
    """One-way delay overrides in ms per unordered pair; win over :data:`DEFAULT_ONE_WAY_MS`."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for duplicate ids or hosts, an unknown default, bad latencies."""
        if not self.regions:
            raise ConfigError("the catalogue has no region")
        seen: set[str] = set()
        for region in self.regions:
            region.validate()
            if region.id in seen:
                raise ConfigError(f"region {region.id} is listed twice")
            seen.add(region.id)
        if self.default_region and self.default_region not in seen:
            raise ConfigError(f"default_region {self.default_region!r} is not in the catalogue")
        for pair, ms in self.latency_ms.items():
            if not pair <= seen or len(pair) != 2:
                raise ConfigError(f"latency_ms {'/'.join(sorted(pair))}: not a pair of catalogue regions")
            if not 0 <= ms <= 10_000:
                raise ConfigError(f"latency_ms {'/'.join(sorted(pair))}: {ms} is not in 0-10000 ms")

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def default(
        cls,
        *,
        rtmp_port: int = DEFAULT_RTMP_PORT,
        srt_port_min: int = DEFAULT_SRT_PORT_MIN,
        srt_port_max: int = DEFAULT_SRT_PORT_MAX,
    ) -> RegionCatalogue:
        """The eight default regions on 127.0.1.1-127.0.1.8 with the given ports (0 for tests)."""
        return cls(
            regions=tuple(
                Region(
                    id=rid,
                    name=name,
                    host=host,
                    rtmp_port=rtmp_port,
                    srt_port_min=srt_port_min,
                    srt_port_max=srt_port_max,
                )
                for rid, name, host in DEFAULT_REGIONS
            )
        )

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RegionCatalogue:
        """Build a catalogue from a topology document (already parsed from YAML or JSON).

        Shape (every key optional)::

            rtmp_port: 1935                 # default for regions that do not say
            srt_port_min: 10000
            srt_port_max: 10999
            default_region: ap-southeast-1
            regions:                        # absent: the eight default regions
              - id: ap-southeast-1          # a known id gets its default name and host
                host: 127.0.1.1
                rtmp_port: 0
                srt_ports: 0-0              # or srt_port_min / srt_port_max
              - {id: lab-1, name: Lab, host: 127.0.2.1}
            latency_ms:                     # one-way, for pairs the default table lacks or to override it
              ap-southeast-1/lab-1: 40

        Raises :class:`ConfigError` naming the bad key.
        """
        if not isinstance(doc, Mapping):
            raise ConfigError("the region catalogue must be a mapping")
        unknown = set(doc) - _CATALOGUE_KEYS
        if unknown:
            raise ConfigError(f"unknown catalogue key(s): {', '.join(sorted(map(str, unknown)))}")
        rtmp_port = _int(doc, "rtmp_port", DEFAULT_RTMP_PORT, "catalogue")
        port_min = _int(doc, "srt_port_min", DEFAULT_SRT_PORT_MIN, "catalogue")
        port_max = _int(doc, "srt_port_max", DEFAULT_SRT_PORT_MAX, "catalogue")
        known = {rid: (name, host) for rid, name, host in DEFAULT_REGIONS}
        entries: Iterable[Any] = doc.get("regions") or [{"id": rid} for rid, _, _ in DEFAULT_REGIONS]
        if isinstance(entries, Mapping | str) or not isinstance(entries, Iterable):
            raise ConfigError("regions must be a list of mappings")
        regions = []
        for entry in entries:
            if not isinstance(entry, Mapping) or "id" not in entry:
                raise ConfigError(f"region entry {entry!r}: a mapping with an 'id' is required")
            rid = str(entry["id"])
            bad = set(entry) - _REGION_KEYS
            if bad:
                raise ConfigError(f"region {rid}: unknown key(s) {', '.join(sorted(map(str, bad)))}")
            name, host = known.get(rid, (rid, ""))
            host = str(entry.get("host", host))
            if not host:
                raise ConfigError(
                    f"region {rid}: host is required for a region outside the default catalogue"
                )
            lo, hi = port_min, port_max
            if "srt_ports" in entry:
                lo, hi = _port_range(entry["srt_ports"], rid)
            regions.append(
                Region(
                    id=rid,
                    name=str(entry.get("name", name)),
                    host=host,
                    rtmp_port=_int(entry, "rtmp_port", rtmp_port, f"region {rid}"),
                    srt_port_min=_int(entry, "srt_port_min", lo, f"region {rid}"),
                    srt_port_max=_int(entry, "srt_port_max", hi, f"region {rid}"),
                )
            )
        latency: dict[frozenset[str], float] = {}
        raw_latency = doc.get("latency_ms") or {}
        if not isinstance(raw_latency, Mapping):
            raise ConfigError("latency_ms must map 'region-a/region-b' to milliseconds")
        for key, value in raw_latency.items():
            parts = str(key).split("/")
            if len(parts) != 2:
                raise ConfigError(f"latency_ms key {key!r}: write it 'region-a/region-b'")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"latency_ms {key}: {value!r} is not a number of ms")
            try:
                ms = float(value)
            except OverflowError:  # an int beyond the float range (YAML reads 1000...0 as an int)
                ms = math.inf
            if not (math.isfinite(ms) and ms >= 0):
                raise ConfigError(f"latency_ms {key}: {value!r} is not a finite, non-negative number of ms")
            latency[frozenset(parts)] = ms
        return cls(
            regions=tuple(regions), default_region=str(doc.get("default_region") or ""), latency_ms=latency
        )

    def to_dict(self) -> dict[str, Any]:
        """The document :meth:`from_dict` reads back to an equal catalogue."""
        doc: dict[str, Any] = {
            "default_region": self.get_default().id,
            "regions": [r.to_dict() for r in self.regions],
        }
        if self.latency_ms:
            doc["latency_ms"] = {"/".join(sorted(pair)): ms for pair, ms in self.latency_ms.items()}
        return doc

    # --- queries -----------------------------------------------------------------------------------

    def get(self, region_id: str) -> Region:
        """The region with this id. Raises :class:`NotFound` (field ``FlowRegion``)."""
        for region in self.regions:
            if region.id == region_id:
                return region
        raise NotFound(
            "FlowRegion",
            f"region {region_id!r} is not available; choose one of {', '.join(self.ids)}",
        )

    def __contains__(self, region_id: object) -> bool:
        return any(r.id == region_id for r in self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions)

    def __len__(self) -> int:
        return len(self.regions)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.regions]

    def get_default(self) -> Region:
        """The default region (``DefaultRegion``)."""
        return self.get(self.default_region) if self.default_region else self.regions[0]

    def default_latency_ms(self, a: str, b: str) -> float:
        """One-way delay in ms between regions ``a`` and ``b`` (symmetric; 0 for a region to itself).

        Raises :class:`NotFound` for an id outside the catalogue.
        """
        self.get(a)
        self.get(b)
        if a == b:
            return 0.0
        pair = frozenset((a, b))
        if pair in self.latency_ms:
            return self.latency_ms[pair]
        return DEFAULT_ONE_WAY_MS.get(pair, UNKNOWN_PAIR_ONE_WAY_MS)


def _int(doc: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {key} {value!r} is not an integer")
    return value


def _port_range(value: Any, rid: str) -> tuple[int, int]:
    text = str(value)
    lo, sep, hi = text.partition("-")
    try:
        return (int(lo), int(hi)) if sep else (int(lo), int(lo))
    except ValueError:
        raise ConfigError(f"region {rid}: srt_ports {text!r} is not 'first-last'") from None
