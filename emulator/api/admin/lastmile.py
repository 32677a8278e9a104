"""Admin routes for last-mile impairments (see :mod:`emulator.runtime.lastmile`).

* ``GET /_emulator/lastmile``: every endpoint with a last-mile impairment: ``flow_id``, ``flow``
  (``region/name``), ``role``, ``name``, ``protocol``, ``listening``, ``to_region`` and ``from_region``
  (the impairment, or null), ``impaired_url`` (a listening endpoint of an online flow, else null) and
  ``link`` (its name, address and counters while live, else null).
* ``PUT /_emulator/lastmile/{flow_id}/{input|output}/{name}``: body
  ``{"to_region": {...}, "from_region": {...}}`` (either may be absent; each an impairment, optionally
  with ``"profile": name``), or one impairment (or ``{"profile": name}``) for both directions. Applies at
  once; answers the endpoint's row (with its ``impaired_url``).
* ``DELETE /_emulator/lastmile/{flow_id}/{input|output}/{name}``: no last-mile impairment any more; its
  link closes. Answers the view.

Bad input answers 400 with ``{"error": "..."}`` (bodies are read by
:func:`emulator.api.bodies.json_body`: at most 1 MiB, nested at most 32 levels); an unknown flow or
endpoint 404. The routes raise; :mod:`emulator.api.errors` answers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...model.flow import Role
from ...model.lastmile import LastMileSpec
from ...runtime.lastmile import LastMile, parse_role
from ..bodies import json_body
from ..errors import install_error_middleware

__all__ = ["LASTMILE_KEY", "add_lastmile_routes"]

LASTMILE_KEY = web.AppKey("mcemu.lastmile", LastMile)


def _key(request: web.Request) -> tuple[str, Role, str]:
    """The endpoint the path names. Raises InvalidValue (400) for a role that is neither input nor output."""
    m = request.match_info
    return m["flow_id"], parse_role(m["role"]), m["name"]


def _changed(lastmile: LastMile[Any], flow_id: str, role: Role, name: str, spec: dict[str, Any]) -> None:
    """Emit ``lastmile.changed`` (:mod:`emulator.events`) when the runtime has an event bus."""
    events = lastmile.runtime.events
    if events is None:
        return
    flow = lastmile.runtime.manager.get_flow(flow_id)
    events.emit(
        "lastmile.changed",
        flow_id=flow.id,
        flow=flow.name,
        region=flow.region.id,
        role=str(role),
        name=name,
        **spec,
    )


def add_lastmile_routes(app: web.Application, lastmile: LastMile[Any]) -> None:
    """Add the ``/_emulator/lastmile`` routes for ``lastmile`` to ``app``."""
    install_error_middleware(app)
    app[LASTMILE_KEY] = lastmile
    path = "/_emulator/lastmile/{flow_id}/{role}/{name}"

    async def show(request: web.Request) -> web.Response:
        return web.json_response(lastmile.view())

    async def put(request: web.Request) -> web.Response:
        spec = LastMileSpec.from_body(await json_body(request))
        key = _key(request)  # after the body: a bad body answers first, as before
        row = await lastmile.set(*key, spec)
        _changed(lastmile, *key, spec.to_dict())
        return web.json_response(row)

    async def delete(request: web.Request) -> web.Response:
        key = _key(request)
        await lastmile.clear(*key)
        _changed(lastmile, *key, LastMileSpec().to_dict())
        return web.json_response(lastmile.view())

    app.router.add_get("/_emulator/lastmile", show)
    app.router.add_put(path, put)
    app.router.add_delete(path, delete)
