"""``mcemu up`` always shuts down: a closed stdout (``mcemu up | head -3``) neither crashes it nor stops it
serving, and SIGINT then still closes every port; SIGTERM does too; a second SIGINT exits at once. The real
CLI in a subprocess, every port ephemeral."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

from cli_kit import Up, port_free, run, topology_file


def test_a_closed_stdout_never_stops_it_and_sigint_still_frees_every_port(tmp_path: Path) -> None:
    up = Up(["--topology", str(topology_file(tmp_path)), "--status-every", "0.2"], reader=False)
    try:
        up.read_until("Ctrl-C to stop")  # as head -3 would, in this thread: then it closes the pipe
        api = up.banner()
        ports = up.ports()
        assert up.proc.stdout is not None
        up.proc.stdout.close()  # the reader goes away, as head -3 does
        # A change means a status line to write into the closed pipe.
        assert run("reset", "--api", api).returncode == 0
        with urllib.request.urlopen(f"http://{api}/_emulator/health", timeout=30) as resp:
            assert resp.status == 200  # still serving
        state = run("state", "--api", api)
        assert state.returncode == 0 and json.loads(state.stdout)["flows"] == []
        assert up.interrupt() == 0, up.err
    finally:
        up.kill()
    assert not any("Traceback" in line or "BrokenPipe" in line for line in up.err), up.err
    assert ports and all(port_free(h, p) for h, p in ports), ports


def test_sigterm_closes_and_prints_stopped_after_closing(tmp_path: Path) -> None:
    up = Up(["--topology", str(topology_file(tmp_path)), "--status-every", "0"])
    try:
        up.banner()
        ports = up.ports()
        assert up.interrupt(signal.SIGTERM) == 0, up.err
    finally:
        up.kill()
    assert all(port_free(h, p) for h, p in ports), ports
    deadline = time.monotonic() + 30  # the reader thread drains the pipe after the exit
    while "mcemu: stopped" not in up.lines and time.monotonic() < deadline:
        time.sleep(0.05)
    assert up.lines[-1] == "mcemu: stopped", up.lines[-3:]


def test_a_second_sigint_exits_at_once(tmp_path: Path) -> None:
    up = Up(["--topology", str(topology_file(tmp_path)), "--status-every", "0"])
    try:
        up.banner()
        up.proc.send_signal(signal.SIGINT)
        code = up.interrupt()
    finally:
        up.kill()
    # Either the first shutdown was already done (0) or the second signal cut it short (128 + SIGINT).
    assert code in (0, 128 + signal.SIGINT), (code, up.err)
