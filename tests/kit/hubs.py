"""What a hub's GOP cache holds, read the way a late joiner gets it."""

from __future__ import annotations

from mediaplane.relay import Hub, HubUnit, UnitKind


def gop_of(hub: Hub) -> list[HubUnit]:
    """What a late joiner gets of the GOP cache (configs left out)."""
    sub = hub.subscribe("probe")
    got = []
    while (item := sub.get_nowait()) is not None:
        if isinstance(item, HubUnit) and item.kind in (UnitKind.KEYFRAME, UnitKind.FRAME):
            got.append(item)
    sub.close()
    return got
