"""``GET /_emulator/events`` read over a real HTTP connection while real ffmpeg peers publish and play.

* RTMP: a flow with a primary and a backup RTMP-PUSH input and an RTMP-PULL output goes online; ffmpeg
  publishes to the primary, an ffmpeg player joins, ffmpeg publishes to the backup, the primary is
  killed (failover to the backup), the player leaves, the flow stops. The stream of that flow carries
  exactly these events, in this order, each with its flow, region, names and peer; a second stream
  filtered on ``type=flow.status`` carries only the two status changes; no event holds a stream key.
  Each step waits with ``emu.wait_for`` (no sleep), which also finds an event that happened before it
  was called.
* SRT: Flow A (SRT-Listener input with a passphrase, an SRT-Listener output and a Flow output into
  Flow B) and Flow C (a Flow input pulling A's SRT-Listener output across the backbone): ffmpeg
  publishes SRT into A; A's Flow output connects, C's Flow input connects (``backbone: true``), one
  real SRT player joins A's output and leaves. C's backbone leg on that output is no player: A's
  stream has exactly one ``output.player_joined``.
"""

from __future__ import annotations

from typing import Any

import pytest
from events_kit import EventStream, Receiver, kill, publisher

from emulator.testing import EmulatorThread

pytestmark = pytest.mark.ffmpeg

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"
WAIT_S = 45.0  # generous: ffmpeg probing and connecting on a loaded 2-core machine


def brief(event: dict[str, Any]) -> tuple[str, str | None]:
    """(type, the name or status it is about)."""
    return event["type"], event.get("input_name") or event.get("output_name") or event.get("status")


def secrets_of(emu: EmulatorThread) -> list[str]:
    def collect() -> list[str]:
        found = []
        for flow in emu.em.manager.flows:
            found += [i.stream_key for i in flow.inputs] + [i.srt_passphrase for i in flow.inputs]
            found += [o.stream_key for o in flow.outputs.values()]
        return [s for s in found if s]

    return emu.run(collect)


def set_status(emu: EmulatorThread, flow_id: str, status: str) -> None:
    emu.call(lambda: emu.em.manager.set_status(flow_id, status))


def test_rtmp_start_publish_play_failover_stop_in_order(ffmpeg_exe: str) -> None:
    topology = {
        "flows": [
            {
                "name": "EvA",
                "region": A_REGION,
                "failover": True,
                "input": {"name": "EvMain", "protocol": "RTMP-PUSH"},
                "backup_input": {"name": "EvBackup", "protocol": "RTMP-PUSH"},
                "outputs": [{"name": "EvOut", "protocol": "RTMP-PULL"}],
            }
        ]
    }
    procs: list[Any] = []
    with EmulatorThread(topology) as emu:
        flow = emu.run(lambda: emu.em.manager.flows[0])
        fid = flow.id
        main_url, backup_url = (i.url for i in flow.inputs)
        out_url = flow.outputs["EvOut"].url
        stream = EventStream(emu.endpoint, f"flow_id={fid}")
        statuses = EventStream(emu.endpoint, "type=flow.status")
        assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
        try:
            set_status(emu, fid, "online")
            procs.append(publisher(ffmpeg_exe, main_url, 120))
            connected = emu.wait_for("input.connected", flow_id=fid, input_name="EvMain", timeout=WAIT_S)
            player = Receiver(ffmpeg_exe, out_url)
            procs.append(player.proc)
            joined = emu.wait_for("output.player_joined", flow_id=fid, output_name="EvOut", timeout=WAIT_S)
            procs.append(publisher(ffmpeg_exe, backup_url, 120))
            emu.wait_for("input.connected", flow_id=fid, input_name="EvBackup", timeout=WAIT_S)
            before_kill = emu.last_event_id
            kill(procs[0])
            switched = emu.wait_for("failover.switched", flow_id=fid, after=before_kill, timeout=WAIT_S)
            assert switched["input_name"] == "EvBackup" and switched["from_input"] == "EvMain", switched
            player.stop()
            emu.wait_for("output.player_left", flow_id=fid, output_name="EvOut", timeout=WAIT_S)
            set_status(emu, fid, "offline")
            stream.wait("flow.status", status="offline", timeout=WAIT_S)
            statuses.wait("flow.status", status="offline", timeout=WAIT_S)
        finally:
            for proc in procs:
                kill(proc)
            stream.close()
            statuses.close()
        secrets = secrets_of(emu)

    assert [brief(e) for e in stream.events] == [
        ("flow.status", "online"),
        ("input.connected", "EvMain"),
        ("output.player_joined", "EvOut"),
        ("input.connected", "EvBackup"),
        ("input.disconnected", "EvMain"),
        ("failover.switched", "EvBackup"),
        ("output.player_left", "EvOut"),
        ("input.disconnected", "EvBackup"),  # the flow stopped under its publisher
        ("flow.status", "offline"),
    ], stream.events
    assert [brief(e) for e in statuses.events] == [("flow.status", "online"), ("flow.status", "offline")]
    # Every event is numbered (id: lines, increasing), stamped and names its flow.
    assert stream.ids == sorted(stream.ids) and len(set(stream.ids)) == len(stream.events)
    for e in stream.events:
        assert (e["flow_id"], e["flow"], e["region"]) == (fid, "EvA", A_REGION), e
        assert isinstance(e["time"], float), e
    assert connected["peer"].startswith("127.0.0.1:") and connected["protocol"] == "RTMP-PUSH", connected
    assert connected["backup"] is False and connected["backbone"] is False, connected
    assert joined["peer"].startswith("127.0.0.1:") and joined["protocol"] == "RTMP-PULL", joined
    assert stream.comments[0].startswith(": mcemu events, last id "), stream.comments
    # wait_for found the events that were already in the history (they happened before the call).
    assert emu_history_has(stream.events, connected) and emu_history_has(stream.events, joined)
    assert secrets and not any(s in line for s in secrets for line in stream.raw), "a secret in an event"


