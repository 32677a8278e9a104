"""Repeatability at flow level: the same topology seed and the same loss drop the same packets.

SRT chains (Flow A's SRT-Listener output -> two Flow Bs' Flow inputs, each across its own
:class:`~mediaplane.netem.link.UdpLink`) carry a real ffmpeg push for a few seconds while the links have
10 % Bernoulli loss both ways. The live links' models are instrumented (each direction's ``decide`` is
wrapped to note the index of every datagram its loss process dropped, counted from when the loss was
set); the packets themselves are real SRT traffic. The links expose only drop counters, not which
datagrams they dropped, hence the instrument.

Which datagrams cross a link differs from run to run (ACK timing, retransmissions), but its loss process
draws once per datagram from a generator seeded by the topology's seed and the link's name: two runs with
the same seed drop exactly the same datagram indices on each link (over the datagrams both runs carried),
a run with another seed drops others, and the two links of one run draw independently. The unit tests
(``tests/unit/netem/test_netem_models.py``) and the link test
(``tests/integration/netem/test_netem_udp_link.py``) prove the same below the flows.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from backbone_kit import A_REGION, B_REGION, Sdk, admin, publisher, snapshot, wait_until

from emulator.testing import EmulatorThread
from mediaplane.netem.link import DIRECTIONS, UdpLink

pytestmark = pytest.mark.ffmpeg

LOSS_PCT = 10.0
MEDIA_S = 3


def _instrument(link: UdpLink) -> dict[str, dict[str, Any]]:
    """Wrap each direction's model so it records which datagrams (counted from when loss is in force)
    its loss process dropped. Runs on the emulator's loop."""
    record: dict[str, dict[str, Any]] = {}
    for d in DIRECTIONS:
        model = link.models[d]
        rec: dict[str, Any] = {"seen": 0, "dropped": []}
        record[d] = rec
        inner = model.decide

        def decide(
            size: int, now: float, *, _inner: Any = inner, _model: Any = model, _rec: Any = rec
        ) -> Any:
            if _model.impairment.loss_pct <= 0:
                return _inner(size, now)
            before = _model.counters.dropped_loss
            out = _inner(size, now)
            if _model.counters.dropped_loss > before:
                _rec["dropped"].append(_rec["seen"])
            _rec["seen"] += 1
            return out

        model.decide = decide  # type: ignore[method-assign]
    return record


def _read(
    records: dict[str, dict[str, dict[str, Any]]], links: list[UdpLink]
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """A copy of the records and every link's counters, taken at one instant. Runs on the emulator's loop."""
    result = {
        name: {d: {"seen": r["seen"], "dropped": list(r["dropped"])} for d, r in record.items()}
        for name, record in records.items()
    }
    return result, {link.name: link.stats() for link in links}


def _run(ffmpeg: str, seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """One run: Flow A in Singapore fans out to two Flow Bs in Frankfurt (two links). Returns, per link
    name and direction, the datagrams carried under loss and the indices of those dropped."""
    with EmulatorThread({"seed": seed}) as emu:
        api = Sdk(emu)
        a = api.flow("RepA", A_REGION)
        in_url = api.input(a, "In", "SRT-Listener", srt_latency=480)
        api.output(a, "ToB", "SRT-Listener", srt_latency=480)
        bs = [api.flow(name, B_REGION) for name in ("RepB1", "RepB2")]
        for b in bs:
            api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB", srt_latency=480)
        api.status(a, "online")
        for b in bs:
            api.status(b, "online")
        wait_until(
            lambda: all(snapshot(emu)["live_flows"][b]["inputs"]["FromA"]["client_connected"] for b in bs),
            20,
            "both Flow Bs' inputs connected across the backbone",
        )
        links = [link for _, _, link in emu.run(emu.em.backbone.links) if isinstance(link, UdpLink)]
        assert len(links) == 2, emu.run(emu.em.backbone.links)
        records = {link.name: emu.run(functools.partial(_instrument, link)) for link in links}
        body = {"delay_ms": 60, "loss_pct": LOSS_PCT, "both_ways": True}
        status, view = admin(emu.api_url, "PUT", f"/_emulator/links/{A_REGION}/{B_REGION}", body)
        assert status == 200, view
        pub = publisher(ffmpeg, f"{in_url}?latency=480000", MEDIA_S)
        try:
            _, err = pub.communicate(timeout=MEDIA_S + 30)
        finally:
            if pub.poll() is None:
                pub.kill()
        assert pub.returncode == 0, err.decode(errors="replace")
        # The SRT connections keep talking (ACKs, keepalives) after the push: the records and the
        # link's own counters are read in one callback on the emulator's loop, so no datagram can cross
        # a link between the two reads.
        result, stats = emu.run(functools.partial(_read, records, links))
        for link in links:
            for d in DIRECTIONS:
                # Every loss drop of the link went through the instrumented path.
                got = result[link.name][d]
                dropped = stats[link.name][d]["model"]["dropped_loss"]
                assert dropped == len(got["dropped"]), (link.name, d, stats[link.name][d], got)
        for b in bs:
            api.status(b, "offline")
        api.status(a, "offline")
    return result


def _common(first: dict[str, Any], second: dict[str, Any]) -> tuple[list[int], list[int], int]:
    n = min(first["seen"], second["seen"])
    return [i for i in first["dropped"] if i < n], [i for i in second["dropped"] if i < n], n


def test_same_seed_drops_the_same_packets_through_a_flow_chain(ffmpeg_exe: str) -> None:
    first = _run(ffmpeg_exe, seed=2024)
    second = _run(ffmpeg_exe, seed=2024)
    other = _run(ffmpeg_exe, seed=2025)
    assert set(first) == set(second) == set(other), (list(first), list(second))
    for name in sorted(first):
        for d in DIRECTIONS:
            one, two, n = _common(first[name][d], second[name][d])
            print(
                f"\n{name} {d}: run 1 carried {first[name][d]['seen']} datagrams, dropped"
                f" {len(first[name][d]['dropped'])}; run 2 carried {second[name][d]['seen']}, dropped"
                f" {len(second[name][d]['dropped'])}; over the first {n}: {len(one)} drops,"
                f" identical: {one == two}"
            )
            assert n >= 50, f"{name} {d}: only {n} datagrams crossed the link in both runs"
            assert 0.02 * n <= len(one) <= 0.25 * n, f"{name} {d}: {len(one)} drops of {n} at {LOSS_PCT} %"
            assert one == two, f"{name} {d}: the same seed dropped other datagrams: {one[:20]} vs {two[:20]}"
            mine, theirs, _ = _common(first[name][d], other[name][d])
            assert mine != theirs, f"{name} {d}: another seed dropped the same datagrams"
    # Two links of one run draw independently: they do not drop the same datagram indices.
    names = sorted(first)
    for d in DIRECTIONS:
        mine, theirs, _ = _common(first[names[0]][d], first[names[1]][d])
        assert mine != theirs, f"{d}: both links of one run dropped the same datagrams: {mine[:20]}"
