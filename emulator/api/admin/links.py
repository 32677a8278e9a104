"""Admin routes for the backbone: read, set, clear and schedule link impairments at run time.

* ``GET /_emulator/links``: every direction with an impairment set (or a timeline running), and every
  live link (``from`` its client's region ``to`` its target's) with the impairment in force ``forward``
  (from -> to) and ``reverse`` (to -> from), and its counters (``stats``, per direction).
* ``PUT /_emulator/links/{from}/{to}``: body is an impairment (``{"delay_ms": 80, "loss_pct": 2}``),
  optionally ``"profile": name`` (fields given override the profile) and ``"both_ways": true``.
  Fields not given keep their defaults, except ``delay_ms``, which defaults to the pair's catalogue
  latency so that adding loss does not remove the distance.
* ``DELETE /_emulator/links/{from}/{to}``: back to the catalogue latency (and stops a timeline).
* ``POST /_emulator/links/{from}/{to}/timeline``: body ``{"steps": [...]}`` (see
  :mod:`mediaplane.netem.timeline`), optionally ``"both_ways": true``; runs from now over the impairment
  in force.

Bad input answers 400 with ``{"error": "..."}`` (bodies are read by
:func:`emulator.api.bodies.json_body`: at most 1 MiB, nested at most 32 levels); an unknown region 404.
The routes raise; :mod:`emulator.api.errors` answers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.link import FORWARD, REVERSE

from ...model.impairment import impairment_from_body
from ...runtime import Backbone
from ..bodies import json_body
from ..errors import install_error_middleware

__all__ = ["BACKBONE_KEY", "add_link_routes", "impairment_from_request"]

BACKBONE_KEY = web.AppKey("mcemu.backbone", Backbone)


def impairment_from_request(backbone: Backbone, src: str, dst: str, body: dict[str, Any]) -> Impairment:
    """Build the impairment a PUT asks for. Raises ValueError naming the bad field."""
    default = backbone.regions.default_latency_ms(src, dst)
    return impairment_from_body(body, default_delay_ms=default, ignore=("both_ways",))


def _view(backbone: Backbone) -> dict[str, Any]:
    overrides = backbone.overrides()
    running = set(backbone.timelines())
    pairs = sorted(set(overrides) | running)
    return {
        "impairments": [
            {
                "from": s,
                "to": d,
                "impairment": backbone.impairment(s, d).to_dict(),
                "timeline": (s, d) in running,
            }
            for s, d in pairs
        ],
        "links": [
            {
                "from": s,
                "to": d,
                "name": link.name,
                "forward": link.impairment(FORWARD).to_dict(),
                "reverse": link.impairment(REVERSE).to_dict(),
                "stats": link.stats(),
            }
            for s, d, link in backbone.links()
        ],
    }


async def _body(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    if not isinstance(body.get("both_ways", False), bool):
        raise ValueError(f"both_ways must be true or false, got {body['both_ways']!r}")
    return body


def _pairs(request: web.Request, backbone: Backbone, both: bool) -> list[tuple[str, str]]:
    src, dst = request.match_info["src"], request.match_info["dst"]
    backbone.regions.get(src)
    backbone.regions.get(dst)
    return [(src, dst)] + ([(dst, src)] if both else [])


def add_link_routes(app: web.Application, backbone: Backbone) -> None:
    """Add the ``/_emulator/links`` routes for ``backbone`` to ``app``."""
    install_error_middleware(app)
    app[BACKBONE_KEY] = backbone

    async def show(request: web.Request) -> web.Response:
        return web.json_response(_view(backbone))

    async def put(request: web.Request) -> web.Response:
        body = await _body(request)
        pairs = _pairs(request, backbone, bool(body.get("both_ways")))
        for src, dst in pairs:
            backbone.cancel_timeline(src, dst)
            backbone.set(src, dst, impairment_from_request(backbone, src, dst, body))
        return web.json_response(_view(backbone))

    async def delete(request: web.Request) -> web.Response:
        for src, dst in _pairs(request, backbone, request.query.get("both_ways") == "true"):
            backbone.cancel_timeline(src, dst)
            backbone.clear(src, dst)
        return web.json_response(_view(backbone))

    async def timeline(request: web.Request) -> web.Response:
        body = await _body(request)
        both = bool(body.pop("both_ways", False))
        tl = Timeline.from_dict(body)
        pairs = _pairs(request, backbone, both)
        for src, dst in pairs:  # every step must hold over each direction's impairment, or none runs
            tl.schedule(backbone.impairment(src, dst))
        for src, dst in pairs:
            backbone.run_timeline(src, dst, tl)
        return web.json_response(_view(backbone))

    app.router.add_get("/_emulator/links", show)
    app.router.add_put("/_emulator/links/{src}/{dst}", put)
    app.router.add_delete("/_emulator/links/{src}/{dst}", delete)
    app.router.add_post("/_emulator/links/{src}/{dst}/timeline", timeline)
