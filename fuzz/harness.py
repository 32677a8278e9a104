"""What every fuzz run enforces, under hypothesis and under atheris alike.

:func:`run_one` feeds one input to one target and turns the three ways a core can misbehave into
failures:

* an exception that is not one of the target's own protocol errors escapes (the exception itself);
* the traced Python allocations peak above the target's budget (:class:`AllocationBudgetExceeded`),
  so a core that allocates for a length or count it read off the wire fails even when the machine
  has the memory;
* the input keeps the core busy past a generous watchdog (:class:`WorkBudgetExceeded`), so a loop
  driven by a number on the wire fails instead of hanging the suite. The watchdog is a hang guard
  of many seconds for inputs that take milliseconds, not a speed assertion.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "MAX_INPUT_BYTES",
    "WATCHDOG_S",
    "AllocationBudgetExceeded",
    "FuzzTarget",
    "WorkBudgetExceeded",
    "allocation_budget",
    "guarded",
    "run_one",
]

MAX_INPUT_BYTES = 64 * 1024
"""Largest input a target is fed; longer inputs are cut (libFuzzer gets ``-max_len`` to match)."""
DEFAULT_BUDGET_BYTES = 8 * 1024 * 1024
"""Peak traced allocation allowed while a core digests one input of up to :data:`MAX_INPUT_BYTES`."""
WATCHDOG_S = 20.0
"""Hang guard per input, seconds (inputs normally take a few milliseconds)."""


class AllocationBudgetExceeded(AssertionError):
    """The core allocated more than its budget for one input."""


class WorkBudgetExceeded(AssertionError):
    """The core was still busy with one input when the watchdog fired."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzTarget:
    """One fuzz target: a function of the raw input, the errors it may raise, and its seed corpus."""

    name: str
    run: Callable[[bytes], None]
    """Feeds the input to the core and checks the core's own invariants (raises AssertionError)."""
    allowed: tuple[type[BaseException], ...] = ()
    """The package's own protocol errors; anything else escaping is a bug."""
    seeds: Callable[[], list[bytes]] = field(default=lambda: [])
    """Seed inputs (captures under ``fixtures/`` and small synthetic ones)."""
    budget_bytes: int = DEFAULT_BUDGET_BYTES


@contextlib.contextmanager
def allocation_budget(budget_bytes: int) -> Iterator[None]:
    """Fail with :class:`AllocationBudgetExceeded` when traced allocations inside the block peak more
    than ``budget_bytes`` above what was allocated on entry. Starts tracemalloc if needed and stops
    it again (the atheris runner keeps it running for speed)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        yield
        peak = tracemalloc.get_traced_memory()[1] - base
        if peak > budget_bytes:
            raise AllocationBudgetExceeded(f"peak allocation {peak} bytes over a budget of {budget_bytes}")
    finally:
        if started:
            tracemalloc.stop()


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise WorkBudgetExceeded(f"still busy after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def guarded(
    run: Callable[[Any], None],
    value: Any,
    *,
    allowed: tuple[type[BaseException], ...] = (),
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
    watchdog_s: float = WATCHDOG_S,
) -> None:
    """``run(value)`` under the allocation budget and the watchdog; ``allowed`` errors are swallowed,
    everything else propagates. ``watchdog_s=0`` disables the hang guard (libFuzzer's ``-timeout``
    owns SIGALRM under atheris)."""
    with _watchdog(watchdog_s), allocation_budget(budget_bytes), contextlib.suppress(*allowed):
        run(value)


def run_one(target: FuzzTarget, data: bytes, *, watchdog_s: float = WATCHDOG_S) -> None:
    """Feed ``data`` (cut to :data:`MAX_INPUT_BYTES`) to ``target`` under its budgets."""
    guarded(
        target.run,
        data[:MAX_INPUT_BYTES],
        allowed=target.allowed,
        budget_bytes=target.budget_bytes,
        watchdog_s=watchdog_s,
    )
