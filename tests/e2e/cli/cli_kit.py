"""The real ``mcemu`` in a subprocess: ``run(...)`` for one command, :class:`Up` for ``mcemu up`` with every
port ephemeral (read line by line by a thread, so a test waits for a line instead of sleeping)."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from emulator.topology import DEFAULT_TOPOLOGY, EPHEMERAL_PORTS

WAIT_S = 90.0
"""Generous: a loaded 2-core machine starts Python, PyAV and ffmpeg slowly."""


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}


def run(*args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    """``mcemu ARGS`` to completion (options after the subcommand, as a user types them)."""
    return subprocess.run(
        [sys.executable, "-m", "emulator.cli", *args],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def topology_file(tmp_path: Path, doc: dict[str, Any] | None = None) -> Path:
    """A topology with every port 0 (the demo flows unless ``doc`` says otherwise)."""
    merged: dict[str, Any] = {**EPHEMERAL_PORTS, **DEFAULT_TOPOLOGY}
    merged.update(doc or {})
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(merged))
    return path


class Up:
    """``mcemu up ARGS`` in a subprocess; its stdout lines collected by a thread."""

    def __init__(self, args: list[str], *, stdout: Any = subprocess.PIPE, reader: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "up", "--log-level", "WARNING", *args],
            env=env(),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.err: list[str] = []
        assert self.proc.stderr is not None
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()
        self.reader = stdout is subprocess.PIPE and reader
        if self.reader:
            assert self.proc.stdout is not None
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, start: int = 0, timeout: float = WAIT_S) -> str:
        """The first stdout line from index ``start`` on that matches ``pattern`` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[start:]:
                if re.search(pattern, line):
                    return line
            assert self.proc.poll() is None, (self.proc.returncode, self.lines, self.err)
            assert time.monotonic() < deadline, (pattern, self.lines, self.err)
            time.sleep(0.05)

    def read_until(self, pattern: str, timeout: float = WAIT_S) -> None:
        """Without a reader thread (``reader=False``): read stdout here until a line matches."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        pending = b""
        while not any(re.search(pattern, line) for line in self.lines):
            assert time.monotonic() < deadline, (pattern, self.lines, self.err)
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 65536)
                assert chunk, (self.proc.poll(), self.lines, self.err)
                pending += chunk
                *done, pending = pending.split(b"\n")
                self.lines += [line.decode() for line in done]

    def banner(self) -> str:
        """Wait for the banner's last line; the API's ``host:port``."""
        if self.reader:
            self.wait_line("Ctrl-C to stop")
        found = re.search(r"ICE API: http://([^/]+)/", "\n".join(self.lines))
        assert found, self.lines
        return found.group(1)

    def ports(self) -> list[tuple[str, int]]:
        """Every (host, port) the banner names: the API and each region's RTMP server."""
        text = "\n".join(self.lines)
        found = {(h, int(p)) for h, p in re.findall(r"(?:http|rtmp)://([\d.]+):(\d+)", text)}
        return sorted(found)

    def interrupt(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=WAIT_S)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
