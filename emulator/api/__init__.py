"""The ICE-compatible HTTP API (RPC at ``/``) and the admin API (``/_emulator/``)."""

from .admin import add_admin_routes
from .server import (
    API_VERSION,
    ERROR_CODES,
    MANAGER_KEY,
    OPERATIONS,
    ApiServer,
    Params,
    build_app,
    error_code,
)
from .signature import ReceivedRequest, SignatureVerifier

__all__ = [
    "API_VERSION",
    "ERROR_CODES",
    "MANAGER_KEY",
    "OPERATIONS",
    "ApiServer",
    "Params",
    "ReceivedRequest",
    "SignatureVerifier",
    "add_admin_routes",
    "build_app",
    "error_code",
]
