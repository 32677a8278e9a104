"""The keys under which the API's application and requests hold what every route module reads.

Kept apart from the route modules so that each of them (the ICE RPC in :mod:`emulator.api.server`, the
admin routes in :mod:`emulator.api.admin`, and those added later) imports these and none imports
another.
"""

from __future__ import annotations

from aiohttp import web

from ..model.manager import FlowManager
from .signature import SignatureVerifier

__all__ = ["MANAGER_KEY", "SIGNER_KEY", "VERIFIER_KEY", "is_signed"]

MANAGER_KEY = web.AppKey("mcemu.flow_manager", FlowManager)
VERIFIER_KEY = web.AppKey("mcemu.signature_verifier", SignatureVerifier)
SIGNER_KEY = web.RequestKey("mcemu.signer", str)
"""The access key id that signed the request; absent when it was not signed (only without keys)."""


def is_signed(request: web.Request) -> bool:
    """True when the request carried a signature the verifier accepted (any key, without keys)."""
    return SIGNER_KEY in request
