"""Run the suite on several pytest-xdist workers, and the timing-judged tests alone at the end.

Most tests wait on real time (ffmpeg at ``-re``, TSBPD, input gaps), so several run well side by
side on two cores. A few judge timing under a load they make themselves: the attack tests compare a
relay's frame rate and the health check's latency before and during an attack, and the long relays
check that nothing is lost at 8 Mbit/s. Beside other tests they would measure their neighbours.
Those are listed in :data:`SERIAL`, by node id prefix; under xdist they are held back until every
other test has finished and every other worker has exited, then run one after another on one worker.
Without xdist (``-n 0``, or xdist absent) the order is pytest's own and nothing here is used.

The scheduler is xdist's ``load`` scheduler with three changes: serial tests are never handed out
during the parallel phase; the other tests are handed out one or two at a time, the slow folders
(:data:`EARLY`) first, so that no worker is left at the end with a queue of ten-second tests while
the rest have exited (``load`` hands out runs of consecutive tests; a run of e2e tests on one
worker once kept the suite waiting 70 s); and the phase switch waits for the other workers to finish
the one test each worker holds back (an xdist worker runs a test only once it has the next one, or
is told to shut down).
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScheduling

SERIAL: tuple[str, ...] = (
    "tests/e2e/attacks/",
    "tests/integration/srt/test_srt_relay.py::test_relay_8mbps_30s_loses_nothing",
)
"""Node id prefixes of the tests that run alone, after all the others."""


EARLY: tuple[str, ...] = ("tests/e2e/", "tests/browser/", "tests/integration/")
"""Node id prefixes of the folders whose tests take seconds each (real peers, real time): handed out
before the unit and fuzz tests, which take milliseconds and fill in the end."""


def is_serial(nodeid: str) -> bool:
    return nodeid.startswith(SERIAL)


class SerialLastScheduling(LoadScheduling):  # type: ignore[misc]
    """xdist's load scheduling for every test not in :data:`SERIAL`; those last, alone, on one worker."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self._serial: set[int] = set()
        self._serial_node: Any = None
        self._dispatched = False

    # -- what is left

    def _parallel_left(self) -> bool:
        return any(i not in self._serial for i in self.pending)

    def _serial_waiting(self) -> bool:
        return bool(self._serial) and not self._dispatched

    # -- xdist's interface

    def schedule(self) -> None:
        if self.collection is None and self._check_nodes_have_same_collection():
            collection = next(iter(self.node2collection.values()))
            self._serial = {i for i, nodeid in enumerate(collection) if is_serial(nodeid)}
            # One or two tests at a time, so the end of the parallel phase is even across workers.
            self.maxschedchunk = 1
        super().schedule()
        if self.collection is not None:
            early = [i for i in self.pending if self.collection[i].startswith(EARLY)]
            taken = set(early)
            self.pending[:] = early + [i for i in self.pending if i not in taken]
        # Nothing but serial tests collected: no test will complete to start the serial phase.
        if self.nodes and not self._parallel_left() and self._serial_waiting():
            self.check_schedule(self.nodes[0])

    def _send_tests(self, node: Any, num: int) -> None:
        if not self._serial_waiting():
            super()._send_tests(node, num)
            return
        picked = [i for i in self.pending if i not in self._serial][:num]
        if picked:
            taken = set(picked)
            self.pending[:] = [i for i in self.pending if i not in taken]
            self.node2pending[node].extend(picked)
            node.send_runtest_some(picked)

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        if node.shutting_down:
            return
        if self._parallel_left() or not self._serial_waiting():
            super().check_schedule(node, duration)
            return
        # Parallel phase over: keep this worker, let every other one finish its held test and exit.
        if self._serial_node is None:
            self._serial_node = node
            for other in self.nodes:
                if other is not node and not other.shutting_down:
                    other.shutdown()
        self._dispatch_serial()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        super().mark_test_complete(node, item_index, duration)
        self._dispatch_serial()

    def remove_node(self, node: Any) -> str | None:
        crashed: str | None = super().remove_node(node)
        if node is self._serial_node and self._serial_waiting():
            self._serial_node = None
            live = [n for n in self.nodes if not n.shutting_down]
            if live:
                self.check_schedule(live[0])
        else:
            self._dispatch_serial()
        return crashed

    def _dispatch_serial(self) -> None:
        node = self._serial_node
        if node is None or not self._serial_waiting() or node not in self.node2pending:
            return
        if any(pending for other, pending in self.node2pending.items() if other is not node):
            return  # another worker is still running its last test
        indices = sorted(self._serial)
        self.pending[:] = [i for i in self.pending if i not in self._serial]
        self.node2pending[node].extend(indices)
        node.send_runtest_some(indices)
        self._dispatched = True
        node.shutdown()
