"""The delivery queue the link relays share: in-order times stay in a FIFO, the rest go through a heap."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from mediaplane.netem import Impairment, UdpModel
from mediaplane.netem.schedule import DeliveryQueue


def fed(model: UdpModel, count: int, gap_s: float) -> DeliveryQueue[tuple[float, int]]:
    """A queue holding the send times ``model`` gives ``count`` datagrams arriving ``gap_s`` apart."""
    queue: DeliveryQueue[tuple[float, int]] = DeliveryQueue()
    for n in range(count):
        for t in model.decide(1316, n * gap_s):
            queue.push((t, n))
    return queue


def drain(queue: DeliveryQueue[tuple[float, int]]) -> list[tuple[float, int]]:
    out = queue.pop_due(float("inf"))
    assert not queue and len(queue) == 0 and queue.next_due() == float("inf")
    return out


def test_constant_delay_never_touches_the_heap() -> None:
    imp = Impairment(delay_ms=80.0, rate_kbps=20_000.0, loss_pct=5.0, duplicate_pct=2.0)
    queue = fed(UdpModel(imp, rng=random.Random(1)), 2000, 0.0002)
    assert queue.reordered == 0
    out = drain(queue)
    assert [t for t, _ in out] == sorted(t for t, _ in out)
    assert [n for _, n in out] == sorted(n for _, n in out)  # arrival order kept, duplicates included


def test_jitter_and_reordering_go_through_the_heap_and_leave_in_time_order() -> None:
    for imp in (
        Impairment(delay_ms=80.0, jitter_ms=5.0, jitter_distribution="normal"),
        Impairment(delay_ms=80.0, reorder_pct=10.0),
    ):
        queue = fed(UdpModel(imp, rng=random.Random(2)), 2000, 0.0002)
        assert queue.reordered > 0
        times = [t for t, _ in drain(queue)]
        assert times == sorted(times) and len(times) == 2000


def test_pop_due_stops_at_the_limit_and_next_due_is_the_earliest() -> None:
    queue: DeliveryQueue[tuple[float, str]] = DeliveryQueue()
    for t, name in ((1.0, "a"), (2.0, "b"), (1.5, "c"), (3.0, "d"), (0.5, "e")):
        queue.push((t, name))
    assert queue.next_due() == 0.5 and len(queue) == 5
    assert queue.pop_due(0.4) == []
    assert queue.pop_due(1.5) == [(0.5, "e"), (1.0, "a"), (1.5, "c")]
    assert queue.next_due() == 2.0
    queue.push((2.0, "f"))  # equal to the FIFO's tail: stays in the FIFO, after b
    assert queue.pop_due(2.0) == [(2.0, "b"), (2.0, "f")]
    queue.clear()
    assert not queue and queue.next_due() == float("inf")


@given(
    st.lists(st.floats(min_value=0.0, max_value=10.0, allow_nan=False), max_size=200),
    st.lists(st.floats(min_value=0.0, max_value=11.0, allow_nan=False), max_size=10),
)
def test_any_push_order_pops_sorted_and_only_what_is_due(times: list[float], limits: list[float]) -> None:
    queue: DeliveryQueue[tuple[float, int]] = DeliveryQueue()
    for n, t in enumerate(times):
        queue.push((t, n))
    out: list[tuple[float, int]] = []
    for limit in sorted(limits):
        due = queue.pop_due(limit)
        assert all(t <= limit for t, _ in due)
        assert queue.next_due() > limit
        out += due
    out += queue.pop_due(float("inf"))
    assert sorted(out) == sorted((t, n) for n, t in enumerate(times))
    assert [t for t, _ in out] == sorted(times)
