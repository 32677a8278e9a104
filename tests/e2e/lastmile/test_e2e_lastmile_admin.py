"""Last-mile control: topology ``last_mile`` keys, the ``/_emulator/lastmile`` admin routes, the CLI.

1. A topology declares a last-mile profile on an RTMP-PUSH input and per-direction impairments on an
   SRT-Listener output; once online both have an impaired URL and a live link with those impairments
   (forward = to_region for a listening endpoint). A real ffmpeg publishes through the input's impaired
   URL and the flow receives it. Set again live: the link changes at once (same port). DELETE removes
   the link and the row; offline closes the remaining link; bad requests are refused and change nothing.
2. ``mcemu lastmile set / show / clear`` against the same API.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from lastmile_kit import A_REGION, admin, lastmile_row, publisher, snapshot, wait_until

from emulator.cli import main as cli
from emulator.errors import ConfigError
from emulator.testing import EmulatorThread, test_topology
from mediaplane.netem import profile

TOPOLOGY: dict[str, Any] = {
    "flows": [
        {
            "name": "Topo",
            "region": A_REGION,
            "status": "online",
            "input": {"name": "In", "protocol": "RTMP-PUSH", "last_mile": {"profile": "lossy-4g"}},
            "outputs": [{"name": "Plain", "protocol": "RTMP-PULL"}],
        },
        {
            "name": "TopoSrt",
            "region": A_REGION,
            "status": "online",
            "input": {"name": "In", "protocol": "SRT-Listener"},
            "outputs": [
                {
                    "name": "Srt",
                    "protocol": "SRT-Listener",
                    "last_mile": {"to_region": {"delay_ms": 5}, "from_region": {"loss_pct": 2}},
                },
            ],
        },
        {
            "name": "Paired",
            "region": A_REGION,
            "input": {"name": "FromTopo", "protocol": "Flow", "pair_flow": "Topo", "pair_output": "Plain"},
        },
    ]
}


def _link(emu: EmulatorThread, fid: str, role: str, name: str) -> dict[str, Any] | None:
    def read() -> dict[str, Any] | None:
        link = emu.em.runtime.lastmile.link(fid, role, name)
        if link is None:
            return None
        imp = link.impairment
        return {"port": link.port, "forward": imp("forward"), "reverse": imp("reverse")}

    result: dict[str, Any] | None = emu.run(read)
    return result


def _without_link_stats(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "link": {k: v for k, v in r["link"].items() if k != "stats"}} for r in view["endpoints"]]


def test_topology_and_admin_round_trip(ffmpeg_exe: str) -> None:
    with EmulatorThread(TOPOLOGY) as emu:
        api = emu.api_url
        fid = next(f.id for f in emu.em.manager.flows if f.name == "Topo")
        sid = next(f.id for f in emu.em.manager.flows if f.name == "TopoSrt")
        paired = next(f.id for f in emu.em.manager.flows if f.name == "Paired")
        inp = lastmile_row(api, fid, "input", "In")
        out = lastmile_row(api, sid, "output", "Srt")
        assert inp is not None and out is not None
        assert inp["to_region"] == inp["from_region"] == profile("lossy-4g").to_dict()
        assert out["to_region"]["delay_ms"] == 5 and out["from_region"]["loss_pct"] == 2
        assert inp["impaired_url"].startswith("rtmp://") and "/live/In_" in inp["impaired_url"]
        assert out["impaired_url"].startswith("srt://")
        link = _link(emu, sid, "output", "Srt")
        assert link is not None
        assert link["forward"].delay_ms == 5 and link["reverse"].loss_pct == 2  # forward = to_region
        assert snapshot(emu)["last_mile"]["endpoints"]  # the state view carries it too
        urls = {role: url for _flow, role, url in emu.run(emu.em.urls)}  # what mcemu up prints
        assert urls["push to In (last mile)"] == inp["impaired_url"]
        assert urls["play Srt (last mile)"] == out["impaired_url"]

        # Real traffic through the input's impaired URL (lossy-4g is TCP-safe: loss shows as stalls).
        pub = publisher(ffmpeg_exe, inp["impaired_url"], 4.0)
        try:
            wait_until(lambda: snapshot(emu)["live_flows"][fid]["inputs"]["In"]["bytes_in"] > 20_000, 20,
                       "media through the impaired URL")  # fmt: skip
        finally:
            pub.kill()
            pub.wait(10)

        # Set again while online: the live link changes, same port.
        status, row = admin(api, "PUT", f"/_emulator/lastmile/{sid}/output/Srt", {"profile": "satellite"})
        assert status == 200, row
        assert row["impaired_url"] == out["impaired_url"]
        link2 = _link(emu, sid, "output", "Srt")
        assert link2 is not None and link2["port"] == link["port"]
        assert link2["forward"] == link2["reverse"] == profile("satellite")

        # Refusals change nothing.
        before = admin(api, "GET", "/_emulator/lastmile")[1]
        for path, body, code in [
            (f"/_emulator/lastmile/{sid}/output/Srt", {"loss_pct": 150}, 400),
            (f"/_emulator/lastmile/{sid}/output/Srt", {"profile": "nope"}, 400),
            (f"/_emulator/lastmile/{sid}/output/Srt", {"to_region": {}, "delay_ms": 3}, 400),
            (f"/_emulator/lastmile/{sid}/output/Srt", {}, 400),
            (f"/_emulator/lastmile/{sid}/sideways/Srt", {"delay_ms": 1}, 400),
            (f"/_emulator/lastmile/{paired}/input/FromTopo", {"delay_ms": 1}, 400),
            (f"/_emulator/lastmile/{sid}/output/Nope", {"delay_ms": 1}, 404),
            ("/_emulator/lastmile/no-such-flow/input/In", {"delay_ms": 1}, 404),
        ]:
            status, answer = admin(api, "PUT", path, body)
            assert status == code and "error" in answer, (path, body, status, answer)
        # Live link counters move on their own (the publisher's last bytes drain after it is gone): compare
        # everything but them, from one read on each side.
        assert _without_link_stats(admin(api, "GET", "/_emulator/lastmile")[1]) == _without_link_stats(before)

        # DELETE: the row and the link go; the normal URL is untouched.
        status, view = admin(api, "DELETE", f"/_emulator/lastmile/{fid}/input/In")
        assert status == 200 and [r["name"] for r in view["endpoints"]] == ["Srt"], view
        assert _link(emu, fid, "input", "In") is None
        assert admin(api, "DELETE", f"/_emulator/lastmile/{fid}/input/Nope")[0] == 404

        # Offline closes the remaining link; the spec stays for the next online.
        emu.call(lambda: emu.em.manager.set_status(sid, "offline"))
        row = lastmile_row(api, sid, "output", "Srt")
        assert row is not None and row["impaired_url"] is None and row["link"] is None
        assert _link(emu, sid, "output", "Srt") is None
        emu.call(lambda: emu.em.manager.set_status(sid, "online"))
        row = lastmile_row(api, sid, "output", "Srt")
        assert row is not None and row["impaired_url"] and row["link"] is not None

        # Reset forgets everything.
        emu.reset()
        assert admin(api, "GET", "/_emulator/lastmile")[1] == {"endpoints": []}


def test_topology_refuses_a_bad_last_mile() -> None:
    bad = {"name": "In", "protocol": "RTMP-PUSH", "last_mile": {"loss_pct": -1}}
    with pytest.raises(ConfigError, match="last_mile: loss_pct"):
        test_topology({"flows": [{"name": "Bad", "region": A_REGION, "input": bad}]})
    flow_input = {"name": "In", "protocol": "Flow", "pair_flow": "Bad", "pair_output": "Out",
                  "last_mile": {"delay_ms": 5}}  # fmt: skip
    flows = [
        {"name": "Bad", "region": A_REGION, "input": {"name": "In", "protocol": "RTMP-PUSH"},
         "outputs": [{"name": "Out", "protocol": "RTMP-PULL"}]},
        {"name": "Pair", "region": A_REGION, "input": flow_input},
    ]  # fmt: skip
    emu = EmulatorThread(test_topology({"flows": flows}))
    try:
        with pytest.raises(ConfigError, match="last_mile"):
            emu.start()
    finally:
        emu.stop()


def test_cli_set_show_clear() -> None:
    with EmulatorThread() as emu:
        api = emu.api_url
        fid = emu.call(lambda: _flow(emu))

        def run(*args: str) -> str:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert cli([*args]) == 0
            return buf.getvalue()

        out = run("lastmile", "set", fid, "output", "Out", "--loss-pct", "3", "--direction", "from_region",
                  "--api", api)  # fmt: skip
        assert "from_region" in out and "impaired URL: srt://" in out, out
        row = lastmile_row(api, fid, "output", "Out")
        assert row is not None and row["to_region"] is None and row["from_region"]["loss_pct"] == 3
        out = run("lastmile", "set", fid, "output", "Out", "--profile", "satellite", "--api", api)
        row = lastmile_row(api, fid, "output", "Out")
        assert row is not None and row["to_region"] == row["from_region"] == profile("satellite").to_dict()
        assert "Out" in run("lastmile", "show", "--api", api)
        run("lastmile", "clear", fid, "output", "Out", "--api", api)
        assert lastmile_row(api, fid, "output", "Out") is None


async def _flow(emu: EmulatorThread) -> str:
    m = emu.em.manager
    flow = m.create_flow(name="Cli", region=A_REGION)
    m.add_input(flow.id, name="In", protocol="SRT-Listener")
    m.add_output(flow.id, name="Out", protocol="SRT-Listener")
    await m.set_status(flow.id, "online")
    return flow.id
