"""Running an emulator beside synchronous code (tests, scripts, notebooks), and the pytest plugin.

:class:`EmulatorThread` runs an :class:`~emulator.app.Emulator` on its own event loop in a daemon thread,
so blocking code (the official SDK, subprocesses) can drive it::

    with EmulatorThread() as emu:                 # every port 0: runs beside anything else
        client = emu.sdk_client()                 # the official SDK, pointed at it
        ...

The pytest plugin (:mod:`emulator.pytest_plugin`, installed with the package as a ``pytest11`` entry
point) gives these fixtures:

* ``mcemu``: a fresh :class:`EmulatorThread` per test, with the default regions on their own loopback
  addresses and every port 0; reset and stopped after the test;
* ``mcemu_factory``: call it with a topology dict (or :class:`~emulator.topology.Topology`) for more
  control; every emulator it made is stopped after the test;
* ``mcemu_sdk``: an official SDK client (``alibabacloud_ice20201109``) for ``mcemu``.

Media helpers, safe beside an emulator in the same process (the encoder, the decoder and FFmpeg's RTMP
client run in child processes, and the rest on a private event loop in a thread of their own, so the
emulator's loop is never blocked):

* :meth:`EmulatorThread.url` (``emu.url("ap-southeast-1/FlowA", "FlowAInput")``): the URL of an input or
  output, the flow given by FlowId, ``region/name`` or a name only one region has;
* :func:`push_signal` (``push_signal(url, seconds)``): publish the numbered test signal and return its
  :class:`~mediaplane.media.SignalReport` (raises :class:`MediaError` when nothing could be sent);
* :func:`start_signal`: the same in the background (a context manager; ``.report()`` waits for it), to
  probe while it plays;
* :func:`probe` (``probe(url, seconds)``): read a URL and return the
  :class:`~mediaplane.media.ProbeResult` (frames, losses, delays; ``.error`` says why it ended early).

The same three are methods of :class:`EmulatorThread` (``mcemu.probe(url, 4)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from .app import Emulator
from .topology import Topology, ephemeral_topology

if TYPE_CHECKING:
    from mediaplane.media import ProbeResult, SignalReport

__all__ = [
    "TEST_PORTS",
    "EmulatorThread",
    "MediaError",
    "RunningSignal",
    "probe",
    "push_signal",
    "start_signal",
    "test_topology",
]

T = TypeVar("T")

TEST_PORTS: dict[str, Any] = {"rtmp_port": 0, "srt_port_min": 0, "srt_port_max": 0}
"""Catalogue keys that put every listener of every region on an ephemeral port."""


def test_topology(doc: dict[str, Any] | None = None) -> Topology:
    """A topology from ``doc`` with every port 0 (API included) unless ``doc`` says otherwise."""
    return ephemeral_topology(doc)


test_topology.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name


class MediaError(Exception):
    """A media helper could not do its job at all (nothing sent); the message says why."""


def _in_own_thread(make: Callable[[], Coroutine[Any, Any, T]], name: str) -> Future[T]:
    """Run the coroutine ``make()`` on a fresh event loop in a new daemon thread: never on the
    caller's loop (an async test's) nor the emulator's, so neither waits on it."""
    fut: Future[T] = Future()

    def run() -> None:
        try:
            fut.set_result(asyncio.run(make()))
        except BaseException as exc:  # handed to the caller through the future
            fut.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


def probe(url: str, seconds: float = 5.0, *, timeout_s: float = 10.0) -> ProbeResult:
    """Read ``url`` (``rtmp://`` or ``srt://``) for ``seconds`` and report what arrived (blocking).

    Never raises for stream problems: they are in ``result.error`` (with FFmpeg's reason, e.g. an RTMP
    server's ``no input or output has stream key ...``) and the counters say what did arrive.
    """
    from mediaplane.media import probe as probe_async

    fut = _in_own_thread(lambda: probe_async(url, seconds, timeout_s=timeout_s), "mcemu-probe")
    return fut.result(seconds + timeout_s + 60.0)


class RunningSignal:
    """A test signal publishing in the background (see :func:`start_signal`)."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.seconds = seconds
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._future = _in_own_thread(self._run, "mcemu-signal")

    async def _run(self) -> SignalReport:
        from mediaplane.media import publish

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        task = asyncio.ensure_future(publish(self.url, duration_s=self.seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()  # stops the encoder child cleanly
        stopper.cancel()
        from mediaplane.media import SignalReport

        try:
            return await task
        except asyncio.CancelledError:
            return SignalReport(url=self.url, error="stopped")
        except Exception as exc:  # the SRT caller's: no listener, refused
            return SignalReport(url=self.url, error=f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Stop publishing now (its report then says ``error='stopped'``, counting nothing)."""
        self._ready.wait(30.0)
        if self._loop is not None and self._stop is not None and not self._future.done():
            self._loop.call_soon_threadsafe(self._stop.set)

    def report(self, timeout: float | None = None) -> SignalReport:
        """Wait until the signal is done and return its report. Raises :class:`MediaError` when
        nothing could be sent (a refused publish, no listener), with the reason."""
        report = self._future.result(self.seconds + 60.0 if timeout is None else timeout)
        if report.error and not report.frames_sent and report.error != "stopped":
            raise MediaError(f"signal to {self.url}: {report.error}")
        return report

    def __enter__(self) -> RunningSignal:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # the block failed: no reason to wait for the rest of the signal
            self.stop()
        with contextlib.suppress(Exception):  # report() raises it again for whoever asks
            self._future.result(self.seconds + 60.0)


