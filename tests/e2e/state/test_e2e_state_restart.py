"""``mcemu up --state FILE`` across a restart (the installed console script, as a subprocess).

The first run has no state file: it starts from its topology (one region on fixed ports, no flows) and
writes the file. Flows are made through the official SDK (random FlowIds and stream keys, as on the real
service), one goes online; the file follows within a second. Ctrl-C; the second run of the same
command loads the file: the same FlowIds, URLs, stream keys and SRT port, the online flow is online
again and a real ffmpeg publish to its old URL is accepted (InputStatus ``connected``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
import yaml
from state_kit import KEY, Lines, Sdk, admin_call, free_port, identity, kill, publisher, wait_until

pytestmark = pytest.mark.ffmpeg

MCEMU = os.path.join(os.path.dirname(sys.executable), "mcemu")
REGION = "ap-southeast-1"


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = Lines(proc)
    try:
        out.until(r" is up in ", 30)
    except BaseException:
        proc.kill()  # a start that failed must not outlive the test
        proc.communicate()
        raise
    return proc, out


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)  # stdout stays with its Lines reader thread, which ends at its EOF
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("mcemu up did not stop on SIGINT") from None
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    return err


def saved(path: Any) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc


def test_a_restart_keeps_flow_ids_urls_and_keys_and_goes_online_again(ffmpeg_exe: str, tmp_path: Any) -> None:
    rtmp_port, api_port = free_port(), free_port()
    topo = tmp_path / "one-region.yaml"
    region = {"id": REGION, "name": "Singapore", "host": "127.0.1.1", "rtmp_port": rtmp_port}
    region |= {"srt_port_min": 0, "srt_port_max": 0}
    topo.write_text(yaml.safe_dump({"regions": [region]}))
    state_file = tmp_path / "state.json"
    api = f"http://127.0.0.1:{api_port}"
    cmd = [MCEMU, "up", "--topology", str(topo), "--api-port", str(api_port), "--state", str(state_file)]
    cmd += ["--status-every", "0", "--log-level", "WARNING"]
    pub = None
    proc, _ = start(cmd)
    try:
        assert saved(state_file).get("flows") == [], "the first run writes the (empty) state at once"
        sdk = Sdk(f"127.0.0.1:{api_port}")
        live_id = sdk.flow("KeepLive", REGION)
        push_url = sdk.input(live_id, "KeepIn", "RTMP-PUSH")
        play_url = sdk.output(live_id, "KeepOut", "RTMP-PULL")
        sdk.status(live_id, "online")
        srt_id = sdk.flow("KeepSrt", REGION)
        srt_url = sdk.input(srt_id, "KeepSrtIn", "SRT-Listener")
        wait_until(
            lambda: (
                [(f["id"], f["status"]) for f in saved(state_file).get("flows", [])]
                == [(live_id, "online"), (srt_id, "offline")]
            ),
            10,
            "the state file to follow the API",
        )
        first = admin_call(api, "GET", "/_emulator/state/export", key=KEY).body
    finally:
        stop(proc)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".mcemu-state-")], "a temp file left"
    assert identity(saved(state_file)) == identity(first)

    proc, out = start(cmd)
    try:
        # The banner lists the restored URLs.
        assert out.until(r"push to KeepIn\s+(\S+)", 5).group(1) == push_url
        again = admin_call(api, "GET", "/_emulator/state/export", key=KEY).body
        assert identity(again) == identity(first)
        flows = {f["id"]: f for f in again["flows"]}
        assert flows[live_id]["status"] == "online" and flows[srt_id]["status"] == "offline"
        assert flows[live_id]["inputs"][0]["url"] == push_url
        assert flows[live_id]["outputs"][0]["url"] == play_url
        assert flows[srt_id]["inputs"][0]["url"] == srt_url
        key = push_url.rsplit("/", 1)[1]
        assert flows[live_id]["inputs"][0]["stream_key"] == key and key.startswith("KeepIn_")
        # Online for real: the old URL takes a real publish.
        sdk = Sdk(f"127.0.0.1:{api_port}")
        pub = publisher(ffmpeg_exe, push_url, 60)
        wait_until(sdk.input_status_is(live_id, "connected"), 45, "InputStatus connected after the restart")
    finally:
        if pub is not None:
            kill(pub)
        stop(proc)
