"""The fuzz harness itself: an input that makes a core allocate for a number on the wire, loop on one,
or raise a foreign exception fails; the target's own protocol errors do not."""

from __future__ import annotations

import pytest

from fuzz.harness import AllocationBudgetExceeded, FuzzTarget, WorkBudgetExceeded, run_one
from mediaplane.rtmp.errors import ParseError


def _allocates_declared_length(data: bytes) -> None:
    declared = int.from_bytes(data[:4], "big")
    bytearray(declared)  # what a core must never do: allocate what the peer announced


def _loops_on_declared_count(data: bytes) -> None:
    count = int.from_bytes(data[:4], "big")
    total = 0
    for i in range(count):
        total += i


def _raises(data: bytes) -> None:
    if data[:1] == b"p":
        raise ParseError("truncated AMF0 value")
    raise OverflowError("int too large to convert to float")


def test_a_declared_length_that_is_allocated_fails() -> None:
    target = FuzzTarget(name="alloc", run=_allocates_declared_length)
    run_one(target, (1024).to_bytes(4, "big"))
    with pytest.raises(AllocationBudgetExceeded):
        run_one(target, (64 * 1024 * 1024).to_bytes(4, "big"))


def test_a_loop_driven_by_the_wire_fails() -> None:
    target = FuzzTarget(name="loop", run=_loops_on_declared_count)
    run_one(target, (1000).to_bytes(4, "big"))
    with pytest.raises(WorkBudgetExceeded):
        run_one(target, (2**62).to_bytes(8, "big"), watchdog_s=0.5)


def test_only_the_targets_own_errors_are_tolerated() -> None:
    target = FuzzTarget(name="raise", run=_raises, allowed=(ParseError,))
    run_one(target, b"p")
    with pytest.raises(OverflowError):
        run_one(target, b"x")
