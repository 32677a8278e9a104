"""What every ``mcemu`` command shares: the defaults and output that never raises."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import IO

DEFAULT_API = "127.0.0.1:8080"
ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
PLACEHOLDER_KEY = ("mcemu", "mcemu")
"""(id, secret) the CLI signs with when no key is given."""
KEY_HINT = (
    f"set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or pass --access-key-id and --access-key-secret"
)
DEFAULT_STATUS_EVERY_S = 1.0
"""``mcemu up``: seconds between looks for a change worth a status line."""
CLOSE_TIMEOUT_S = 30.0
"""``mcemu up``: a shutdown that takes longer than this exits anyway (the OS frees every port)."""


# -- output that never raises -----------------------------------------------------------------------
def silence(stream: IO[str]) -> None:
    """Point ``stream``'s file descriptor at /dev/null: its reader has gone (``| head -3``), and what
    is still buffered or written later must neither raise nor stop anything."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def say(text: str, *, err: bool = False) -> None:
    """One line on stdout (or stderr), flushed; a closed pipe silences the stream instead of raising."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(text, file=stream, flush=True)
    except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
        silence(stream)
