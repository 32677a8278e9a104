"""``mcemu up``: run everything in the foreground; the banner, status lines and signals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import os
import re
import signal
import time
from typing import Any

from .common import (
    CLOSE_TIMEOUT_S,
    DEFAULT_API,
    say,
)
from .parser import version


# -- up ---------------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from ..topology import DEFAULT_TOPOLOGY, Topology, load_topology

    topology = load_topology(args.topology) if args.topology else Topology.from_dict(DEFAULT_TOPOLOGY)
    if args.api_host:
        topology.api_host = args.api_host
    if not topology.access_keys and not _is_loopback(topology.api_host):
        say(
            f"mcemu: warning: the API listens on {topology.api_host} without access_keys: anyone who can "
            "reach it can change or delete every flow and read every stream key (set access_keys in the "
            "topology)",
            err=True,
        )
    from ..loop import run

    return run(_run_up(topology, args.api_port, args.status_every, state_file=args.state))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


_BIND_ADDRESS = re.compile(r"on address \('([^']*)', (\d+)\)")


def port_clash(exc: OSError, topology: Any, api_port: int | None) -> str:
    """One line for a listener that could not bind, naming the way out."""
    text = " ".join(str(exc).split())
    if exc.errno != errno.EADDRINUSE and "address already in use" not in text:
        return f"mcemu: cannot listen: {text}"
    found = _BIND_ADDRESS.search(text)
    where = f"{found.group(1)}:{found.group(2)}" if found else "an address"
    api = topology.api_port if api_port is None else api_port
    # Where another mcemu's API would be: this one's port, else the topology's, else the default.
    api_addr = f"{topology.api_host}:{api or topology.api_port or 8080}"
    if found and found.group(1) == topology.api_host and int(found.group(2)) == api:
        way = "or give the API another port: --api-port N (0: any free port)"
    else:
        way = (
            "or give the regions other ports: a topology (--topology FILE) with rtmp_port, srt_port_min "
            "and srt_port_max (0: any free port), see emulator/topology.py"
        )
    return (
        f"mcemu: cannot listen on {where}: address already in use; another mcemu may be running "
        f"(see mcemu state --api {api_addr}), {way}"
    )


async def _run_up(
    topology: Any, api_port: int | None, status_every: float, *, state_file: str | None = None
) -> int:
    from ..app import Emulator

    started = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int, _frame: Any) -> None:
        # A plain signal handler, not the loop's: it runs even while the loop is busy, so a second
        # Ctrl-C (or SIGTERM) exits at once whatever the first one's shutdown is doing.
        nonlocal signals
        signals += 1
        if signals > 1:
            os._exit(128 + signum)
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    emu = Emulator(topology, api_port=api_port, state_file=state_file)
    try:
        await emu.start()  # a signal meanwhile sets stop: the loop below then ends at once
    except BaseException as exc:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not isinstance(exc, OSError):
            raise
        say(port_clash(exc, topology, api_port), err=True)
        return 1
    try:
        _banner(emu, time.monotonic() - started)
        status = _StatusLines(emu)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), status_every if status_every > 0 else None)
            if not stop.is_set() and status_every > 0:
                status.update()
    finally:
        # Close first, print after: a note that cannot be written must never keep the ports.
        note = loop.call_later(
            1.0, lambda: say("mcemu: shutting down (Ctrl-C again to exit at once)", err=True)
        )
        try:
            await asyncio.wait_for(emu.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            say(f"mcemu: shutdown took over {CLOSE_TIMEOUT_S:g} s; exiting anyway", err=True)
            os._exit(1)
        finally:
            note.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("mcemu: stopped")
    return 0


def _banner(emu: Any, took_s: float) -> None:
    say(f"mcemu {version()} is up in {took_s:.2f} s")
    say(f"  ICE API: http://{emu.endpoint}/   (SDK: Config(endpoint='{emu.endpoint}', protocol='http'))")
    say(f"  admin:   http://{emu.endpoint}/_emulator/state")
    say(f"  metrics: http://{emu.endpoint}/metrics")
    say(f"  console: http://{emu.endpoint}/console/")
    for region in emu.regions:
        host, port = emu.runtime.rtmp_address(region)
        say(f"  region {region.id:<15} {region.name:<15} rtmp://{host}:{port}/live/...")
    for flow, role, url in emu.urls():
        say(f"  {flow:<30} {role:<24} {url}")
    api = "" if emu.endpoint == DEFAULT_API else f" --api {emu.endpoint}"
    say(f"URLs again: mcemu urls{api}. Ctrl-C to stop.")


class _StatusLines:
    """A line per flow whose status, input status or player count changed since the last look."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.seen: dict[str, tuple[str, ...]] = {}

    def update(self) -> None:
        emu = self.emu
        now: dict[str, tuple[str, ...]] = {}
        names: dict[str, str] = {}
        for flow in emu.manager.flows:
            names[flow.id] = f"{flow.region.id}/{flow.name}"
            inputs = ", ".join(
                f"input {inp.name} {emu.manager.input_status(flow, inp)}" for inp in flow.inputs
            )
            reading = emu.runtime.view.flow(flow.id)
            players = reading.players if reading else 0  # backbone legs are not players
            now[flow.id] = (flow.status.value, inputs, f"{players} players")
        for fid, row in now.items():
            if self.seen.get(fid) != row:
                status, ins, count = row
                say(f"  [{names[fid]}] {status}" + (f", {ins}" if ins else "") + f", {count}")
        for fid in self.seen.keys() - now.keys():
            say(f"  [flow {fid}] deleted")
        self.seen = now


# -- talking to a running emulator ------------------------------------------------------------------
