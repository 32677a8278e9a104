"""The ICE-compatible HTTP API (RPC at ``/``) and the admin API (``/_emulator/``)."""

from .admin import add_admin_routes, json_body
from .redact import redact
from .server import (
    API_VERSION,
    ERROR_CODES,
    MANAGER_KEY,
    MAX_BODY_BYTES,
    OPEN_PATHS,
    OPERATIONS,
    ApiServer,
    Params,
    build_app,
    error_code,
    is_signed,
)
from .signature import ReceivedRequest, SignatureVerifier, sign_v3

__all__ = [
    "API_VERSION",
    "ERROR_CODES",
    "MANAGER_KEY",
    "MAX_BODY_BYTES",
    "OPEN_PATHS",
    "OPERATIONS",
    "ApiServer",
    "Params",
    "ReceivedRequest",
    "SignatureVerifier",
    "add_admin_routes",
    "build_app",
    "error_code",
    "is_signed",
    "json_body",
    "redact",
    "sign_v3",
]
