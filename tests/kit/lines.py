"""Reading a subprocess's output line by line with a timeout (``mcemu up``'s banner and status lines)."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from typing import Any

__all__ = ["Lines"]


class Lines:
    """A subprocess's stdout lines, read by a thread so a test can wait for one with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def until(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first line (from here on) matching ``pattern``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {timeout} s: {self.seen}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