def emu_history_has(events: list[dict[str, Any]], event: dict[str, Any]) -> bool:
    return any(e == event for e in events)


def test_srt_publish_flow_legs_and_one_real_player(ffmpeg_exe: str) -> None:
    passphrase = "events-passphrase-1"
    topology = {
        "flows": [
            {
                "name": "SrtA",
                "region": A_REGION,
                "input": {"name": "SrtAIn", "protocol": "SRT-Listener", "srt_passphrase": passphrase},
                "outputs": [
                    {"name": "SrtAOut", "protocol": "SRT-Listener"},
                    {"name": "SrtAToB", "protocol": "Flow", "pair_flow": "SrtB", "pair_input": "SrtBIn"},
                ],
            },
            {
                "name": "SrtB",
                "region": B_REGION,
                "input": {"name": "SrtBIn", "protocol": "SRT-Listener"},
                "outputs": [{"name": "SrtBOut", "protocol": "SRT-Listener"}],
            },
            {
                "name": "SrtC",
                "region": B_REGION,
                "input": {
                    "name": "SrtCIn",
                    "protocol": "Flow",
                    "pair_flow": "SrtA",
                    "pair_output": "SrtAOut",
                },
                "outputs": [{"name": "SrtCOut", "protocol": "SRT-Listener"}],
            },
        ]
    }
    procs: list[Any] = []
    with EmulatorThread(topology) as emu:
        ids = emu.run(lambda: {f.name: f.id for f in emu.em.manager.flows})
        a_in = emu.run(lambda: emu.em.manager.get_flow(ids["SrtA"]).inputs[0].url)
        a_out = emu.run(lambda: emu.em.manager.get_flow(ids["SrtA"]).outputs["SrtAOut"].url)
        stream = EventStream(emu.endpoint, f"flow_id={ids['SrtA']}")
        everything = EventStream(emu.endpoint)
        try:
            for name in ("SrtB", "SrtC", "SrtA"):
                set_status(emu, ids[name], "online")
            procs.append(publisher(ffmpeg_exe, f"{a_in}?passphrase={passphrase}&pbkeylen=16", 120))
            connected = emu.wait_for("input.connected", flow_id=ids["SrtA"], timeout=WAIT_S)
            emu.wait_for("output.connected", flow_id=ids["SrtA"], output_name="SrtAToB", timeout=WAIT_S)
            leg = emu.wait_for("input.connected", flow_id=ids["SrtC"], timeout=WAIT_S)
            player = Receiver(ffmpeg_exe, a_out)
            procs.append(player.proc)
            joined = emu.wait_for("output.player_joined", flow_id=ids["SrtA"], timeout=WAIT_S)
            player.stop()
            left = emu.wait_for("output.player_left", flow_id=ids["SrtA"], timeout=WAIT_S)
            for name in ("SrtA", "SrtC", "SrtB"):
                set_status(emu, ids[name], "offline")
            stream.wait("flow.status", status="offline", timeout=WAIT_S)
            everything.wait("flow.status", flow_id=ids["SrtB"], status="offline", timeout=WAIT_S)
        finally:
            for proc in procs:
                kill(proc)
            stream.close()
            everything.close()
        secrets = secrets_of(emu)

    assert connected["input_name"] == "SrtAIn" and connected["protocol"] == "SRT-Listener", connected
    assert connected["peer"] and connected["peer"].startswith("127.0.0.1:"), connected
    assert leg["input_name"] == "SrtCIn" and leg["backbone"] is True, leg
    assert joined["output_name"] == "SrtAOut" and joined["peer"].startswith("127.0.0.1:"), joined
    assert left["peer"] == joined["peer"], (joined, left)
    a_types = [brief(e) for e in stream.events]
    # C's backbone leg plays SrtAOut too, but only the real player is a player.
    assert a_types.count(("output.player_joined", "SrtAOut")) == 1, a_types
    assert a_types.count(("output.player_left", "SrtAOut")) == 1, a_types
    order = [
        ("flow.status", "online"),
        ("input.connected", "SrtAIn"),
        ("output.connected", "SrtAToB"),
        ("output.player_joined", "SrtAOut"),
        ("output.player_left", "SrtAOut"),
        ("flow.status", "offline"),
    ]
    positions = [a_types.index(item) for item in order]
    assert positions == sorted(positions), a_types
    assert {e["flow_id"] for e in stream.events} == {ids["SrtA"]}
    # The unfiltered stream saw every flow, B's input fed across the backbone among them.
    assert {e.get("flow") for e in everything.events} >= {"SrtA", "SrtB", "SrtC"}
    assert ("input.connected", "SrtBIn") in [brief(e) for e in everything.events]
    assert secrets and not any(s in line for s in secrets for line in everything.raw)
