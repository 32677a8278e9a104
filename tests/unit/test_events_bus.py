"""The event bus core (emulator.events): numbering, bounded history and queues, matching, wait_for."""

from __future__ import annotations

import asyncio

import pytest

from emulator.events import EventBus, wait_for


def test_events_are_numbered_stamped_and_kept_within_the_bound() -> None:
    bus = EventBus(clock=lambda: 12.5, history=3)
    for n in range(5):
        bus.emit("link.changed", n=n)
    assert bus.last_id == 5
    assert [e["id"] for e in bus.history()] == [3, 4, 5]
    assert bus.history(after=4) == [{"id": 5, "type": "link.changed", "time": 12.5, "n": 4}]


def test_a_full_subscriber_counts_what_it_lost_and_a_failing_one_is_dropped() -> None:
    bus = EventBus()
    sub = bus.subscribe(types=["flow.status"], match={"flow_id": "f"}, max_queue=2)
    for n in range(4):
        bus.emit("flow.status", flow_id="f", n=n)
    bus.emit("flow.status", flow_id="other")
    bus.emit("input.connected", flow_id="f")
    assert [e["n"] for e in sub.take()] == [0, 1] and sub.dropped == 2

    def broken() -> None:
        raise RuntimeError("reader bug")

    bus.subscribe(wakeup=broken)
    bus.emit("flow.status", flow_id="f")  # does not raise
    assert bus.subscribers == 1


async def test_wait_for_sees_the_past_unless_told_after_and_times_out_with_a_reason() -> None:
    bus = EventBus()
    first = bus.emit("input.connected", flow_id="f", input_name="In")
    assert await wait_for(bus, "input.connected", flow_id="f", timeout=1) == first
    mark = bus.last_id
    later = asyncio.get_running_loop().call_later(0.05, lambda: bus.emit("input.connected", flow_id="f"))
    second = await wait_for(bus, "input.connected", flow_id="f", after=mark, timeout=5)
    assert second["id"] == first["id"] + 1
    later.cancel()
    with pytest.raises(TimeoutError, match=r"no input.connected event matching \{'flow_id': 'g'\}"):
        await wait_for(bus, "input.connected", flow_id="g", timeout=0.05)
    assert bus.subscribers == 0
