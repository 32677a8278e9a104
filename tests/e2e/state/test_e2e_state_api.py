"""State export and import through the admin API (real HTTP, V3-signed as the CLI signs).

* export -> reset -> import gives the same flows: FlowIds, names, URLs, stream keys, SRT ports and
  passphrases, Forbid, failover, CreateTimes; the same backbone override and last-mile impairment; the
  flows that were online are online again (and the others not).
* an unsigned export is refused (it holds stream keys), a bad document answers 400 and changes nothing.
* ``?format=topology`` is YAML that a fresh emulator loads, with the same flows, links and last mile.
* ``mcemu state export -o FILE`` / ``mcemu state import FILE`` do the same from the shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import yaml
from state_kit import KEY, admin_call, identity

from emulator.testing import EmulatorThread

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"
MCEMU = os.path.join(os.path.dirname(sys.executable), "mcemu")
TOPOLOGY: dict[str, Any] = {
    "seed": 5,
    "links": [{"from": A_REGION, "to": B_REGION, "delay_ms": 33, "loss_pct": 1}],
    "flows": [
        {
            "name": "StA",
            "region": A_REGION,
            "status": "online",
            "failover": True,
            "input": {"name": "StMain", "protocol": "RTMP-PUSH", "max_bitrate": 2_000_000},
            "backup_input": {"name": "StBackup", "protocol": "RTMP-PUSH"},
            "outputs": [
                {"name": "StOut", "protocol": "RTMP-PULL", "player_limit": 2, "last_mile": {"delay_ms": 25}},
                {
                    "name": "StPush",
                    "protocol": "RTMP-PUSH",
                    "to_url": "rtmp://127.0.0.1:9/live/x",
                    "forbid": True,
                },
            ],
        },
        {
            "name": "StB",
            "region": B_REGION,
            "status": "online",
            "input": {"name": "StBIn", "protocol": "Flow", "pair_flow": "StA", "pair_output": "StOut"},
            "outputs": [{"name": "StBOut", "protocol": "RTMP-PULL"}],
        },
        {
            "name": "StSrt",
            "region": B_REGION,
            "input": {"name": "StSrtIn", "protocol": "SRT-Listener", "srt_passphrase": "state-pass-0123"},
            "outputs": [{"name": "StSrtOut", "protocol": "SRT-Listener", "srt_latency": 200}],
        },
    ],
}


def export(emu: EmulatorThread, **query: str) -> Any:
    answer = admin_call(emu.api_url, "GET", "/_emulator/state/export", query=query, key=KEY)
    assert answer.status == 200, answer.body
    return answer.body


def test_export_reset_import_gives_the_same_flows() -> None:
    with EmulatorThread(TOPOLOGY) as emu:
        # Flows made through the API have random keys and ids: add one so the round trip has to keep them.
        new = emu.run(lambda: emu.em.manager.create_flow(name="StApi", region=A_REGION))
        emu.run(lambda: emu.em.manager.add_input(new.id, name="ApiIn", protocol="RTMP-PUSH"))
        before = export(emu)
        assert before["version"] == 1 and len(before["flows"]) == 4
        assert before["links"] == [
            {"from": A_REGION, "to": B_REGION, "impairment": before["links"][0]["impairment"]}
        ]
        assert [(e["name"], e["to_region"]["delay_ms"]) for e in before["last_mile"]] == [("StOut", 25.0)]

        assert admin_call(emu.api_url, "POST", "/_emulator/reset", key=KEY).status == 200
        assert emu.run(lambda: emu.em.manager.flows) == []
        mark = emu.last_event_id
        answer = admin_call(emu.api_url, "POST", "/_emulator/state/import", before, key=KEY)
        assert answer.status == 200, answer.body
        ids = [f["id"] for f in before["flows"]]
        assert answer.body == {"status": "ok", "flows": 4, "online": ids[:2], "errors": []}
        after = export(emu)
        assert identity(after) == identity(before)
        assert after["links"] == before["links"] and after["last_mile"] == before["last_mile"]
        # Online again, for real: Flow B's backbone leg is live and the last mile's impaired URL exists.
        emu.wait_for("flow.status", flow_id=ids[1], status="online", after=mark, timeout=15)
        live = emu.run(lambda: set(emu.em.runtime.live))
        assert live == set(ids[:2])
        lastmile = admin_call(emu.api_url, "GET", "/_emulator/lastmile", key=KEY).body
        assert lastmile["endpoints"][0]["impaired_url"], lastmile
        # The SRT ports are reserved again: a new SRT-Listener gets another port.
        port = emu.run(
            lambda: emu.em.manager.add_output(ids[2], name="StSrtOut2", protocol="SRT-Listener").srt_port
        )
        assert port not in {e["srt_port"] for f in before["flows"] for e in f["inputs"] + f["outputs"]}


def test_export_needs_a_signature_and_a_bad_import_changes_nothing() -> None:
    with EmulatorThread(TOPOLOGY) as emu:
        unsigned = admin_call(emu.api_url, "GET", "/_emulator/state/export")
        assert unsigned.status == 403 and "sign the request" in unsigned.body["error"], unsigned.body
        keys = [f["inputs"][0]["stream_key"] for f in export(emu)["flows"] if f["inputs"][0]["stream_key"]]
        assert keys and not any(k in unsigned.raw.decode() for k in keys)
        before = export(emu)
        bad = dict(before, flows=[*before["flows"], {"id": "x", "name": "bad name!", "region": A_REGION}])
        answer = admin_call(emu.api_url, "POST", "/_emulator/state/import", bad, key=KEY)
        assert answer.status == 400 and answer.body["error"].startswith("flows[3]: FlowName"), answer.body
        wrong = admin_call(emu.api_url, "POST", "/_emulator/state/import", {"version": 99}, key=KEY)
        assert wrong.status == 400 and "version" in wrong.body["error"], wrong.body
        assert identity(export(emu)) == identity(before)


def test_topology_export_loads_in_a_fresh_emulator(tmp_path: Any) -> None:
    with EmulatorThread(TOPOLOGY) as emu:
        answer = admin_call(
            emu.api_url, "GET", "/_emulator/state/export", query={"format": "topology"}, key=KEY
        )
        assert answer.status == 200
        text = answer.raw.decode()
        state = export(emu)
    doc = yaml.safe_load(text)
    assert "access_keys" not in doc and doc["seed"] == 5
    with EmulatorThread(doc) as fresh:
        again = admin_call(fresh.api_url, "GET", "/_emulator/state/export", key=KEY).body

    def shape(s: dict[str, Any]) -> list[Any]:
        return [
            (f["name"], f["region"], f["status"], f["failover_open"],
             [(i["name"], i["protocol"], i["max_bitrate"]) for i in f["inputs"]],
             [(o["name"], o["protocol"], o["forbid"], o["player_limit"]) for o in f["outputs"]])
            for f in s["flows"]
        ]  # fmt: skip

    assert shape(again) == shape(state)
    assert again["links"] == state["links"]
    assert [(e["name"], e["to_region"]) for e in again["last_mile"]] == [
        (e["name"], e["to_region"]) for e in state["last_mile"]
    ]
    # The topology's own stream keys come from its seed: the same as the exporter's (same seed).
    assert [f["inputs"][0]["stream_key"] for f in again["flows"]] == [
        f["inputs"][0]["stream_key"] for f in state["flows"]
    ]


def test_mcemu_state_export_and_import(tmp_path: Any) -> None:
    with EmulatorThread(TOPOLOGY) as emu:
        saved = tmp_path / "saved.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
        run = [MCEMU, "state"]
        out = subprocess.run([*run, "export", "-o", str(saved), "--api", emu.api_url], capture_output=True,
                             text=True, timeout=60, env=env)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"state of 3 flows written to {saved}"
        before = export(emu)
        emu.reset()
        out = subprocess.run([*run, "import", str(saved), "--api", emu.api_url], capture_output=True,
                             text=True, timeout=60, env=env)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "state imported: 3 flows, 2 online"
        assert identity(export(emu)) == identity(before)
        topo = subprocess.run([*run, "export", "--topology", "--api", emu.api_url], capture_output=True,
                              text=True, timeout=60, env=env)  # fmt: skip
        assert topo.returncode == 0, topo.stderr
        assert [f["name"] for f in yaml.safe_load(topo.stdout)["flows"]] == ["StA", "StB", "StSrt"]
        shown = subprocess.run(
            [*run, "--api", emu.api_url], capture_output=True, text=True, timeout=60, env=env
        )
        assert shown.returncode == 0 and '"live_flows"' in shown.stdout, shown.stderr
