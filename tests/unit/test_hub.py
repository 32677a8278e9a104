"""The stream hub: late-joiner cache, bounded subscriber queues, publisher presence, forbid."""

from __future__ import annotations

import pytest

from mediaplane.relay import Hub, HubClosed, HubSignal, HubUnit, PublisherBusy, UnitKind


def unit(kind: UnitKind, ts: int, size: int = 100, tag: str = "") -> HubUnit:
    return HubUnit(kind=kind, timestamp_ms=ts, size=size, payload=tag or f"{kind.name}@{ts}")


def drain(sub) -> list:  # type: ignore[no-untyped-def]
    out = []
    while (item := sub.get_nowait()) is not None:
        out.append(item.payload if isinstance(item, HubUnit) else item)
    return out


def test_late_joiner_gets_configs_then_gop_since_last_keyframe() -> None:
    hub = Hub("live/a")
    pub = object()
    hub.claim(pub)
    for u in [
        unit(UnitKind.METADATA, 0),
        unit(UnitKind.VIDEO_CONFIG, 0),
        unit(UnitKind.AUDIO_CONFIG, 0),
        unit(UnitKind.KEYFRAME, 0),
        unit(UnitKind.FRAME, 40),
        unit(UnitKind.KEYFRAME, 80),
        unit(UnitKind.FRAME, 120),
        unit(UnitKind.DATA, 125),
    ]:
        hub.feed(u)
    sub = hub.subscribe("late")
    assert drain(sub) == ["METADATA@0", "VIDEO_CONFIG@0", "AUDIO_CONFIG@0", "KEYFRAME@80", "FRAME@120"]


def test_first_subscriber_before_any_keyframe_waits_for_one() -> None:
    hub = Hub("live/a")
    hub.claim(object())
    sub = hub.subscribe("early")
    hub.feed(unit(UnitKind.FRAME, 0))
    hub.feed(unit(UnitKind.KEYFRAME, 40))
    hub.feed(unit(UnitKind.FRAME, 80))
    assert drain(sub) == ["KEYFRAME@40", "FRAME@80"]


def test_cache_over_cap_is_dropped_until_next_keyframe() -> None:
    hub = Hub("live/a", max_cache_bytes=250)
    hub.claim(object())
    hub.feed(unit(UnitKind.KEYFRAME, 0))
    hub.feed(unit(UnitKind.FRAME, 40))
    hub.feed(unit(UnitKind.FRAME, 80))  # 300 bytes > 250: cache invalid
    assert drain(hub.subscribe("a")) == []
    hub.feed(unit(UnitKind.KEYFRAME, 120))
    assert drain(hub.subscribe("b")) == ["KEYFRAME@120"]


def test_slow_subscriber_skips_to_next_keyframe_with_bounded_queue() -> None:
    hub = Hub("live/a")
    hub.claim(object())
    hub.feed(unit(UnitKind.VIDEO_CONFIG, 0, size=10))
    hub.feed(unit(UnitKind.KEYFRAME, 0))
    sub = hub.subscribe("slow", max_queue_bytes=350)
    for ts in range(40, 400, 40):
        hub.feed(unit(UnitKind.FRAME, ts))
        assert sub.queued_bytes <= 350 + 10
    hub.feed(unit(UnitKind.KEYFRAME, 400))
    hub.feed(unit(UnitKind.FRAME, 440))
    got = drain(sub)
    assert got[-3:] == ["VIDEO_CONFIG@0", "KEYFRAME@400", "FRAME@440"]
    assert sub.skips >= 1 and sub.units_dropped > 0


def test_second_publisher_is_refused_and_returning_publisher_resumes() -> None:
    hub = Hub("live/a")
    first, second = object(), object()
    hub.claim(first)
    with pytest.raises(PublisherBusy):
        hub.claim(second)
    sub = hub.subscribe("p")
    hub.release(first)
    hub.claim(second)
    hub.feed(unit(UnitKind.FRAME, 0))  # a new publisher's stream resumes at its first keyframe
    hub.feed(unit(UnitKind.KEYFRAME, 40))
    assert drain(sub) == [HubSignal.UNPUBLISHED, HubSignal.PUBLISHED, "KEYFRAME@40"]


def test_forbid_stops_delivery_and_resume_restarts_at_keyframe() -> None:
    hub = Hub("live/a")
    hub.claim(object())
    hub.feed(unit(UnitKind.KEYFRAME, 0))
    sub = hub.subscribe("p")
    drain(sub)
    sub.forbidden = True
    hub.feed(unit(UnitKind.FRAME, 40))
    assert drain(sub) == []
    sub.forbidden = False
    hub.feed(unit(UnitKind.FRAME, 80))
    hub.feed(unit(UnitKind.KEYFRAME, 120))
    assert drain(sub) == ["KEYFRAME@120"]


def test_no_gop_cache_hub_forwards_everything_live() -> None:
    hub = Hub("srt", cache_gop=False)
    hub.claim(object())
    hub.feed(unit(UnitKind.FRAME, 0))
    sub = hub.subscribe("p")
    hub.feed(unit(UnitKind.FRAME, 1))
    assert drain(sub) == ["FRAME@1"]
    assert hub.counters.units_in == 2 and hub.counters.units_out == 1


async def test_close_wakes_subscribers_and_refuses_new_ones() -> None:
    hub = Hub("live/a")
    sub = hub.subscribe("p")
    hub.close()
    assert await sub.get() is HubSignal.CLOSED
    with pytest.raises(HubClosed):
        hub.subscribe("q")
    with pytest.raises(HubClosed):
        hub.claim(object())
