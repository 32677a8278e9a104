"""Quiet unless something changes (issue 11).

* An idle emulator with the default topology (RTMP and SRT relays Singapore -> Frankfurt, online, no
  publisher) keeps its backbone legs up without reconnecting and logs next to nothing: Flow B's RTMP
  puller pings the silent server instead of reconnecting every idle timeout (shortened here to 1 s, so
  the window holds many of them), and "input ... is active" is logged on a change only.
* Backbone legs are not players: ``/_emulator/state`` counts them as ``backbone_legs`` apart from
  ``players`` and ``srt_callers``, ``/metrics`` as ``mcemu_output_backbone_legs`` apart from
  ``mcemu_output_players``; a real ffmpeg player on the same output is counted as the one player.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import urllib.request
from typing import Any

import pytest
from e2e_peers import Receiver
from e2e_runtime_kit import Sdk, players, stop_all, wait_until

from emulator.testing import EmulatorThread, test_topology
from emulator.topology import DEFAULT_TOPOLOGY
from mediaplane.rtmp import RtmpClientConfig

IDLE_WINDOW_S = 20.0
MAX_INFO_LINES = 3


def _offline_default_topology() -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(DEFAULT_TOPOLOGY)
    for flow in doc["flows"]:
        flow["status"] = "offline"
    return doc


def _online(emu: EmulatorThread) -> dict[str, str]:
    """Bring the default flows online (Flow B first, as mcemu up does) and wait for the backbone legs."""
    api = Sdk(emu)
    ids = {f.name: f.id for f in emu.run(lambda: list(emu.em.manager.flows))}
    for name in ("DemoRtmpB", "DemoRtmpA", "DemoSrtB", "DemoSrtA"):
        api.status(ids[name], "online")
    legs = {("DemoRtmpA", "DemoRtmpAOutput"), ("DemoSrtA", "DemoSrtAOutput")}
    wait_until(lambda: all(players(emu, ids[f], o) >= 1 for f, o in legs), 30, "the backbone legs")
    wait_until(lambda: all(_leg(emu, ids[f]).connected for f in ("DemoRtmpB", "DemoSrtB")), 30, "legs up")
    return ids


def _leg(emu: EmulatorThread, flow_id: str) -> Any:
    """The client of a Flow B's backbone input (RtmpPuller or SrtCaller)."""
    return emu.run(lambda: emu.em.runtime.live[flow_id].inputs[0].client)


def test_an_idle_emulator_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    with EmulatorThread(test_topology(_offline_default_topology())) as emu:
        emu.em.runtime.rtmp_client_config = RtmpClientConfig(idle_timeout_s=1.0)
        ids = _online(emu)
        puller = _leg(emu, ids["DemoRtmpB"])
        attempts = emu.run(lambda: puller.attempts)
        caller = _leg(emu, ids["DemoSrtB"])
        connections = emu.run(lambda: caller.connections_made)
        with caplog.at_level(logging.DEBUG):
            caplog.clear()
            time.sleep(IDLE_WINDOW_S)  # nothing happens: that is what is asserted
            records = list(caplog.records)
        assert emu.run(lambda: puller.attempts) == attempts, "the idle RTMP leg reconnected"
        assert emu.run(lambda: caller.connections_made) == connections, "the idle SRT leg reconnected"
    ours = [r for r in records if r.name.split(".")[0] in ("emulator", "mediaplane")]
    loud = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in ours if r.levelno >= logging.INFO]
    assert len(loud) <= MAX_INFO_LINES, "\n".join(loud)
    assert not any("reconnecting" in line or "is active" in line for line in loud), loud


def _metric(text: str, name: str, output: str) -> float:
    found = re.search(rf'^{name}{{[^}}]*output="{output}"[^}}]*}} (\S+)$', text, re.M)
    assert found, f"no {name} for {output}"
    return float(found.group(1))


def test_backbone_legs_are_not_players(ffmpeg_exe: str) -> None:
    with EmulatorThread(test_topology(_offline_default_topology())) as emu:
        ids = _online(emu)
        a_rtmp, a_srt = ids["DemoRtmpA"], ids["DemoSrtA"]
        api = Sdk(emu)
        srt_url = api.c.get_media_connect_flow_output(
            api.m.GetMediaConnectFlowOutputRequest(flow_id=a_srt, output_name="DemoSrtAOutput")
        ).body.content.output_url
        rtmp_url = api.c.get_media_connect_flow_output(
            api.m.GetMediaConnectFlowOutputRequest(flow_id=a_rtmp, output_name="DemoRtmpAOutput")
        ).body.content.output_url

        def state() -> dict[str, Any]:
            with urllib.request.urlopen(f"{emu.api_url}/_emulator/state", timeout=10) as resp:
                flows: dict[str, Any] = json.loads(resp.read())["live_flows"]
            return {
                "rtmp": flows[a_rtmp]["outputs"]["DemoRtmpAOutput"],
                "srt": flows[a_srt]["outputs"]["DemoSrtAOutput"],
            }

        def metrics() -> str:
            with urllib.request.urlopen(f"{emu.api_url}/metrics", timeout=10) as resp:
                return str(resp.read().decode())

        # Only the legs: no player anywhere a user reads.
        now = state()
        assert (now["rtmp"]["players"], now["rtmp"]["backbone_legs"]) == (0, 1), now
        assert (now["srt"]["players"], now["srt"]["srt_callers"], now["srt"]["backbone_legs"]) == (0, 0, 1)
        text = metrics()
        for output in ("DemoRtmpAOutput", "DemoSrtAOutput"):
            assert _metric(text, "mcemu_output_players", output) == 0
            assert _metric(text, "mcemu_output_backbone_legs", output) == 1
        # A real player on each of the same outputs is the one player.
        rxs = [Receiver(ffmpeg_exe, rtmp_url), Receiver(ffmpeg_exe, srt_url)]
        try:
            wait_until(
                lambda: state()["rtmp"]["players"] == 1 and state()["srt"]["players"] == 1, 30, "the players"
            )
            now = state()
            assert now["rtmp"]["backbone_legs"] == 1 and now["srt"]["backbone_legs"] == 1, now
            assert now["srt"]["srt_callers"] == 1, now
            text = metrics()
            for output in ("DemoRtmpAOutput", "DemoSrtAOutput"):
                assert _metric(text, "mcemu_output_players", output) == 1
                assert _metric(text, "mcemu_output_backbone_legs", output) == 1
        finally:
            stop_all(*(rx.proc for rx in rxs))
