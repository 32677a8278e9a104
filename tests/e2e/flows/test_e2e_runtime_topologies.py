"""Topology files and ``mcemu up``.

* Every file in ``fixtures/topologies/`` loads with :func:`emulator.topology.load_topology` and starts
  in an EmulatorThread (ports overridden to 0): its flows exist with the declared status, online ones are
  live, and declared links (and their timelines) are in force.
* The encrypted SRT example carries real media end to end (three legs, three passphrases).
* ``mcemu up`` (the installed console script, as a subprocess) with ``--topology`` and ``--api-port``
  starts, answers the official SDK, takes a real ffmpeg publish at the URL it printed, and shuts down on
  SIGINT (Ctrl-C) with exit code 0.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import urllib.request
from typing import Any

import pytest
import yaml
from e2e_peers import FPS, Receiver, decode, free_port, publisher
from e2e_runtime_kit import Sdk, live, stop_all, wait_until

from emulator.testing import TEST_PORTS, EmulatorThread
from emulator.topology import Topology, load_topology
from tests.kit.lines import Lines

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOPOLOGIES = sorted((ROOT / "fixtures" / "topologies").glob("*.yaml"))
MCEMU = os.path.join(os.path.dirname(sys.executable), "mcemu")


def test_examples_exist() -> None:
    names = {p.name for p in TOPOLOGIES}
    for wanted in ("rtmp_relay", "srt_relay_passphrase", "fanout_three_regions", "impaired_link_timeline"):
        assert f"{wanted}.yaml" in names


@pytest.mark.parametrize("path", TOPOLOGIES, ids=[p.stem for p in TOPOLOGIES])
def test_topology_loads_and_starts(path: pathlib.Path) -> None:
    declared = load_topology(path)  # the file as a user runs it (validation included)
    doc = yaml.safe_load(path.read_text())
    topology = Topology.from_dict({**doc, **TEST_PORTS, "api": {"host": "127.0.0.1", "port": 0}})
    assert [f["name"] for f in topology.flows] == [f["name"] for f in declared.flows]
    with EmulatorThread(topology) as emu:
        flows = {f.name: f for f in emu.run(lambda: list(emu.em.manager.flows))}
        for spec in doc.get("flows", []):
            flow = flows[spec["name"]]
            assert flow.region.id == spec["region"]
            assert flow.status.value == spec.get("status", "offline"), spec["name"]
            assert (flow.id in emu.run(lambda: set(emu.em.runtime.live))) == (spec.get("status") == "online")
            names = [spec["input"]["name"]] + (
                [spec["backup_input"]["name"]] if "backup_input" in spec else []
            )
            assert [i.name for i in flow.inputs] == names
            assert list(flow.outputs) == [o["name"] for o in spec.get("outputs", [])]
        overrides = emu.run(emu.em.backbone.overrides)
        timelines = emu.run(emu.em.backbone.timelines)
        for link in declared.links:
            pairs = [(link.src, link.dst)] + ([(link.dst, link.src)] if link.both_ways else [])
            for pair in pairs:
                assert pair in overrides, f"link {pair} not in force"
                assert (pair in timelines) == (link.timeline is not None), f"timeline of {pair}"


def test_mcemu_up_answers_and_stops_on_ctrl_c(ffmpeg_exe: str) -> None:
    assert os.access(MCEMU, os.X_OK), f"the mcemu console script is not installed at {MCEMU}"
    port = free_port()
    topology = ROOT / "fixtures" / "topologies" / "ephemeral_ports.yaml"
    cmd = [MCEMU, "--log-level", "WARNING", "up", "--topology", str(topology), "--api-port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pub = None
    try:
        out = Lines(proc)
        out.until(r"mcemu\b.* is up in", 20)
        push_url = out.until(r"push to CiRtmpAInput\s+(rtmp://\S+)", 5).group(1)
        out.until(r"Ctrl-C to stop", 5)
        api = Sdk(f"127.0.0.1:{port}")
        regions = api.c.get_media_connect_available_region().body.content
        assert "ap-southeast-1" in regions.region_list and regions.default_region == "ap-southeast-1"
        fid = api.flow("FromTheSdk", "cn-beijing")
        url = api.input(fid, "In", "RTMP-PUSH")
        assert url.startswith("rtmp://127.0.1.3:")
        # The flow the topology declared takes a real publish at the URL mcemu printed.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/state", timeout=10) as resp:
            state: dict[str, Any] = json.loads(resp.read())
        ci = next(f for f in state["flows"] if f["name"] == "CiRtmpA")
        assert api.input_status(ci["id"]) == "disconnected"
        pub = publisher(ffmpeg_exe, push_url, 2)
        wait_until(api.input_status_is(ci["id"], "connected"), 10, "InputStatus connected")
        _, err = pub.communicate(timeout=30)
        assert pub.returncode == 0, err
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(15)
    finally:
        if pub is not None and pub.poll() is None:
            pub.kill()
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert rc == 0, f"mcemu up exited with {rc}: {stderr[-500:]}"
    assert "Traceback" not in stderr, stderr[-1000:]


def test_srt_passphrase_example_carries_media(ffmpeg_exe: str, tmp_path: Any) -> None:
    """The encrypted SRT example end to end: ffmpeg publishes with the contribution passphrase, an
    ffmpeg player with the playout passphrase decodes every frame, one with a wrong passphrase is refused."""
    seconds = 4
    doc = yaml.safe_load((ROOT / "fixtures" / "topologies" / "srt_relay_passphrase.yaml").read_text())
    topology = Topology.from_dict({**doc, **TEST_PORTS, "api": {"host": "127.0.0.1", "port": 0}})
    with EmulatorThread(topology) as emu:
        urls = {role: url for _flow, role, url in emu.em.urls()}
        play = urls["play SrtBOutput"]
        wrong = Receiver(ffmpeg_exe, f"{play}?passphrase=not-the-playout-secret&pbkeylen=32&latency=200000")
        rx = Receiver(ffmpeg_exe, f"{play}?passphrase=playout-secret-1&pbkeylen=32&latency=200000")
        wait_until(lambda: live(emu)["live_flows"] and players_of_srt_b(emu) == 1, 15, "the SRT player")
        pub = publisher(
            ffmpeg_exe, f"{urls['push to SrtAInput']}?passphrase=contribution-secret&pbkeylen=32", seconds
        )
        try:
            _, err = pub.communicate(timeout=seconds + 30)
            assert pub.returncode == 0, err.decode(errors="replace")
            wrong_rc = wrong.proc.wait(10)
            got = rx.stop(settle_s=1.5)
        finally:
            stop_all(pub, rx.proc, wrong.proc)
    assert wrong_rc != 0, "a player with the wrong passphrase was let in"
    d = decode(got.data, str(tmp_path), "srt_passphrase")
    assert d.error == "" and d.errors == 0, f"{d} ({got.stderr[-300:]})"
    assert d.frames == seconds * FPS, f"{d.frames} frames decoded, {seconds * FPS} sent"


def players_of_srt_b(emu: EmulatorThread) -> int:
    flows = {f["name"]: f for f in live(emu)["live_flows"].values()}
    return int(flows["SrtB"]["outputs"]["SrtBOutput"]["srt_callers"] or 0)
