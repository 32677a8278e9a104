"""The ``/_emulator/links`` admin routes on an in-process emulator (no media: fast).

* ``PUT`` keeps the pair's catalogue latency when only loss is given, applies a profile with overrides,
  both ways on request; bad requests answer 400 / 404 with the reason and change nothing.
* A flow pair inside one region gets a link whose both directions follow the region's own pair.
* ``Backbone.clear`` (as ``DELETE``) stops a timeline still to run on that direction.
* A timeline step that is invalid only over a direction's impairment is refused as a whole (admin API:
  400, no direction changed; topology file: ConfigError at load).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from backbone_kit import A_REGION, B_REGION, Sdk, admin, snapshot, wait_until

from emulator.errors import ConfigError
from emulator.testing import EmulatorThread, test_topology

CATALOGUE_MS = 80.0  # Singapore <-> Frankfurt one way


def rows(view: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["from"], r["to"]): r["impairment"] for r in view["impairments"]}


def test_put_get_delete_and_refusals() -> None:
    with EmulatorThread({"seed": 1}) as emu:
        api = emu.api_url
        path = f"/_emulator/links/{A_REGION}/{B_REGION}"
        status, view = admin(api, "PUT", path, {"loss_pct": 2})
        assert status == 200, view
        ab = rows(view)[(A_REGION, B_REGION)]
        assert ab["delay_ms"] == CATALOGUE_MS and ab["loss_pct"] == 2.0, ab
        status, view = admin(api, "PUT", path, {"profile": "transpacific", "loss_pct": 0, "both_ways": True})
        assert status == 200, view
        for pair in ((A_REGION, B_REGION), (B_REGION, A_REGION)):
            imp = rows(view)[pair]
            assert imp["delay_ms"] == 85.0 and imp["jitter_ms"] == 3.0 and imp["loss_pct"] == 0.0, imp
        before = admin(api, "GET", "/_emulator/links")[1]
        refusals = [
            ("PUT", f"/_emulator/links/{A_REGION}/nowhere-1", {"delay_ms": 5}, 404, "nowhere-1"),
            ("PUT", path, {"bogus_field": 1}, 400, "bogus_field"),
            ("PUT", path, {"loss_pct": 150}, 400, "loss_pct"),
            ("PUT", path, ["not", "an", "object"], 400, "JSON object"),
            ("PUT", path, {"profile": "no-such-profile"}, 400, "no-such-profile"),
            ("POST", f"{path}/timeline", {"steps": [{"at_s": 1}]}, 400, "step 0"),
            (
                "POST",
                f"{path}/timeline",
                {"steps": [{"at_s": 1, "changes": {"loss_pct": 101}}]},
                400,
                "loss_pct",
            ),
            ("DELETE", f"/_emulator/links/nowhere-1/{B_REGION}", None, 404, "nowhere-1"),
        ]
        for method, where, body, code, reason in refusals:
            status, answer = admin(api, method, where, body)
            assert status == code and reason in answer["error"], (method, where, body, status, answer)
        req = urllib.request.Request(api + path, data=b"{not json", method="PUT")
        status, answer = _raw(req)
        assert status == 400 and "JSON" in answer, answer
        assert admin(api, "GET", "/_emulator/links")[1] == before, "a refused request changed something"
        status, view = admin(api, "DELETE", f"{path}?both_ways=true")
        assert status == 200 and view["impairments"] == [], view


def _raw(req: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_link_within_one_region_follows_its_pair() -> None:
    with EmulatorThread({"seed": 1}) as emu:
        api = Sdk(emu)
        a = api.flow("SameA", A_REGION)
        b = api.flow("SameB", A_REGION)
        api.input(a, "In", "SRT-Listener")
        api.output(a, "ToB", "SRT-Listener")
        api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB")
        api.status(a, "online")
        api.status(b, "online")
        wait_until(lambda: snapshot(emu)["links"], 10, "the backbone link")
        status, view = admin(emu.api_url, "PUT", f"/_emulator/links/{A_REGION}/{A_REGION}", {"delay_ms": 25})
        assert status == 200, view
        (link,) = view["links"]
        assert (link["from"], link["to"]) == (A_REGION, A_REGION), link
        assert link["forward"]["delay_ms"] == link["reverse"]["delay_ms"] == 25.0, link
        api.status(b, "offline")
        api.status(a, "offline")


def test_clear_stops_a_pending_timeline() -> None:
    with EmulatorThread({"seed": 1}) as emu:
        path = f"/_emulator/links/{A_REGION}/{B_REGION}/timeline"
        steps = {"steps": [{"at_s": 0.5, "changes": {"delay_ms": 300}}]}
        status, view = admin(emu.api_url, "POST", path, steps)
        assert status == 200 and view["impairments"][0]["timeline"], view
        emu.run(lambda: emu.em.backbone.clear(A_REGION, B_REGION))
        assert emu.run(emu.em.backbone.timelines) == []
        time.sleep(0.8)
        assert admin(emu.api_url, "GET", "/_emulator/links")[1]["impairments"] == []
        # A timeline that ran to its end is no longer reported as running.
        steps = {"steps": [{"at_s": 0.2, "changes": {"delay_ms": 300}}]}
        assert admin(emu.api_url, "POST", path, steps)[0] == 200
        time.sleep(0.5)
        (row,) = admin(emu.api_url, "GET", "/_emulator/links")[1]["impairments"]
        assert row["impairment"]["delay_ms"] == 300.0 and not row["timeline"], row


BURSTY = {"loss_model": "gilbert-elliott", "loss_pct": 2, "loss_burst_packets": 3}
"""Loss in bursts: a step raising loss_pct to 100 is invalid over it (valid over plain loss)."""


def test_timeline_invalid_over_one_direction_is_refused_whole() -> None:
    with EmulatorThread({"seed": 1}) as emu:
        api = emu.api_url
        assert admin(api, "PUT", f"/_emulator/links/{A_REGION}/{B_REGION}", BURSTY)[0] == 200
        assert admin(api, "PUT", f"/_emulator/links/{B_REGION}/{A_REGION}", {"loss_pct": 1})[0] == 200
        before = admin(api, "GET", "/_emulator/links")[1]
        steps = {"steps": [{"at_s": 0, "changes": {"loss_pct": 100}, "duration_s": 1}], "both_ways": True}
        # B -> A first: that direction alone would accept the step.
        status, answer = admin(api, "POST", f"/_emulator/links/{B_REGION}/{A_REGION}/timeline", steps)
        assert status == 400 and "loss_burst_packets" in answer["error"], answer
        assert admin(api, "GET", "/_emulator/links")[1] == before
        assert emu.run(emu.em.backbone.timelines) == []


def test_topology_timeline_invalid_over_its_link_is_a_config_error() -> None:
    link = {
        "from": A_REGION,
        "to": B_REGION,
        **BURSTY,
        "timeline": [{"at_s": 1, "changes": {"loss_pct": 100}}],
    }
    with pytest.raises(ConfigError, match=r"links\[0\]: .*loss_burst_packets"):
        test_topology({"links": [link]})
