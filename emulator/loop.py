"""The event loop the emulator runs on: uvloop when it is installed (``pip install 'mcemu[fast]'``), else
asyncio's own.

``MCEMU_LOOP`` chooses explicitly: ``uvloop`` (an error when it is not installed), ``asyncio``, or
``auto`` (the default: uvloop if importable). The test fixtures honour the same variable, so the e2e
tests can run under either loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LOOP_ENV", "loop_factory", "loop_name", "loop_policy", "run"]

T = TypeVar("T")

LOOP_ENV = "MCEMU_LOOP"
"""Environment variable naming the loop: ``auto`` (default), ``uvloop`` or ``asyncio``."""

_CHOICES = ("auto", "uvloop", "asyncio")


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the chosen loop (None: asyncio's default). ``choice`` defaults to ``MCEMU_LOOP``.

    Raises ValueError for an unknown choice, and ImportError when ``uvloop`` is asked for explicitly
    but is not installed.
    """
    if choice is None:
        choice = os.environ.get(LOOP_ENV, "") or "auto"
    choice = choice.strip().lower()
    if choice not in _CHOICES:
        raise ValueError(f"{LOOP_ENV}={choice!r}: expected one of {', '.join(_CHOICES)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ImportError(
                f"{LOOP_ENV}=uvloop but uvloop is not installed: pip install 'mcemu[fast]'"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(choice: str | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: what :func:`run` would use."""
    return "asyncio" if loop_factory(choice) is None else "uvloop"


def loop_policy(choice: str | None = None) -> asyncio.AbstractEventLoopPolicy:
    """A policy whose ``new_event_loop()`` makes the chosen loop (for code that calls
    ``asyncio.new_event_loop()``, such as :class:`~emulator.testing.EmulatorThread`)."""
    factory = loop_factory(choice)
    if factory is None:
        return asyncio.DefaultEventLoopPolicy()
    import uvloop

    policy: asyncio.AbstractEventLoopPolicy = uvloop.EventLoopPolicy()
    return policy


def run(coro: Coroutine[Any, Any, T], *, choice: str | None = None) -> T:
    """``asyncio.run(coro)`` on the chosen loop (see the module docstring)."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(coro)
