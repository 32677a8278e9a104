"""Moved to :mod:`emulator.runtime.lastmile`; this name stays for app.py, state_io.py and topology.py."""

from .runtime.lastmile import *  # noqa: F403
from .runtime.lastmile import __all__ as __all__
