"""Admin routes for the console's live view: media preview, thumbnails and live stats.

* ``GET /_emulator/preview/{flow_id}/{role}/{name}.mp4``: fragmented MP4 remuxed (never transcoded)
  from the hub, streamed as it comes (chunked): the init segment (``ftyp`` + ``moov``), then ``moof`` +
  ``mdat`` fragments from a keyframe on. ``Content-Type: video/mp4``; ``X-Codecs`` is the MSE codec
  string (``avc1.64001f,mp4a.40.2``) read from the init segment, so
  ``MediaSource.addSourceBuffer('video/mp4; codecs="' + codecs + '"')`` works as is. ``role`` is
  ``input`` (that input's own hub) or ``output`` (the flow hub: what that output's players get). The
  stream ends when the client goes, the flow stops, or its source leaves or changes (a failover, a
  publisher replaced): the player asks again.
* ``GET /_emulator/thumbnail/{flow_id}/{role}/{name}.jpg``: a JPEG of the next picture decoded from a
  live subscription (starting at a keyframe), at most one decode per second per endpoint: a request
  within a second of the last decode gets that one (``X-Thumbnail-Age-Ms`` says how old it is).
* ``GET /_emulator/stats``: per flow, input and output, bytes, bitrate, the last minute of per-second
  bitrates and the SRT connections' RTT, loss and retransmissions (:mod:`emulator.stats`).

Errors answer ``{"error": "..."}``: 404 for an unknown flow, role or endpoint name (or a path not ending
in ``.mp4`` / ``.jpg``), 409 when the flow is not online or no media came within
:data:`emulator.preview.MEDIA_TIMEOUT_S` (10 s). Like every admin route, these need a signature when
access keys are configured (the middleware of :mod:`emulator.api.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ..model.flow import Role
from ..preview import (
    MEDIA_TIMEOUT_S,
    EndpointNotFound,
    EndpointNotLive,
    MediaSession,
    NoMedia,
    codecs_from_init,
    live_endpoint_hub,
    preview_role,
    split_init,
)
from ..runtime import Runtime
from ..stats import LiveStats
from .errors import ADMIN_PREFIX

__all__ = ["PREVIEW_KEY", "PreviewService", "add_preview_routes"]

logger = logging.getLogger(__name__)

PREVIEW_SNDBUF_BYTES = 256 * 1024
"""Kernel send buffer of a preview's connection (SO_SNDBUF): a viewer that stops reading holds this
much, not the megabytes Linux would grow it to (a few seconds of media at preview bitrates)."""

THUMBNAIL_MIN_INTERVAL_S = 1.0
"""At most one thumbnail decode per endpoint in this many seconds."""


@dataclass(slots=True)
class _Thumbnail:
    jpeg: bytes
    width: int
    height: int
    decoded_at: float


class PreviewService:
    """What the routes share: the runtime, the thumbnail cache, the stats sampler, open streams."""

    def __init__(self, runtime: Runtime, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.clock = clock
        self.media_timeout_s = MEDIA_TIMEOUT_S
        self.stats = LiveStats(runtime, clock=clock)
        self.thumbnail_decodes = 0
        """Thumbnails decoded so far (a request served from the cache does not count)."""
        self._thumbnails: dict[tuple[str, Role, str], _Thumbnail] = {}
        self._decoding: dict[tuple[str, Role, str], asyncio.Future[_Thumbnail]] = {}
        self.sessions: set[MediaSession] = set()
        self.streams: set[asyncio.Task[object]] = set()
        """Open previews' handlers, cancelled at shutdown (one may wait on a viewer that stopped reading)."""

    async def thumbnail(self, flow_id: str, role: Role, name: str) -> tuple[_Thumbnail, bool]:
        """(thumbnail, decoded now) for an endpoint. Raises EndpointNotFound, EndpointNotLive, NoMedia."""
        endpoint = live_endpoint_hub(self.runtime, flow_id, role, name)
        key = (flow_id, role, name)
        cached = self._thumbnails.get(key)
        if cached is not None and self.clock() - cached.decoded_at < THUMBNAIL_MIN_INTERVAL_S:
            return cached, False
        running = self._decoding.get(key)
        if running is not None:  # another request is decoding this endpoint: share its result
            return await asyncio.shield(running), False
        fut: asyncio.Future[_Thumbnail] = asyncio.get_running_loop().create_future()
        self._decoding[key] = fut
        try:
            session = MediaSession(endpoint, f"thumbnail {role}:{name}")
            self.sessions.add(session)
            try:
                async with session:
                    async with asyncio.timeout(self.media_timeout_s):
                        jpeg, width, height = await session.thumbnail()
            except TimeoutError:
                raise NoMedia(f"no picture within {self.media_timeout_s:g} s") from None
            finally:
                self.sessions.discard(session)
            self.thumbnail_decodes += 1
            thumb = self._thumbnails[key] = _Thumbnail(jpeg, width, height, self.clock())
            fut.set_result(thumb)
            return thumb, True
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()  # retrieved: a request that shared it re-raises it
            raise
        finally:
            del self._decoding[key]

    async def close(self) -> None:
        for session in list(self.sessions):
            session.close()
        for task in list(self.streams):
            task.cancel()
        await self.stats.close()


