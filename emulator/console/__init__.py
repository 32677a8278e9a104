"""The browser console at ``/console/`` on the API port: static HTML, CSS and JavaScript modules.

The pages follow the seed's walkthrough in its own words (Flows, Create Flow, Add Source Stream, the
Outputs tab, Start on the Status panel) and add what the real console lacks: live state, in-page preview
and the backbone. The console is a client of the public APIs only, as any other client is: flows
through the ICE RPC API at ``/``, links, events, state, stats and previews through the admin API under
``/_emulator/``. It has no route of its own besides its files: with ``access_keys`` configured the
files are served to anyone (they hold nothing secret) and every call the page makes is signed (V3, in
the browser) with the AccessKey pair the user types in.

:func:`add_console_routes` serves :data:`STATIC_DIR`: ``GET /console`` redirects to ``/console/``,
``GET /console/`` is ``index.html`` (with a Content-Security-Policy that allows nothing but this
origin: nothing is fetched from elsewhere at run time), every other file under ``/console/`` as it is.
"""

from __future__ import annotations

import pathlib

from aiohttp import web

__all__ = ["CONSOLE_PATH", "CSP", "STATIC_DIR", "add_console_routes"]

STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
"""The console's files (package data)."""

CONSOLE_PATH = "/console/"
"""Where the console is served on the API port."""

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""The index page's Content-Security-Policy: this origin only (no CDN, no inline script)."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(CONSOLE_PATH)


def add_console_routes(app: web.Application) -> None:
    """Serve the console's files at ``/console/`` (see the module docstring)."""
    app.router.add_get(CONSOLE_PATH.rstrip("/"), _redirect)
    app.router.add_get(CONSOLE_PATH, _index)
    app.router.add_static(CONSOLE_PATH, STATIC_DIR, append_version=False)
