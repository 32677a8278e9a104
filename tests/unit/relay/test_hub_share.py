"""Hub.share_from: a hub fed copies of what another hub caches passes on that hub's units (one copy of
the bytes in both GOP caches), and only units whose bytes are the same."""

from __future__ import annotations

from mediaplane.relay import Hub, HubUnit, UnitKind
from mediaplane.rtmp import MediaKind, MediaMessage, MessageType
from tests.kit.hubs import gop_of


def unit(kind: UnitKind, ts: int, data: bytes = b"x" * 100) -> HubUnit:
    return HubUnit(kind=kind, timestamp_ms=ts, size=len(data), payload=data)


def same_bytes(a: HubUnit, b: HubUnit) -> bool:
    return bool(a.payload == b.payload)


def pair(source: Hub | None) -> tuple[Hub, Hub]:
    src = source or Hub("a/flow")
    copy = Hub("b/input")
    copy.share_from(lambda: src, same_bytes)
    src.claim(object())
    copy.claim(object())
    return src, copy


def feed_both(src: Hub, copy: Hub, units: list[HubUnit]) -> list[HubUnit]:
    """Feed ``units`` to ``src`` and a byte copy of each (what crossed the backbone) to ``copy``."""
    for u in units:
        src.feed(u)
    copies = [unit(u.kind, u.timestamp_ms, bytes(bytearray(u.payload))) for u in units]
    for u in copies:
        copy.feed(u)
    return copies


def test_copies_are_replaced_by_the_source_units() -> None:
    src, copy = pair(None)
    units = [unit(UnitKind.KEYFRAME, 0), unit(UnitKind.FRAME, 40), unit(UnitKind.FRAME, 80)]
    sub = copy.subscribe("player")
    feed_both(src, copy, units)
    got = [sub.get_nowait() for _ in units]
    assert all(g is u for g, u in zip(got, units, strict=True))
    assert all(c is u for c, u in zip(gop_of(copy), units, strict=True))
    assert copy.units_shared == 3


def test_different_bytes_are_kept_as_fed() -> None:
    src, copy = pair(None)
    src.feed(unit(UnitKind.KEYFRAME, 0, b"a" * 100))
    other = unit(UnitKind.KEYFRAME, 0, b"b" * 100)
    copy.feed(other)
    assert gop_of(copy) == [other]
    assert copy.units_shared == 0


def test_tail_of_the_previous_gop_is_kept_then_the_new_gop_is_shared() -> None:
    """The copy trails its source: units of the GOP the source has already left are not in its cache
    any more, so they stay copies; the next keyframe is shared again."""
    src, copy = pair(None)
    feed_both(src, copy, [unit(UnitKind.KEYFRAME, 0), unit(UnitKind.FRAME, 40)])
    late = unit(UnitKind.FRAME, 80)
    src.feed(late)
    key = unit(UnitKind.KEYFRAME, 120)
    src.feed(key)  # the source restarts its cache before the copy of FRAME@80 arrives
    tail = unit(UnitKind.FRAME, 80, bytes(bytearray(late.payload)))
    copy.feed(tail)
    assert gop_of(copy)[-1] is tail
    copy.feed(unit(UnitKind.KEYFRAME, 120, bytes(bytearray(key.payload))))
    assert gop_of(copy) == [key]
    assert gop_of(copy)[0] is key


def test_configs_and_absent_or_uncached_sources_are_not_shared() -> None:
    copy = Hub("b/input")
    copy.share_from(lambda: None, same_bytes)
    copy.claim(object())
    mine = unit(UnitKind.KEYFRAME, 0)
    copy.feed(mine)
    assert gop_of(copy) == [mine]
    srt = Hub("srt", cache_gop=False)
    srt.claim(object())
    srt.feed(unit(UnitKind.KEYFRAME, 0))
    copy.share_from(lambda: srt, same_bytes)
    again = unit(UnitKind.KEYFRAME, 40)
    copy.feed(again)
    assert gop_of(copy) == [again]
    src, other = pair(None)
    cfg = unit(UnitKind.VIDEO_CONFIG, 0)
    src.feed(cfg)
    other.feed(unit(UnitKind.VIDEO_CONFIG, 0))
    assert other.config_units()[0] is not cfg
    other.share_from(None)
    feed_both(src, other, [unit(UnitKind.KEYFRAME, 40)])
    assert other.units_shared == 0


def test_caches_stay_bounded_and_hold_no_more_of_the_source() -> None:
    src = Hub("a/flow", max_cache_bytes=250)
    src, copy = pair(src)
    copy.max_cache_bytes = 250
    feed_both(src, copy, [unit(UnitKind.KEYFRAME, 0), unit(UnitKind.FRAME, 40), unit(UnitKind.FRAME, 80)])
    assert gop_of(src) == [] and gop_of(copy) == []  # 300 bytes > 250: both caches let go
    key = unit(UnitKind.KEYFRAME, 120)
    feed_both(src, copy, [key])
    assert gop_of(copy) == [key]
    src.close()
    assert gop_of(copy) == [key]  # the copy keeps what it passed on; the closed source keeps nothing
    assert src.config_units() == []


def test_a_sharing_hub_still_starts_late_joiners_at_a_keyframe() -> None:
    src, copy = pair(None)
    feed_both(src, copy, [unit(UnitKind.FRAME, 0), unit(UnitKind.KEYFRAME, 40), unit(UnitKind.FRAME, 80)])
    late = copy.subscribe("late")
    first = late.get_nowait()
    assert isinstance(first, HubUnit) and first.kind is UnitKind.KEYFRAME and first.timestamp_ms == 40


def test_same_media_compares_rtmp_messages_once_chunked() -> None:
    from emulator.runtime.live import same_media

    def msg(data: bytes) -> HubUnit:
        m = MediaMessage(type_id=MessageType.VIDEO, timestamp=40, payload=data, kind=MediaKind.FRAME)
        return HubUnit(kind=UnitKind.FRAME, timestamp_ms=40, size=m.size, payload=m)

    data = bytes(range(256)) * 40
    cached = msg(data)
    cached.payload.chunked(128, 1)  # what a player did to it: only the chunked bytes remain
    assert same_media(cached, msg(bytes(bytearray(data))))
    assert not same_media(cached, msg(data[:-1] + b"!"))
    assert not same_media(cached, unit(UnitKind.FRAME, 40, data))