PREVIEW_KEY = web.AppKey("mcemu.preview", PreviewService)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _endpoint(runtime: Runtime, request: web.Request, suffix: str) -> tuple[str, Role, str] | web.Response:
    """The endpoint the path names, or the 404 answer (a bad file name, flow or role)."""
    file = request.match_info["file"]
    if not file.endswith(suffix) or len(file) == len(suffix):
        return _error(404, f"expected {{name}}{suffix}, got {file!r}")
    flow_id = request.match_info["flow_id"]
    try:
        role = preview_role(runtime, flow_id, request.match_info["role"])
    except EndpointNotFound as exc:
        return _error(404, str(exc))
    return flow_id, role, file[: -len(suffix)]


def add_preview_routes(app: web.Application, runtime: Runtime) -> PreviewService:
    """Add the preview, thumbnail and stats routes (see the module docstring) for ``runtime``."""
    service = PreviewService(runtime)
    app[PREVIEW_KEY] = service

    async def shutdown(app: web.Application) -> None:
        await service.close()  # an open preview would hold the server's shutdown

    app.on_shutdown.append(shutdown)

    async def preview(request: web.Request) -> web.StreamResponse:
        where = _endpoint(runtime, request, ".mp4")
        if isinstance(where, web.Response):
            return where
        flow_id, role, name = where
        try:
            endpoint = live_endpoint_hub(runtime, flow_id, role, name)
        except EndpointNotFound as exc:
            return _error(404, str(exc))
        except EndpointNotLive as exc:
            return _error(409, str(exc))
        session = MediaSession(endpoint, f"{role}:{name} for {request.remote}")
        service.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            service.streams.add(task)
        response: web.StreamResponse | None = None
        try:
            async with session:
                chunks = session.stream()
                head = b""
                try:
                    async with asyncio.timeout(service.media_timeout_s):
                        while (size := split_init(head)) is None:
                            head += await anext(chunks)
                except (TimeoutError, StopAsyncIteration):
                    return _error(409, f"no media from {role} {name} within {service.media_timeout_s:g} s")
                response = web.StreamResponse(
                    headers={
                        "Content-Type": "video/mp4",
                        "X-Codecs": codecs_from_init(head[:size]),
                        "Cache-Control": "no-cache, no-store",
                        "X-Accel-Buffering": "no",
                    }
                )
                response.enable_chunked_encoding()
                sock = request.transport.get_extra_info("socket") if request.transport else None
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PREVIEW_SNDBUF_BYTES)
                await response.prepare(request)
                await response.write(head)
                async for chunk in chunks:
                    await response.write(chunk)
                await response.write_eof()
        except (ConnectionError, RuntimeError) as exc:  # the viewer went away
            logger.debug("preview %s to %s ended: %s", session.name, request.remote, exc)
        finally:
            service.sessions.discard(session)
            if task is not None:
                service.streams.discard(task)
        assert response is not None
        return response

    async def thumbnail(request: web.Request) -> web.Response:
        where = _endpoint(runtime, request, ".jpg")
        if isinstance(where, web.Response):
            return where
        try:
            thumb, _fresh = await service.thumbnail(*where)
        except EndpointNotFound as exc:
            return _error(404, str(exc))
        except (EndpointNotLive, NoMedia) as exc:
            return _error(409, str(exc))
        age_ms = max(0, round((service.clock() - thumb.decoded_at) * 1000))
        return web.Response(
            body=thumb.jpeg,
            headers={
                "Content-Type": "image/jpeg",
                "Cache-Control": "no-cache, no-store",
                "X-Thumbnail-Age-Ms": str(age_ms),
                "X-Thumbnail-Size": f"{thumb.width}x{thumb.height}",
            },
        )

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(service.stats.view())

    app.router.add_get(ADMIN_PREFIX + "/preview/{flow_id}/{role}/{file}", preview)
    app.router.add_get(ADMIN_PREFIX + "/thumbnail/{flow_id}/{role}/{file}", thumbnail)
    app.router.add_get(ADMIN_PREFIX + "/stats", stats)
    return service
