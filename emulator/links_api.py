"""The backbone's admin routes, kept importable here: the code is :mod:`emulator.api.admin.links`."""

from .api.admin.links import BACKBONE_KEY, add_link_routes, impairment_from_request

__all__ = ["BACKBONE_KEY", "add_link_routes", "impairment_from_request"]
