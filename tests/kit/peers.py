"""Real peers (ffmpeg, PyAV, the official SDK) come from the test extra; when one is missing the test
fails under CI (CI=true) and is skipped with a loud reason only on a developer machine."""

from __future__ import annotations

import os

import pytest

__all__ = ["IN_CI", "need_peer"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_peer(what: str, exc: BaseException | None = None) -> None:
    """Fail (under CI) or skip (locally) because a real peer is missing."""
    msg = f"real peer missing: {what}" + (f" ({exc})" if exc else "")
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)  # local only: CI never reaches this line
