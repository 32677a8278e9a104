"""Errors to HTTP answers, for every route: one table (:data:`ERROR_CODES`) and one middleware.

Domain errors (:mod:`emulator.errors`) say what is wrong and never carry HTTP codes; this module is the
only place they become a status and an ICE ``Code``:

======================================  ======  ==============================
error                                   status  Code
======================================  ======  ==============================
MissingValue                            400     MissingParameter
InvalidValue                            400     InvalidParameter
NotFound                                404     ResourceNotFound
WrongState, FlowStartError              403     OperationDenied
PortUnavailable                         503     ServiceUnAvailable
RequestTooLarge                         413     RequestEntityTooLarge
UnknownAction                           404     InvalidAction.NotFound
UnsupportedVersion                      400     InvalidVersion
IncompleteSignature                     400     IncompleteSignature
UnknownAccessKey                        404     InvalidAccessKeyId.NotFound
SignatureMismatch                       400     SignatureDoesNotMatch
BadTimestamp                            400     InvalidTimeStamp.Format
StaleTimestamp                          400     InvalidTimeStamp.Expired
NonceReused                             400     SignatureNonceUsed
ValueError (a bad admin body)           400     InvalidParameter
anything else                           500     InternalError
======================================  ======  ==============================

:func:`error_middleware` (the application's outermost middleware, so it covers every route, also
those added after :func:`~emulator.api.server.build_app`) writes the answer in the form its route
speaks:

* the ICE RPC at ``/``, and every refusal of the request itself (:class:`~emulator.errors.RequestError`:
  signature, size, action, version) on any route: the ICE error body ``{"RequestId", "HostId", "Code",
  "Message", "Recommend"}``;
* every other route under ``/_emulator/``: ``{"error": "<message>"}``; an unexpected error there is
  ``{"error": "<Type>: <message>"}`` with 500 and is logged with its traceback (a bug: no input should
  reach it);
* any other route (static files, ``/metrics``): aiohttp's own answer.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiohttp import web

from ..errors import (
    BadTimestamp,
    EmulatorError,
    FlowStartError,
    IncompleteSignature,
    InvalidValue,
    MissingValue,
    NonceReused,
    NotFound,
    PortUnavailable,
    RequestError,
    RequestTooLarge,
    SignatureMismatch,
    StaleTimestamp,
    UnknownAccessKey,
    UnknownAction,
    UnsupportedVersion,
    WrongState,
)

__all__ = [
    "ADMIN_PREFIX",
    "ERROR_CODES",
    "INTERNAL_ERROR",
    "REQUEST_ID_KEY",
    "RPC_PATH",
    "RefusalCode",
    "error_code",
    "error_middleware",
    "ice_error_response",
    "install_error_middleware",
    "json_response",
]

logger = logging.getLogger(__name__)

RPC_PATH = "/"
ADMIN_PREFIX = "/_emulator"


class RefusalCode(StrEnum):
    """The ICE ``Code`` values the emulator answers with (a str: JSON bodies are unchanged)."""

    MISSING_PARAMETER = "MissingParameter"
    INVALID_PARAMETER = "InvalidParameter"
    RESOURCE_NOT_FOUND = "ResourceNotFound"
    OPERATION_DENIED = "OperationDenied"
    SERVICE_UNAVAILABLE = "ServiceUnAvailable"
    REQUEST_TOO_LARGE = "RequestEntityTooLarge"
    INVALID_ACTION = "InvalidAction.NotFound"
    INVALID_VERSION = "InvalidVersion"
    INCOMPLETE_SIGNATURE = "IncompleteSignature"
    INVALID_ACCESS_KEY = "InvalidAccessKeyId.NotFound"
    SIGNATURE_MISMATCH = "SignatureDoesNotMatch"
    TIMESTAMP_FORMAT = "InvalidTimeStamp.Format"
    TIMESTAMP_EXPIRED = "InvalidTimeStamp.Expired"
    NONCE_USED = "SignatureNonceUsed"
    INTERNAL_ERROR = "InternalError"


#: Domain / transport error class -> (HTTP status, ICE error code). First match wins (subclasses first).
ERROR_CODES: tuple[tuple[type[BaseException], int, RefusalCode], ...] = (
    (MissingValue, 400, RefusalCode.MISSING_PARAMETER),
    (InvalidValue, 400, RefusalCode.INVALID_PARAMETER),
    (NotFound, 404, RefusalCode.RESOURCE_NOT_FOUND),
    (WrongState, 403, RefusalCode.OPERATION_DENIED),
    (FlowStartError, 403, RefusalCode.OPERATION_DENIED),
    (PortUnavailable, 503, RefusalCode.SERVICE_UNAVAILABLE),
    (RequestTooLarge, 413, RefusalCode.REQUEST_TOO_LARGE),
    (UnknownAction, 404, RefusalCode.INVALID_ACTION),
    (UnsupportedVersion, 400, RefusalCode.INVALID_VERSION),
    (IncompleteSignature, 400, RefusalCode.INCOMPLETE_SIGNATURE),
    (UnknownAccessKey, 404, RefusalCode.INVALID_ACCESS_KEY),
    (SignatureMismatch, 400, RefusalCode.SIGNATURE_MISMATCH),
    (BadTimestamp, 400, RefusalCode.TIMESTAMP_FORMAT),
    (StaleTimestamp, 400, RefusalCode.TIMESTAMP_EXPIRED),
    (NonceReused, 400, RefusalCode.NONCE_USED),
    (ValueError, 400, RefusalCode.INVALID_PARAMETER),
)
INTERNAL_ERROR = (500, RefusalCode.INTERNAL_ERROR)

REQUEST_ID_KEY = web.RequestKey("mcemu.request_id", str)
"""The RequestId an ICE answer carries (set by the RPC handler; a new one when absent)."""

_UNKNOWN_FAILURE = "The request processing has failed due to some unknown error, exception or failure."


def error_code(exc: BaseException) -> tuple[int, RefusalCode]:
    """HTTP status and ICE ``Code`` for an exception raised while serving a request."""
    for cls, status, code in ERROR_CODES:
        if isinstance(exc, cls):
            return status, code
    return INTERNAL_ERROR


def json_response(status: int, body: dict[str, Any]) -> web.Response:
    """A JSON answer in UTF-8, non-ASCII kept (the ICE API's form)."""
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
    )


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def ice_error_response(request: web.Request, exc: BaseException) -> web.Response:
    """The ICE error body for ``exc`` (see the module docstring)."""
    request_id = request.get(REQUEST_ID_KEY) or new_request_id()
    status, code = error_code(exc)
    if status >= 500 and not isinstance(exc, EmulatorError):
        logger.error("request %s failed", request_id, exc_info=exc)
        message = _UNKNOWN_FAILURE
    else:
        message = str(exc)
        logger.info("request %s refused: %s %s", request_id, code, message)
    return json_response(
        status,
        {
            "RequestId": request_id,
            "HostId": request.host,
            "Code": code,
            "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=ICE&requestId={request_id}",
        },
    )


def _admin_error_response(request: web.Request, exc: BaseException) -> web.Response:
    status, _code = error_code(exc)
    if status >= 500 and (status, _code) == INTERNAL_ERROR:
        logger.error("admin %s %s failed", request.method, request.path, exc_info=exc)
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=status)
    return web.json_response({"error": str(exc)}, status=status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer every error a route (or an inner middleware) raises, as the module docstring says."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        if isinstance(exc, RequestError) or request.path == RPC_PATH:
            return ice_error_response(request, exc)
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
            return _admin_error_response(request, exc)
        raise


def install_error_middleware(app: web.Application) -> None:
    """Make :func:`error_middleware` the outermost middleware of ``app`` (once). Every ``add_*_routes``
    calls it, so routes answer the same on an application that :func:`~emulator.api.server.build_app`
    did not make."""
    if error_middleware not in app.middlewares:
        app.middlewares.insert(0, error_middleware)
