"""The backbone controls against a running ``mcemu up`` (the installed console script, as a subprocess).

* A topology file with ``links:`` (a profile, field overrides, a timeline) loads and applies: ``GET
  /_emulator/links`` shows each direction's impairment, the timeline's change once it ran, and the live
  backbone link of the topology's RTMP relay with its impairment per direction.
* ``mcemu link show / set / timeline / clear / profiles`` change and show what the admin API reports,
  and ``mcemu link set`` changes a live link: the lag of Flow B's player behind Flow A's grows by the
  added one-way delay, measured on real media (a real ffmpeg publishes into Flow A).
* Bad requests (unknown region, unknown field) fail with a non-zero exit and the API's reason.
* Everything from the shell: a topology file declares an SRT relay and a lossy link (5 % loss both ways,
  60 ms one way); ``mcemu signal`` pushes the numbered test signal into Flow A, ``mcemu probe --json``
  reads Flow B's output: no frame lost, and the link's counters show the drops SRT repaired.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

import pytest
import yaml
from backbone_kit import (
    A_REGION,
    B_REGION,
    ClientLoop,
    Lines,
    RtmpPlayer,
    admin,
    free_port,
    publisher,
    wait_until,
)

pytestmark = pytest.mark.ffmpeg

MCEMU = os.path.join(os.path.dirname(sys.executable), "mcemu")
CATALOGUE_MS = 80.0  # Singapore <-> Frankfurt one way, from the region catalogue
TOPOLOGY: dict[str, Any] = {
    "api": {"host": "127.0.0.1", "port": 0},
    "rtmp_port": 0,
    "srt_port_min": 0,
    "srt_port_max": 0,
    "seed": 9,
    "links": [
        {
            "from": A_REGION,
            "to": B_REGION,
            "profile": "asia-europe",
            "delay_ms": 40,
            "loss_pct": 0,
            "timeline": [{"at_s": 1.0, "changes": {"delay_ms": 30}}],
        },
        {"from": B_REGION, "to": A_REGION, "profile": "asia-europe", "loss_pct": 0},
    ],
    "flows": [
        {
            "name": "CtlA",
            "region": A_REGION,
            "status": "online",
            "input": {"name": "CtlAIn", "protocol": "RTMP-PUSH"},
            "outputs": [{"name": "CtlAOut", "protocol": "RTMP-PULL"}],
        },
        {
            "name": "CtlB",
            "region": B_REGION,
            "status": "online",
            "input": {"name": "CtlBIn", "protocol": "Flow", "pair_flow": "CtlA", "pair_output": "CtlAOut"},
            "outputs": [{"name": "CtlBOut", "protocol": "RTMP-PULL"}],
        },
    ],
}


class McemuUp:
    """``mcemu up`` (the installed console script) on a topology file written from ``topology``, up once
    it said so; the with-block's end stops it with Ctrl-C (SIGINT), after which ``rc`` and ``stderr``
    say how it went. Helper processes handed to ``spawned`` are killed then if still running."""

    def __init__(self, topology: dict[str, Any], tmp_path: Any) -> None:
        self.topo = tmp_path / "topology.yaml"
        self.topo.write_text(yaml.safe_dump(topology))
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.helpers: list[subprocess.Popen[Any]] = []
        self.rc: int | None = None
        self.stderr = ""

    def __enter__(self) -> McemuUp:
        cmd = [MCEMU, "--log-level", "WARNING", "up", "--topology", str(self.topo)]
        cmd += ["--api-port", str(self.port), "--status-every", "0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = Lines(self.proc)
        try:
            self.out.until(r"mcemu\b.* is up in", 20)
        except BaseException:
            self._stop(graceful=False)  # a start that failed must not outlive the test
            raise
        return self

    def spawned(self, helper: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.helpers.append(helper)
        return helper

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop(graceful=exc_type is None)

    def _stop(self, *, graceful: bool) -> None:
        try:
            if graceful:
                self.proc.send_signal(signal.SIGINT)
                self.rc = self.proc.wait(15)
        finally:
            for helper in self.helpers:
                if helper.poll() is None:
                    helper.kill()
                    helper.communicate(timeout=10)
            if self.proc.poll() is None:
                self.proc.kill()
            _, self.stderr = self.proc.communicate(timeout=10)


def mcemu(*args: str, api: str) -> subprocess.CompletedProcess[str]:
    """Run ``mcemu link ...`` against the running emulator."""
    cmd = [MCEMU, "link", *args]
    if args[0] != "profiles":
        cmd += ["--api", api]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def impairments(api: str) -> dict[tuple[str, str], dict[str, Any]]:
    status, view = admin(api, "GET", "/_emulator/links")
    assert status == 200, view
    return {(r["from"], r["to"]): {**r["impairment"], "timeline": r["timeline"]} for r in view["impairments"]}


def live_link(api: str) -> dict[str, Any]:
    status, view = admin(api, "GET", "/_emulator/links")
    assert status == 200, view
    assert len(view["links"]) == 1, view["links"]
    row: dict[str, Any] = view["links"][0]
    return row


def video_arrivals(player: RtmpPlayer) -> dict[int, float]:
    """RTMP timestamp -> first arrival time of each video message."""
    out: dict[int, float] = {}
    for t, _kind, ts, video in list(player.units):
        if video:
            out.setdefault(ts, t)
    return out


def arrivals(players: dict[str, RtmpPlayer]) -> tuple[dict[int, float], dict[int, float]]:
    """Flow A's and Flow B's player's video arrivals. Runs on the client loop."""
    return video_arrivals(players["A"]), video_arrivals(players["B"])


