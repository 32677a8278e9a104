"""The region catalogue: defaults, the one-way latency table, and the topology-file round trip."""

from __future__ import annotations

import itertools

import pytest

from emulator.errors import ConfigError, NotFound
from emulator.regions import DEFAULT_ONE_WAY_MS, Region, RegionCatalogue

DEFAULT_IDS = [
    "ap-southeast-1",
    "eu-central-1",
    "cn-beijing",
    "me-central-1",
    "cn-shanghai",
    "cn-hangzhou",
    "cn-shenzhen",
    "us-west-1",
]


def test_default_catalogue_order_hosts_and_ports() -> None:
    cat = RegionCatalogue.default()
    assert cat.ids == DEFAULT_IDS
    assert [r.host for r in cat] == [f"127.0.1.{n}" for n in range(1, 9)]
    assert {(r.rtmp_port, r.srt_port_min, r.srt_port_max) for r in cat} == {(1935, 10000, 10999)}
    assert cat.get("ap-southeast-1").name == "Singapore"
    assert cat.get("eu-central-1").name == "Frankfurt"
    assert cat.get("me-central-1").name == "Riyadh"
    assert cat.get_default().id == "ap-southeast-1"


def test_ports_zero_allowed_for_tests() -> None:
    cat = RegionCatalogue.default(rtmp_port=0, srt_port_min=0, srt_port_max=0)
    assert all(r.rtmp_port == 0 and r.srt_port_min == 0 == r.srt_port_max for r in cat)


def test_get_unknown_region_is_a_domain_error_naming_the_field() -> None:
    with pytest.raises(NotFound) as info:
        RegionCatalogue.default().get("mars-north-1")
    assert info.value.field == "FlowRegion"
    assert "mars-north-1" in str(info.value)


def test_latency_table_covers_every_pair_symmetrically() -> None:
    cat = RegionCatalogue.default()
    for a, b in itertools.combinations(DEFAULT_IDS, 2):
        assert frozenset((a, b)) in DEFAULT_ONE_WAY_MS, (a, b)
        ms = cat.default_latency_ms(a, b)
        assert ms == cat.default_latency_ms(b, a)
        assert 1 <= ms <= 150, (a, b, ms)
    assert len(DEFAULT_ONE_WAY_MS) == len(DEFAULT_IDS) * (len(DEFAULT_IDS) - 1) // 2
    assert cat.default_latency_ms("ap-southeast-1", "ap-southeast-1") == 0


def test_latency_figures_are_plausible_one_way_values() -> None:
    cat = RegionCatalogue.default()
    assert cat.default_latency_ms("ap-southeast-1", "eu-central-1") == pytest.approx(80, abs=5)
    # Nearby Chinese regions are far closer than any intercontinental pair.
    assert cat.default_latency_ms("cn-shanghai", "cn-hangzhou") < 10
    assert cat.default_latency_ms("cn-beijing", "eu-central-1") > cat.default_latency_ms(
        "cn-beijing", "cn-shenzhen"
    )


def test_round_trip_through_dict() -> None:
    cat = RegionCatalogue.default(rtmp_port=0)
    again = RegionCatalogue.from_dict(cat.to_dict())
    assert again.regions == cat.regions
    assert again.get_default() == cat.get_default()


def test_from_dict_custom_regions_ports_and_latency() -> None:
    cat = RegionCatalogue.from_dict(
        {
            "rtmp_port": 0,
            "default_region": "eu-central-1",
            "regions": [
                {"id": "ap-southeast-1", "srt_ports": "0-0"},
                {"id": "eu-central-1", "host": "127.0.2.2", "rtmp_port": 1936, "srt_ports": "20000-20009"},
                {"id": "lab-1", "name": "Lab", "host": "127.0.3.1"},
            ],
            "latency_ms": {"ap-southeast-1/lab-1": 12.5},
        }
    )
    assert cat.ids == ["ap-southeast-1", "eu-central-1", "lab-1"]
    assert cat.get_default().id == "eu-central-1"
    sg = cat.get("ap-southeast-1")
    assert (sg.name, sg.host, sg.rtmp_port, sg.srt_port_min, sg.srt_port_max) == (
        "Singapore",
        "127.0.1.1",
        0,
        0,
        0,
    )
    fra = cat.get("eu-central-1")
    assert (fra.host, fra.rtmp_port, fra.srt_port_min, fra.srt_port_max) == ("127.0.2.2", 1936, 20000, 20009)
    assert cat.default_latency_ms("lab-1", "ap-southeast-1") == 12.5
    assert (
        cat.default_latency_ms("ap-southeast-1", "eu-central-1")
        == DEFAULT_ONE_WAY_MS[frozenset(("ap-southeast-1", "eu-central-1"))]
    )
    assert RegionCatalogue.from_dict(cat.to_dict()) == cat


def test_from_dict_empty_gives_defaults() -> None:
    assert RegionCatalogue.from_dict({}).regions == RegionCatalogue.default().regions


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"regions": [{"id": "x"}]}, "host is required"),
        ({"regions": [{"id": "ap-southeast-1", "rtmp_port": 70000}]}, "rtmp_port"),
        ({"regions": [{"id": "ap-southeast-1", "srt_ports": "2000-1000"}]}, "srt_port_min"),
        ({"regions": [{"id": "ap-southeast-1", "srt_port_min": 0, "srt_port_max": 10}]}, "both be 0"),
        ({"regions": [{"id": "ap-southeast-1", "host": "not-an-ip"}]}, "not an IP"),
        ({"regions": [{"id": "ap-southeast-1"}, {"id": "ap-southeast-1"}]}, "listed twice"),
        ({"regions": [{"id": "ap-southeast-1", "colour": "red"}]}, "colour"),
        ({"default_region": "mars"}, "default_region"),
        ({"latency_ms": {"ap-southeast-1": 3}}, "region-a/region-b"),
        ({"latency_ms": {"ap-southeast-1/mars": 3}}, "not a pair"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_from_dict_refuses_bad_documents(doc: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        RegionCatalogue.from_dict(doc)
    assert needle in str(info.value)


def test_region_is_frozen_kw_only() -> None:
    region = Region(id="r", name="R", host="127.0.0.1")
    with pytest.raises(AttributeError):
        region.host = "127.0.0.2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Region("r", "R", "127.0.0.1")  # type: ignore[misc]
