"""The event stream's own promises, over real HTTP: filters, replay with ``after`` / Last-Event-ID, the
keepalive comment, a slow reader's ``events.dropped``, 400 for an unknown type, signatures when the
emulator has access keys, and ``link.changed`` / ``lastmile.changed`` from the admin API. No media."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web
from events_kit import EventStream, admin_call

from emulator.api.admin import add_event_routes
from emulator.events import EventBus
from emulator.testing import EmulatorThread

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"


async def serve(bus: EventBus, keepalive_s: float) -> tuple[web.AppRunner, str]:
    app = web.Application()
    add_event_routes(app, bus, keepalive_s=keepalive_s)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def read_blocks(resp: aiohttp.ClientResponse, count: int) -> list[str]:
    """The next ``count`` SSE blocks (text up to a blank line), within 15 s."""
    blocks: list[str] = []
    buf = ""
    async with asyncio.timeout(15.0):
        while len(blocks) < count:
            chunk = await resp.content.readany()
            assert chunk, "the stream ended"
            buf += chunk.decode()
            while "\n\n" in buf and len(blocks) < count:
                block, buf = buf.split("\n\n", 1)
                blocks.append(block)
    return blocks


def data_of(block: str) -> dict[str, Any]:
    line = next(x for x in block.splitlines() if x.startswith("data: "))
    doc: dict[str, Any] = json.loads(line[6:])
    return doc


async def test_filters_replay_keepalive_and_unknown_types() -> None:
    bus = EventBus()
    runner, base = await serve(bus, keepalive_s=0.3)
    try:
        bus.emit("flow.status", flow_id="f1", status="online")
        bus.emit("input.connected", flow_id="f2", input_name="In")
        async with aiohttp.ClientSession() as http:
            # Replay from the start, only flow f1, then live events of f1 only.
            async with http.get(f"{base}/_emulator/events", params={"flow_id": "f1", "after": "0"}) as resp:
                assert resp.status == 200 and resp.content_type == "text/event-stream"
                opening, replayed = await read_blocks(resp, 2)
                assert opening == ": mcemu events, last id 2"
                assert replayed.startswith("id: 1\n") and data_of(replayed)["status"] == "online"
                bus.emit("input.connected", flow_id="f2", input_name="Other")
                bus.emit("input.connected", flow_id="f1", input_name="Mine")
                (live,) = await read_blocks(resp, 1)
                assert data_of(live)["input_name"] == "Mine" and live.startswith("id: 4\n"), live
                (quiet,) = await read_blocks(resp, 1)  # nothing for 0.3 s: a keepalive comment
                assert quiet == ": keepalive"
            # Type filter (comma-separated), resuming after id 1 with Last-Event-ID as EventSource does.
            headers = {"Last-Event-ID": "1"}
            query = {"type": "input.connected,flow.status"}
            async with http.get(f"{base}/_emulator/events", params=query, headers=headers) as resp:
                blocks = await read_blocks(resp, 4)
                assert [data_of(b)["id"] for b in blocks[1:]] == [2, 3, 4]
            async with http.get(f"{base}/_emulator/events", params={"type": "flow.bogus"}) as resp:
                assert resp.status == 400
                assert "unknown event type(s) flow.bogus" in (await resp.json())["error"]
            async with http.get(f"{base}/_emulator/events", params={"after": "x"}) as resp:
                assert resp.status == 400
    finally:
        await runner.cleanup()
    assert bus.subscribers == 0  # every stream unsubscribed when it ended


async def test_a_reader_that_does_not_read_loses_events_never_the_emitter() -> None:
    bus = EventBus()
    runner, base = await serve(bus, keepalive_s=60)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/_emulator/events") as resp:
            await read_blocks(resp, 1)
            # 5000 events in one go, with no await between them: the stream's task cannot run, its
            # queue (1000) overflows; emit() never waits.
            for n in range(5000):
                bus.emit("link.changed", n=n)
            blocks = await read_blocks(resp, 1001)
            events = [data_of(b) for b in blocks]
            assert [e["n"] for e in events[:1000]] == list(range(1000))
            assert events[1000] == {"type": "events.dropped", "dropped": 4000}
            assert "id:" not in blocks[1000]
            bus.emit("link.changed", n=-1)  # the stream goes on
            (after,) = await read_blocks(resp, 1)
            assert data_of(after)["n"] == -1 and data_of(after)["id"] == 5001
    finally:
        await runner.cleanup()


def test_signed_with_access_keys_and_admin_changes_are_events() -> None:
    key = ("AKEVENTS", "events-secret")
    with EmulatorThread(
        {
            "access_keys": {key[0]: key[1]},
            "flows": [
                {
                    "name": "LmFlow",
                    "region": A_REGION,
                    "input": {"name": "LmIn", "protocol": "RTMP-PUSH"},
                    "outputs": [{"name": "LmOut", "protocol": "RTMP-PULL"}],
                }
            ],
        }
    ) as emu:
        unsigned = EventStream(emu.endpoint)
        assert unsigned.status in (400, 401, 403) and "Signature" in unsigned.body, unsigned.body
        unsigned.close()
        wrong = EventStream(emu.endpoint, key=(key[0], "not-the-secret"))
        assert wrong.status in (400, 401, 403), wrong.status
        wrong.close()
        stream = EventStream(emu.endpoint, "type=link.changed,lastmile.changed", key=key)
        try:
            assert stream.status == 200
            fid = emu.run(lambda: emu.em.manager.flows[0].id)
            put = admin_call(
                emu.api_url, "PUT", f"/_emulator/links/{A_REGION}/{B_REGION}", {"delay_ms": 123}, key=key
            )
            assert put.status == 200, put.body
            changed = stream.wait("link.changed")
            assert (changed["from"], changed["to"]) == (A_REGION, B_REGION)
            assert changed["impairment"]["delay_ms"] == 123.0
            path = f"/_emulator/lastmile/{fid}/input/LmIn"
            put = admin_call(emu.api_url, "PUT", path, {"to_region": {"delay_ms": 40}}, key=key)
            assert put.status == 200, put.body
            lm = stream.wait("lastmile.changed")
            assert (lm["flow"], lm["role"], lm["name"]) == ("LmFlow", "input", "LmIn"), lm
            assert lm["to_region"]["delay_ms"] == 40.0 and lm["from_region"] is None, lm
            assert admin_call(emu.api_url, "DELETE", path, key=key).status == 200
            cleared = emu.wait_for("lastmile.changed", after=lm["id"], timeout=15)
            assert cleared["to_region"] is None, cleared
        finally:
            stream.close()
        assert stream.types()[:2] == ["link.changed", "lastmile.changed"], stream.events