def lag_ms(a: dict[int, float], b: dict[int, float], since: float, until: float) -> tuple[float, int]:
    """Median lag of B behind A over the video messages A received in ``[since, until)``."""
    lags = [(b[ts] - t) * 1000 for ts, t in a.items() if since <= t < until and ts in b]
    return (statistics.median(lags) if lags else float("nan")), len(lags)


def test_mcemu_link_commands_against_mcemu_up(ffmpeg_exe: str, tmp_path: Any) -> None:
    assert os.access(MCEMU, os.X_OK), f"the mcemu console script is not installed at {MCEMU}"
    with McemuUp(TOPOLOGY, tmp_path) as up:
        api, out = up.api, up.out
        push_url = out.until(r"push to CtlAIn\s+(rtmp://\S+)", 5).group(1)
        a_url = out.until(r"play CtlAOut\s+(rtmp://\S+)", 5).group(1)
        b_url = out.until(r"play CtlBOut\s+(rtmp://\S+)", 5).group(1)
        out.until(r"Ctrl-C to stop", 5)

        # The topology's links are in force: profile fields, overrides, and the timeline's change.
        ab = wait_until(
            lambda: (
                (row := impairments(api)[(A_REGION, B_REGION)])["delay_ms"] == 30
                and not row["timeline"]
                and row
            ),
            10,
            "the topology's timeline to run",
        )
        assert ab["jitter_ms"] == 2.0 and ab["jitter_distribution"] == "normal", ab
        assert ab["jitter_correlation_pct"] == 50.0 and ab["loss_pct"] == 0.0, ab
        ba = impairments(api)[(B_REGION, A_REGION)]
        assert ba["delay_ms"] == 80.0 and ba["loss_pct"] == 0.0 and ba["jitter_ms"] == 2.0, ba
        link = live_link(api)
        # Flow B's input pulls from Flow A: the link's client side is Frankfurt.
        assert (link["from"], link["to"]) == (B_REGION, A_REGION), link
        assert link["forward"]["delay_ms"] == 80.0 and link["reverse"]["delay_ms"] == 30.0, link
        shown = mcemu("show", api=api)
        assert shown.returncode == 0, shown.stderr
        assert f"{A_REGION} -> {B_REGION}: delay 30 ms +-2 normal (50 % corr)\n" in shown.stdout, shown.stdout
        assert f"{B_REGION} -> {A_REGION}: delay 80 ms +-2 normal (50 % corr)\n" in shown.stdout, shown.stdout
        assert "live link backbone" in shown.stdout and "; reverse delay 30 ms" in shown.stdout, shown.stdout
        profiles = mcemu("profiles", api=api)
        assert profiles.returncode == 0 and "asia-europe" in profiles.stdout, profiles

        # Real media through the live relay; Flow B's lag behind Flow A before and after `link set`.
        with ClientLoop() as clients:
            players = {"A": RtmpPlayer(a_url), "B": RtmpPlayer(b_url)}
            for p in players.values():
                clients.call(p.start)
            time.sleep(0.5)
            pub = up.spawned(publisher(ffmpeg_exe, push_url, 10))
            wait_until(
                lambda: len(clients.run(lambda: video_arrivals(players["B"]))) >= 60,
                20,
                "media at Flow B's player",
            )
            asked = time.monotonic()
            set_ = mcemu("set", A_REGION, B_REGION, "--delay-ms", "400", api=api)
            assert set_.returncode == 0, set_.stderr
            assert f"{A_REGION} -> {B_REGION}: delay 400 ms\n" in set_.stdout, set_.stdout
            # In force once the command has returned: what Flow A's player gets from here on
            # crossed the link after the change.
            changed = time.monotonic()
            wait_until(
                lambda: lag_ms(*clients.run(lambda: arrivals(players)), changed, float("inf"))[1] >= 25,
                30,
                "Flow B's player to get 25 frames sent after the change",
            )
            a_arr, b_arr = clients.run(lambda: arrivals(players))
            for p in players.values():
                clients.call(p.close)
        before, n_before = lag_ms(a_arr, b_arr, 0.0, asked)
        after, n_after = lag_ms(a_arr, b_arr, changed, float("inf"))
        print(
            f"\nFlow B lags Flow A by {before:.0f} ms ({n_before} frames),"
            f" then {after:.0f} ms ({n_after} frames)"
        )
        assert n_before >= 25 and n_after >= 25, (n_before, n_after)
        # The lag grew by the change of delay (30 -> 400 ms), less the players' own noise; no upper
        # bound: a loaded machine only adds lag.
        assert after - before >= 400 - 30 - 50, f"lag {before:.0f} -> {after:.0f} ms"
        ab = impairments(api)[(A_REGION, B_REGION)]
        assert ab["delay_ms"] == 400.0 and ab["jitter_ms"] == 0.0 and not ab["timeline"], ab
        assert live_link(api)["reverse"]["delay_ms"] == 400.0

        # A timeline file: in force at once, reverted when its step ends.
        steps = tmp_path / "steps.yaml"
        steps.write_text(yaml.safe_dump([{"at_s": 0, "changes": {"delay_ms": 150}, "duration_s": 1.5}]))
        ran = mcemu("timeline", A_REGION, B_REGION, str(steps), api=api)
        assert ran.returncode == 0, ran.stderr
        assert "(timeline running)" in ran.stdout, ran.stdout
        ab = impairments(api)[(A_REGION, B_REGION)]
        assert ab["delay_ms"] == 150.0 and ab["timeline"], ab
        assert live_link(api)["reverse"]["delay_ms"] == 150.0
        wait_until(
            lambda: (
                (row := impairments(api)[(A_REGION, B_REGION)])["delay_ms"] == 400 and not row["timeline"]
            ),
            10,
            "the timeline to revert",
        )

        # Clear both ways: the catalogue latency, nothing listed.
        cleared = mcemu("clear", A_REGION, B_REGION, "--both-ways", api=api)
        assert cleared.returncode == 0, cleared.stderr
        assert impairments(api) == {}
        link = live_link(api)
        assert link["forward"]["delay_ms"] == link["reverse"]["delay_ms"] == CATALOGUE_MS, link

        # A profile with an override, both ways.
        set_ = mcemu(
            "set", A_REGION, B_REGION, "--profile", "transpacific", "--loss-pct", "0", "--both-ways", api=api
        )
        assert set_.returncode == 0, set_.stderr
        rows = impairments(api)
        for pair in ((A_REGION, B_REGION), (B_REGION, A_REGION)):
            assert rows[pair]["delay_ms"] == 85.0 and rows[pair]["jitter_ms"] == 3.0, rows
            assert rows[pair]["loss_pct"] == 0.0, rows
        link = live_link(api)
        assert link["forward"]["delay_ms"] == link["reverse"]["delay_ms"] == 85.0, link

        # Refusals: the API's reason, a non-zero exit, nothing changed.
        bad = mcemu("set", A_REGION, "nowhere-1", "--delay-ms", "5", api=api)
        assert bad.returncode != 0 and "404" in bad.stderr, (bad.returncode, bad.stderr)
        bad = mcemu("set", A_REGION, B_REGION, "--set", "bogus_field=1", api=api)
        assert bad.returncode != 0 and "400" in bad.stderr and "bogus_field" in bad.stderr, bad.stderr
        bad = mcemu("set", A_REGION, B_REGION, "--loss-pct", "150", api=api)
        assert bad.returncode != 0 and "loss_pct" in bad.stderr, bad.stderr
        assert impairments(api) == rows

        _, err = pub.communicate(timeout=30)
        assert pub.returncode == 0, err.decode(errors="replace")
    assert up.rc == 0, f"mcemu up exited with {up.rc}: {up.stderr[-500:]}"
    assert "Traceback" not in up.stderr, up.stderr[-1000:]


