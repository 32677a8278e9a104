"""The emulator's own admin API under ``/_emulator/`` (not part of ICE).

* ``GET /_emulator/health``: ``{"status": "ok", "version": "<mcemu version>"}``.
* ``POST /_emulator/reset``: every flow stopped and deleted, every SRT port released
  (:meth:`FlowManager.reset`); answers ``{"status": "ok"}``.
* ``GET /_emulator/state``: :meth:`FlowManager.snapshot` (regions, flows) merged with ``extra_state()``
  (the runtime's live sessions, links...), as JSON. An unsigned caller (only possible without access
  keys: with keys every admin route but health needs a signature) gets it with every stream key,
  passphrase and secret URL part replaced by ``***`` (:mod:`emulator.api.redact`) and ``"redacted": true``.

Bodies are read by :func:`json_body`: not UTF-8, not JSON, ``NaN``, or nested deeper than
:data:`MAX_JSON_DEPTH` is a ``ValueError`` the routes answer with 400 ``{"error": "<message>"}``. An
unexpected failure answers ``{"error": "<message>"}`` with status 500 and is logged (a bug: no input
should reach it).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

from aiohttp import web

from ..errors import RequestTooLarge
from .redact import flow_secrets, redact

__all__ = ["EXTRA_STATE_KEY", "MAX_JSON_DEPTH", "SECRETS_KEY", "VERSION", "add_admin_routes", "json_body"]

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"
EXTRA_STATE_KEY = web.AppKey("mcemu.extra_state", object)
SECRETS_KEY = web.AppKey("mcemu.state_secrets", object)
"""A callable returning more secrets to hide from unsigned state readers (the backbone's token)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a JSON body may have."""


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
    from .server import read_body

    raw = await read_body(request)
    return parse_json(raw) if raw.strip() else {}


def _version() -> str:
    try:
        return metadata.version("mcemu")
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": VERSION})


async def _reset(request: web.Request) -> web.Response:
    from .server import MANAGER_KEY

    await request.app[MANAGER_KEY].reset()
    return web.json_response({"status": "ok"})


async def _state(request: web.Request) -> web.Response:
    from .server import MANAGER_KEY, is_signed

    manager = request.app[MANAGER_KEY]
    state: dict[str, Any] = manager.snapshot()
    extra = request.app.get(EXTRA_STATE_KEY)
    if callable(extra):
        more = extra()
        if inspect.isawaitable(more):
            more = await more
        if isinstance(more, dict):
            state.update(more)
    if not is_signed(request):
        secrets: set[str] = flow_secrets(manager)
        more_secrets = request.app.get(SECRETS_KEY)
        if callable(more_secrets):
            found = more_secrets()
            if isinstance(found, Iterable):
                secrets.update(str(s) for s in found)
        state = redact(state, secrets)
        state["redacted"] = True
    return web.json_response(state)


@web.middleware
async def _admin_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException:
        raise
    except RequestTooLarge as exc:
        return web.json_response({"error": str(exc)}, status=413)
    except Exception as exc:
        if not request.path.startswith(ADMIN_PREFIX):
            raise
        logger.exception("admin %s %s failed", request.method, request.path)
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
    return response


def add_admin_routes(
    app: web.Application,
    *,
    extra_state: Callable[[], Any] | None = None,
    secrets: Callable[[], Iterable[str]] | None = None,
) -> None:
    """Add the ``/_emulator/`` routes to ``app`` (which must hold the flow manager). ``secrets`` returns
    strings to hide from unsigned state readers besides the flows' stream keys and passphrases."""
    app[EXTRA_STATE_KEY] = extra_state
    app[SECRETS_KEY] = secrets
    app.middlewares.append(_admin_errors)
    app.router.add_get(f"{ADMIN_PREFIX}/health", _health)
    app.router.add_post(f"{ADMIN_PREFIX}/reset", _reset)
    app.router.add_get(f"{ADMIN_PREFIX}/state", _state)
