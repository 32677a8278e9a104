"""The emulator's own admin API under ``/_emulator/`` (not part of ICE).

* ``GET /_emulator/health``: ``{"status": "ok", "version": "<mcemu version>"}``.
* ``POST /_emulator/reset``: every flow stopped and deleted, every SRT port released
  (:meth:`FlowManager.reset`); answers ``{"status": "ok"}``.
* ``GET /_emulator/state``: :meth:`FlowManager.snapshot` (regions, flows) merged with ``extra_state()``
  (the runtime's live sessions, links...), as JSON.

Errors answer ``{"error": "<message>"}`` with status 500 and are logged.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from importlib import metadata
from typing import Any

from aiohttp import web

__all__ = ["EXTRA_STATE_KEY", "VERSION", "add_admin_routes"]

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"
EXTRA_STATE_KEY = web.AppKey("mcemu.extra_state", object)


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
    from .server import MANAGER_KEY

    state: dict[str, Any] = request.app[MANAGER_KEY].snapshot()
    extra = request.app.get(EXTRA_STATE_KEY)
    if callable(extra):
        more = extra()
        if inspect.isawaitable(more):
            more = await more
        if isinstance(more, dict):
            state.update(more)
    return web.json_response(state)


@web.middleware
async def _admin_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        if not request.path.startswith(ADMIN_PREFIX):
            raise
        logger.exception("admin %s %s failed", request.method, request.path)
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
    return response


def add_admin_routes(app: web.Application, *, extra_state: Callable[[], Any] | None = None) -> None:
    """Add the ``/_emulator/`` routes to ``app`` (which must hold the flow manager)."""
    app[EXTRA_STATE_KEY] = extra_state
    app.middlewares.append(_admin_errors)
    app.router.add_get(f"{ADMIN_PREFIX}/health", _health)
    app.router.add_post(f"{ADMIN_PREFIX}/reset", _reset)
    app.router.add_get(f"{ADMIN_PREFIX}/state", _state)