SRT_TOPOLOGY: dict[str, Any] = {
    "api": {"host": "127.0.0.1", "port": 0},
    "rtmp_port": 0,
    "srt_port_min": 0,
    "srt_port_max": 0,
    "seed": 3,
    "links": [{"from": A_REGION, "to": B_REGION, "both_ways": True, "delay_ms": 60, "loss_pct": 5}],
    "flows": [
        {
            "name": "CliSrtA",
            "region": A_REGION,
            "status": "online",
            "input": {"name": "CliSrtAIn", "protocol": "SRT-Listener", "srt_latency": 480},
            "outputs": [{"name": "CliSrtAOut", "protocol": "SRT-Listener", "srt_latency": 480}],
        },
        {
            "name": "CliSrtB",
            "region": B_REGION,
            "status": "online",
            "input": {
                "name": "CliSrtBIn",
                "protocol": "Flow",
                "pair_flow": "CliSrtA",
                "pair_output": "CliSrtAOut",
                "srt_latency": 480,
            },
            "outputs": [{"name": "CliSrtBOut", "protocol": "SRT-Listener", "srt_latency": 480}],
        },
    ],
}


def live_flow(api: str, name: str) -> dict[str, Any]:
    status, state = admin(api, "GET", "/_emulator/state")
    assert status == 200, state
    flow: dict[str, Any] = next(f for f in state["live_flows"].values() if f["name"] == name)
    return flow