def start_signal(url: str, seconds: float) -> RunningSignal:
    """Publish the numbered test signal to ``url`` for ``seconds`` in the background::

        with start_signal(push_url, 10) as signal:
            result = probe(play_url, 5)
        assert signal.report().frames_sent > 0

    Leaving the ``with`` block waits until the signal has run its ``seconds`` (so its report is
    complete; call ``.stop()`` to end it early); when the block raises, it stops at once. Errors as
    for :func:`push_signal`.
    """
    return RunningSignal(url, seconds)


def push_signal(url: str, seconds: float) -> SignalReport:
    """Publish the numbered test signal to ``url`` (``rtmp://`` or ``srt://``) for ``seconds`` and
    return what was sent (blocking). Raises :class:`MediaError` when nothing could be sent."""
    return start_signal(url, seconds).report()


class EmulatorThread:
    """An :class:`Emulator` on a private event loop in a daemon thread (see the module docstring)."""

    def __init__(self, topology: Topology | dict[str, Any] | None = None) -> None:
        self.topology = topology if isinstance(topology, Topology) else test_topology(topology)
        self.loop = asyncio.new_event_loop()
        self.emulator: Emulator | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="mcemu", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the thread and the emulator; raises what :meth:`Emulator.start` raises."""
        self._thread.start()

        async def _start() -> Emulator:
            emu = Emulator(self.topology)
            await emu.start()
            return emu

        self.emulator = self.call(_start)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every flow, the API and the loop."""
        if self.emulator is not None and self._thread.is_alive():
            emu = self.emulator
            self.call(emu.close, timeout=timeout)
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if not self.loop.is_running():
            self.loop.close()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float | None = 30.0) -> T:
        """Run ``fn()`` (a coroutine function) on the emulator's loop and return its result."""

        async def _run() -> T:
            return await fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(_run(), self.loop)
        return fut.result(timeout)

    def run(self, fn: Callable[[], T], timeout: float | None = 30.0) -> T:
        """Run the plain function ``fn()`` on the emulator's loop (to read live state safely)."""

        async def _run() -> T:
            return fn()

        return self.call(_run, timeout)

    # -- conveniences -----------------------------------------------------------------------------
    @property
    def em(self) -> Emulator:
        assert self.emulator is not None, "not started"
        return self.emulator

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the ICE API."""
        return self.em.endpoint

    @property
    def api_url(self) -> str:
        return f"http://{self.endpoint}"

    def sdk_client(self, *, v1: bool = False, access_key_id: str = "mcemu", secret: str = "mcemu") -> Any:
        """An official SDK client for this emulator (V3 signing; ``v1=True`` for V1 in the query)."""
        from alibabacloud_ice20201109.client import Client
        from alibabacloud_tea_openapi.models import Config

        config = Config(
            access_key_id=access_key_id,
            access_key_secret=secret,
            region_id="ap-southeast-1",
            endpoint=self.endpoint,
            protocol="http",
        )
        if v1:
            config.signature_algorithm = "v2"
        return Client(config)

    def wait_for(self, type: str, *, timeout: float = 30.0, after: int = 0, **match: Any) -> dict[str, Any]:
        """:meth:`Emulator.wait_for` from this thread: the first event of ``type`` (id above ``after``)
        with the ``match`` values, kept or to come. Raises TimeoutError."""
        em = self.em
        return self.call(lambda: em.wait_for(type, timeout=timeout, after=after, **match), timeout + 5.0)

    @property
    def last_event_id(self) -> int:
        """Id of the newest event (a marker for ``wait_for(..., after=...)``)."""
        return self.em.last_event_id

    def url(self, flow: str, endpoint: str) -> str:
        """The URL of ``endpoint`` (an input or output name) of ``flow`` (a FlowId, ``region/name`` or
        a name only one region has): InputUrl / OutputUrl, or for a dialing endpoint the URL it dials.
        Raises LookupError naming what exists."""

        def find() -> str:
            flows = self.em.manager.flows
            found = [f for f in flows if f.id == flow]
            if not found and "/" in flow:
                region, _, name = flow.partition("/")
                found = [f for f in flows if f.region.id == region and f.name == name]
            elif not found:
                found = [f for f in flows if f.name == flow]
            if len(found) != 1:
                known = ", ".join(f"{f.region.id}/{f.name}" for f in flows) or "none"
                many = "several flows are" if found else "no flow is"
                raise LookupError(f"{many} called {flow!r} (flows: {known}); say region/name or FlowId")
            ends: list[Any] = [*found[0].inputs, *found[0].outputs.values()]
            for end in ends:
                if end.name == endpoint:
                    url = end.url or getattr(end, "from_url", "") or getattr(end, "to_url", "")
                    if not url:
                        raise LookupError(f"{endpoint} of {flow} has no URL (protocol Flow)")
                    return str(url)
            names = ", ".join(e.name for e in ends) or "none"
            raise LookupError(f"flow {flow} has no input or output {endpoint!r} (it has: {names})")

        return self.run(find)

    def urls(self) -> list[tuple[str, str, str]]:
        """(``region/flow``, ``push to X`` / ``play Y``, URL) for every URL a client connects to."""
        return self.run(self.em.urls)

    def push_signal(self, url: str, seconds: float) -> SignalReport:
        """:func:`push_signal`."""
        return push_signal(url, seconds)

    def start_signal(self, url: str, seconds: float) -> RunningSignal:
        """:func:`start_signal`."""
        return start_signal(url, seconds)

    def probe(self, url: str, seconds: float = 5.0, *, timeout_s: float = 10.0) -> ProbeResult:
        """:func:`probe`."""
        return probe(url, seconds, timeout_s=timeout_s)

    def reset(self) -> None:
        """Every flow and session gone (as ``POST /_emulator/reset``)."""
        self.call(self.em.manager.reset)
