"""The admin routes for health, reset and the state: read, export, import (``/_emulator/``).

* ``GET /_emulator/health``: ``{"status": "ok", "version": "<mcemu version>"}``.
* ``POST /_emulator/reset``: every flow stopped and deleted, every SRT port released
  (:meth:`FlowManager.reset`); answers ``{"status": "ok"}``.
* ``GET /_emulator/state``: :meth:`FlowManager.snapshot` (regions, flows) merged with ``extra_state()``
  (the runtime's live sessions, links...), as JSON. An unsigned caller (only possible without access
  keys: with keys every admin route but health needs a signature) gets it with every stream key,
  passphrase and secret URL part replaced by ``***`` (:mod:`emulator.api.redact`) and ``"redacted": true``.
* ``GET /_emulator/state/export``: the state document of :mod:`emulator.state_io` (flows with their
  FlowIds, URLs, stream keys, passphrases and SRT ports; links; last-mile impairments), or with
  ``?format=topology`` a YAML topology that ``mcemu up --topology`` loads (JSON when the request
  accepts ``application/json``). It holds secrets, so an
  unsigned request is refused (403 ``{"error": ...}``) even without access keys: sign it with any key
  (``mcemu state export`` does).
* ``POST /_emulator/state/import``: body a state document; replaces every flow, link and last-mile
  impairment with the document's (same FlowIds, stream keys and SRT ports; flows that were online are
  started). Answers ``{"status": "ok", "flows": n, "online": [ids], "errors": [lines]}``; a document the
  emulator cannot take answers 400 and changes nothing, a taken SRT port 503.

Bodies are read by :func:`json_body` (:mod:`emulator.api.bodies`): not UTF-8, not JSON, ``NaN``, or
nested deeper than :data:`MAX_JSON_DEPTH` is a ``ValueError``. The routes raise; the one error
middleware of :mod:`emulator.api.errors` answers 400 ``{"error": "<message>"}`` for that, the status of
its table for a domain error, and 500 ``{"error": "<Type>: <message>"}`` (logged: a bug, no input
should reach it) for anything else.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib import metadata
from typing import Any

from aiohttp import web

from ...errors import InvalidValue, WrongState
from ..bodies import MAX_JSON_DEPTH, json_body, parse_json
from ..errors import ADMIN_PREFIX, install_error_middleware
from ..keys import MANAGER_KEY, is_signed
from ..redact import flow_secrets, redact

__all__ = [
    "EXTRA_STATE_KEY",
    "MAX_JSON_DEPTH",
    "SECRETS_KEY",
    "VERSION",
    "add_admin_routes",
    "add_state_routes",
    "json_body",
    "parse_json",
]

logger = logging.getLogger(__name__)

EXTRA_STATE_KEY = web.AppKey("mcemu.extra_state", object)
SECRETS_KEY = web.AppKey("mcemu.state_secrets", object)
"""A callable returning more secrets to hide from unsigned state readers (the backbone's token)."""


def _version() -> str:
    try:
        return metadata.version("mcemu")
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": VERSION})


async def _reset(request: web.Request) -> web.Response:
    await request.app[MANAGER_KEY].reset()
    return web.json_response({"status": "ok"})


async def _state(request: web.Request) -> web.Response:
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


def add_admin_routes(
    app: web.Application,
    *,
    extra_state: Callable[[], Any] | None = None,
    secrets: Callable[[], Iterable[str]] | None = None,
) -> None:
    """Add the ``/_emulator/`` routes to ``app`` (which must hold the flow manager). ``secrets`` returns
    strings to hide from unsigned state readers besides the flows' stream keys and passphrases."""
    install_error_middleware(app)
    app[EXTRA_STATE_KEY] = extra_state
    app[SECRETS_KEY] = secrets
    app.router.add_get(f"{ADMIN_PREFIX}/health", _health)
    app.router.add_post(f"{ADMIN_PREFIX}/reset", _reset)
    app.router.add_get(f"{ADMIN_PREFIX}/state", _state)


# -- state --------------------------------------------------------------------------------------------
def add_state_routes(
    app: web.Application,
    *,
    export: Callable[[], dict[str, Any]],
    topology: Callable[[dict[str, Any]], dict[str, Any]],
    load: Callable[[Any], Awaitable[dict[str, Any]]],
) -> None:
    """Add ``GET /_emulator/state/export`` and ``POST /_emulator/state/import`` (see the module
    docstring): ``export()`` makes the document, ``topology(doc)`` its topology form, ``load(doc)``
    imports one (raising ValueError for a document it refuses)."""

    install_error_middleware(app)

    async def export_route(request: web.Request) -> web.Response:
        if not is_signed(request):
            raise WrongState(
                "the state export holds stream keys and passphrases: sign the request "
                "(with any access key when the emulator has none; mcemu state export signs)"
            )
        doc = export()
        form = request.query.get("format", "json")
        if form == "topology":
            topo = topology(doc)
            if "application/json" in request.headers.get("Accept", ""):
                return web.json_response(topo)  # the same document, for a client that writes it itself
            import yaml

            return web.Response(text=yaml.safe_dump(topo, sort_keys=False), content_type="application/yaml")
        if form != "json":
            raise InvalidValue("format", f"{form!r} is not json or topology")
        return web.json_response(doc)

    async def import_route(request: web.Request) -> web.Response:
        result = await load(await json_body(request))  # StateError 400, PortUnavailable 503
        return web.json_response({"status": "ok", **result})

    app.router.add_get(f"{ADMIN_PREFIX}/state/export", export_route)
    app.router.add_post(f"{ADMIN_PREFIX}/state/import", import_route)