def test_signal_and_probe_from_the_shell_through_a_lossy_topology_link(tmp_path: Any) -> None:
    with McemuUp(SRT_TOPOLOGY, tmp_path) as up:
        api, out = up.api, up.out
        push_url = out.until(r"push to CliSrtAIn\s+(srt://\S+)", 5).group(1)
        play_url = out.until(r"play CliSrtBOut\s+(srt://\S+)", 5).group(1)
        out.until(r"Ctrl-C to stop", 5)
        wait_until(
            lambda: live_flow(api, "CliSrtB")["inputs"]["CliSrtBIn"]["client_connected"],
            20,
            "Flow B's input connected across the lossy link",
        )
        probe_cmd = [MCEMU, "--log-level", "WARNING", "probe", f"{play_url}?latency=480000"]
        probe = up.spawned(
            subprocess.Popen(
                [*probe_cmd, "--duration", "7", "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        wait_until(
            lambda: live_flow(api, "CliSrtB")["outputs"]["CliSrtBOut"]["srt_callers"],
            20,
            "mcemu probe connected to Flow B's output",
        )
        sig_cmd = [MCEMU, "--log-level", "WARNING", "signal", f"{push_url}?latency=480000", "--duration", "5"]
        sent = subprocess.run(sig_cmd, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        probed, probe_err = probe.communicate(timeout=60)
        assert probe.returncode == 0, probe_err[-1000:]
        result = json.loads(probed)
        link = live_link(api)
    drops = {d: link["stats"][d]["model"]["dropped_loss"] for d in ("forward", "reverse")}
    print(f"\n{sent.stdout.strip()}\nprobe: {result}\nlink drops: {drops}")
    assert up.rc == 0, f"mcemu up exited with {up.rc}: {up.stderr[-500:]}"
    assert result["error"] is None, result
    assert result["frames_numbered"] >= 100 and result["first_frame"] == 0, result
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["decode_errors"] == 0, result
    assert drops["forward"] > 0 and drops["reverse"] > 0, link["stats"]
    assert link["reverse"]["loss_pct"] == link["forward"]["loss_pct"] == 5.0, link
