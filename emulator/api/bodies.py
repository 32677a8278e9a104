"""Reading request bodies: the raw bytes within the API's size limit, and JSON for the admin routes.

Not UTF-8, not JSON, ``NaN``, or nested deeper than :data:`MAX_JSON_DEPTH` is a ``ValueError`` (400
``{"error": "<message>"}`` on the admin routes, through :mod:`emulator.api.errors`); a body over the
application's ``client_max_size`` is :class:`~emulator.errors.RequestTooLarge` (413).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import RequestTooLarge

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "json_body", "parse_json", "read_body"]

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (aiohttp ``client_max_size``); more answers 413."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a JSON body may have."""


async def read_body(request: web.Request) -> bytes:
    """The whole body. Raises RequestTooLarge past the app's ``client_max_size``."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLarge(
            f"the request body is larger than {request.client_max_size} bytes, the most this API accepts"
        ) from None


def parse_json(raw: bytes) -> Any:
    """Decode a JSON body. Raises ValueError with a message for the caller (see the module docstring)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number")

    try:
        doc = json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise ValueError(f"the body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN / Infinity, integers past Python's digit limit
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    raise ValueError(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
                stack.append((child, depth + 1))
    return doc


async def json_body(request: web.Request) -> Any:
    """The request's JSON body (:func:`parse_json`); an empty body is ``{}``. Raises ValueError,
    RequestTooLarge."""
    raw = await read_body(request)
    return parse_json(raw) if raw.strip() else {}
