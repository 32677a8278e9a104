"""The last mile's admin routes, kept importable here: the code is :mod:`emulator.api.admin.lastmile`."""

from .api.admin.lastmile import LASTMILE_KEY, add_lastmile_routes

__all__ = ["LASTMILE_KEY", "add_lastmile_routes"]
