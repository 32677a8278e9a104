"""The ICE 2020-11-09 RPC API for MediaConnect, served by aiohttp at ``POST /``.

Transport (what the official SDK sends, ICE-API.md "Transport"):

* Parameters come from the query string and, if present, a form-encoded body (body values win).
  ``Format`` is ignored: responses are always JSON (what every SDK asks for).
* The operation is the ``Action`` parameter or the ``x-acs-action`` header; ``Version`` /
  ``x-acs-version`` must be ``2020-11-09`` when present (decision: an absent version is accepted so
  that ``curl 'http://host:port/?Action=...'`` works).
* Signatures V1 and V3 are checked by :class:`~emulator.api.signature.SignatureVerifier` when access keys
  are configured; by default any key is accepted and nothing is checked.
* Success: HTTP 200 ``{"RequestId", "RetCode": 0, "Description": "OK", "Content"}`` (``Retcode`` for
  GetMediaConnectFlow, as the SDK model reads it); operations without a result send ``"Content": ""``.
* Errors: HTTP 4xx / 5xx ``{"RequestId", "Code", "Message", "HostId", "Recommend"}``. The handlers
  raise :mod:`emulator.errors`; the mapping to status and code is
  :data:`emulator.api.errors.ERROR_CODES` and its middleware, the only place it is made.

Limits: a body over :data:`MAX_BODY_BYTES` (1 MiB) answers 413; a request line or header over aiohttp's
8190 bytes, or anything that is not HTTP, answers 400 and is logged at DEBUG without a traceback.

Authentication of the other routes (:func:`build_app`): with access keys configured, every route but
:data:`OPEN_PATHS` (``/`` checks its own signature; ``/metrics``, ``/_emulator/health`` and the
console's static files under ``/console/`` are open and hold no secret: every call the console makes is
signed) needs a V1 or V3 signature checked by the same :class:`SignatureVerifier`; a refusal
answers the ICE error body above. The access key id that signed (None: unsigned, only possible without
keys) is ``request[SIGNER_KEY]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..errors import InvalidValue, MissingValue, NotFound, UnknownAction, UnsupportedVersion
from ..model.flow import Flow, FlowInput, FlowOutput
from ..model.manager import FlowManager, SrtParams
from .admin import add_admin_routes
from .bodies import MAX_BODY_BYTES, read_body
from .errors import (
    ERROR_CODES,
    REQUEST_ID_KEY,
    error_code,
    error_middleware,
    json_response,
    new_request_id,
)
from .keys import MANAGER_KEY, SIGNER_KEY, VERIFIER_KEY, is_signed
from .signature import ReceivedRequest, SignatureVerifier

__all__ = [
    "API_VERSION",
    "ERROR_CODES",
    "MANAGER_KEY",
    "MAX_BODY_BYTES",
    "OPEN_PATHS",
    "OPERATIONS",
    "SIGNER_KEY",
    "VERIFIER_KEY",
    "ApiServer",
    "Params",
    "build_app",
    "error_code",
    "is_signed",
    "read_body",
]

logger = logging.getLogger(__name__)

API_VERSION = "2020-11-09"

OPEN_PATHS = frozenset({"/", "/metrics", "/_emulator/health", "/console", "/console/"})
"""Routes the signature middleware lets through (``/`` verifies its own signature)."""

LISTEN_BACKLOG = 1024
"""Pending TCP connections the API's socket queues (aiohttp's default 128 overflowed under a burst of
2,000 connects: one health check waited 1 s for the kernel's SYN retry)."""

_INTEGER_RE = re.compile(r"-?[0-9]{1,19}")


class Params:
    """The request's parameters (all strings on the wire), decoded on demand into typed values."""

    _TRUE = frozenset({"true", "1", "yes"})
    _FALSE = frozenset({"false", "0", "no", ""})

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def text(self, name: str) -> str | None:
        return self.values.get(name)

    def integer(self, name: str) -> int | None:
        """None when absent or empty; InvalidValue naming ``name`` when not a decimal integer."""
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return None
        if not _INTEGER_RE.fullmatch(raw.strip()):
            raise InvalidValue(name, f"{raw!r} is not an integer")
        return int(raw.strip())

    def flag(self, name: str) -> bool:
        raw = self.values.get(name)
        if raw is None:
            return False
        low = raw.strip().lower()
        if low in self._TRUE:
            return True
        if low in self._FALSE:
            return False
        raise InvalidValue(name, f"{raw!r} is not true or false")


# --- Content builders (keys exactly as the SDK models read them) -----------------------------------


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _without_none(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if v is not None}


def flow_content(flow: Flow) -> dict[str, Any]:
    return _without_none(
        {
            "FlowId": flow.id,
            "FlowName": flow.name,
            "FlowRegion": flow.region.id,
            "FlowStatus": flow.status.value,
            "CreateTime": flow.create_time,
            "StartTime": flow.start_time or None,
            "FlowFailover": _yes_no(flow.failover_open),
        }
    )


def _input_fields(manager: FlowManager, flow: Flow, inp: FlowInput, prefix: str) -> dict[str, Any]:
    srt = inp.srt_latency is not None
    fields: dict[str, Any] = {
        "InputName": inp.name,
        "InputProtocol": inp.protocol.value,
        "InputUrl": inp.url,
        "InnerInputUrl": inp.inner_url or None,
        "InputStatus": manager.input_status(flow, inp),
        "MaxBitrate": inp.max_bitrate,
        "Cidrs": inp.cidrs,
        "CreateTime": inp.create_time,
        "PairFlowId": inp.pair_flow_id or None,
        "PairOutputName": inp.pair_output_name or None,
        "SrtLatency": inp.srt_latency if srt else None,
        "SrtPassphrase": inp.srt_passphrase if srt else None,
        "SrtPbkeyLen": inp.srt_pbkeylen if srt else None,
    }
    if prefix:
        # The SDK model has Backup twins of these fields only (no protocol or pair: same as the primary's).
        twins = {
            "InputName",
            "InputUrl",
            "InnerInputUrl",
            "InputStatus",
            "MaxBitrate",
            "Cidrs",
            "CreateTime",
            "SrtLatency",
            "SrtPassphrase",
            "SrtPbkeyLen",
        }
        fields = {prefix + k: v for k, v in fields.items() if k in twins}
    return _without_none(fields)


def input_content(manager: FlowManager, flow: Flow) -> dict[str, Any]:
    primary, backup = flow.primary_input, flow.backup_input
    if primary is None:
        raise NotFound("FlowId", f"flow {flow.id} has no input")
    content = _input_fields(manager, flow, primary, "")
    if backup is not None:
        content.update(_input_fields(manager, flow, backup, "Backup"))
    return content


def output_content(out: FlowOutput) -> dict[str, Any]:
    srt = out.srt_latency is not None
    return _without_none(
        {
            "OutputName": out.name,
            "OutputProtocol": out.protocol.value,
            "OutputUrl": out.url,
            "Cidrs": out.cidrs,
            "CreateTime": out.create_time,
            "Forbid": _yes_no(out.forbid),
            "PairFlowId": out.pair_flow_id or None,
            "PairInputName": out.pair_input_name or None,
            "PlayerLimit": out.player_limit,
            "SrtLatency": out.srt_latency if srt else None,
            "SrtPassphrase": out.srt_passphrase if srt else None,
            "SrtPbkeyLen": out.srt_pbkeylen if srt else None,
        }
    )


# --- operations --------------------------------------------------------------------------------------

Handler = Callable[[FlowManager, Params], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Operation:
    handler: Handler
    retcode_key: str = "RetCode"


async def _create_flow(m: FlowManager, p: Params) -> Any:
    flow = m.create_flow(name=p.text("FlowName"), region=p.text("FlowRegion"))
    return {"FlowId": flow.id}


async def _get_flow(m: FlowManager, p: Params) -> Any:
    return flow_content(m.get_flow(p.text("FlowId")))


async def _delete_flow(m: FlowManager, p: Params) -> Any:
    m.delete_flow(p.text("FlowId"))
    return ""


async def _update_status(m: FlowManager, p: Params) -> Any:
    await m.set_status(p.text("FlowId"), p.text("Status"))
    return ""


def _srt(p: Params) -> SrtParams:
    """The Srt* parameters, alike on every add and update of an input or output."""
    return SrtParams(
        srt_latency=p.integer("SrtLatency"),
        srt_passphrase=p.text("SrtPassphrase"),
        srt_pbkeylen=p.integer("SrtPbkeyLen"),
    )


async def _add_input(m: FlowManager, p: Params) -> Any:
    inp = m.add_input(
        p.text("FlowId"),
        name=p.text("InputName"),
        protocol=p.text("InputProtocol"),
        cidrs=p.text("Cidrs"),
        from_url=p.text("InputFromUrl"),
        max_bitrate=p.integer("MaxBitrate"),
        pair_flow_id=p.text("PairFlowId"),
        pair_output_name=p.text("PairOutputName"),
        **_srt(p),
        with_internal_vip=p.flag("WithInternalVip"),
    )
    return _without_none({"InputUrl": inp.url, "InnerInputUrl": inp.inner_url or None})


async def _get_input(m: FlowManager, p: Params) -> Any:
    return input_content(m, m.get_flow(p.text("FlowId")))


async def _update_input(m: FlowManager, p: Params) -> Any:
    m.update_input(
        p.text("FlowId"),
        name=p.text("InputName"),
        cidrs=p.text("Cidrs"),
        from_url=p.text("InputFromUrl"),
        max_bitrate=p.integer("MaxBitrate"),
        **_srt(p),
    )
    return ""


async def _delete_input(m: FlowManager, p: Params) -> Any:
    m.delete_input(p.text("FlowId"), p.text("InputName"))
    return ""


async def _add_output(m: FlowManager, p: Params) -> Any:
    out = m.add_output(
        p.text("FlowId"),
        name=p.text("OutputName"),
        protocol=p.text("OutputProtocol"),
        to_url=p.text("OutputToUrl"),
        pair_flow_id=p.text("PairFlowId"),
        pair_input_name=p.text("PairInputName"),
        player_limit=p.integer("PlayerLimit"),
        cidrs=p.text("Cidrs"),
        **_srt(p),
    )
    return {"OutputUrl": out.url}


async def _get_output(m: FlowManager, p: Params) -> Any:
    return output_content(m.get_output(p.text("FlowId"), p.text("OutputName")))


async def _update_output(m: FlowManager, p: Params) -> Any:
    m.update_output(
        p.text("FlowId"),
        p.text("OutputName"),
        cidrs=p.text("Cidrs"),
        to_url=p.text("OutputToUrl"),
        player_limit=p.integer("PlayerLimit"),
        **_srt(p),
    )
    return ""


async def _delete_output(m: FlowManager, p: Params) -> Any:
    m.delete_output(p.text("FlowId"), p.text("OutputName"))
    return ""


async def _forbid_output(m: FlowManager, p: Params) -> Any:
    m.forbid_output(p.text("FlowId"), p.text("OutputName"))
    return ""


async def _resume_output(m: FlowManager, p: Params) -> Any:
    m.resume_output(p.text("FlowId"), p.text("OutputName"))
    return ""


async def _open_failover(m: FlowManager, p: Params) -> Any:
    m.open_failover(p.text("FlowId"))
    return ""


async def _close_failover(m: FlowManager, p: Params) -> Any:
    m.close_failover(p.text("FlowId"))
    return ""


async def _all_output_names(m: FlowManager, p: Params) -> Any:
    return m.output_names(p.text("FlowId"))


async def _available_regions(m: FlowManager, p: Params) -> Any:
    return {"RegionList": m.regions.ids, "DefaultRegion": m.regions.get_default().id}


#: Action -> operation, the 18 operations of ICE-API.md.
OPERATIONS: dict[str, Operation] = {
    "CreateMediaConnectFlow": Operation(_create_flow),
    "GetMediaConnectFlow": Operation(_get_flow, "Retcode"),
    "DeleteMediaConnectFlow": Operation(_delete_flow),
    "UpdateMediaConnectFlowStatus": Operation(_update_status),
    "AddMediaConnectFlowInput": Operation(_add_input),
    "GetMediaConnectFlowInput": Operation(_get_input),
    "UpdateMediaConnectFlowInput": Operation(_update_input),
    "DeleteMediaConnectFlowInput": Operation(_delete_input),
    "AddMediaConnectFlowOutput": Operation(_add_output),
    "GetMediaConnectFlowOutput": Operation(_get_output),
    "UpdateMediaConnectFlowOutput": Operation(_update_output),
    "DeleteMediaConnectFlowOutput": Operation(_delete_output),
    "ForbidMediaConnectFlowOutput": Operation(_forbid_output),
    "ResumeMediaConnectFlowOutput": Operation(_resume_output),
    "OpenMediaConnectFlowFailover": Operation(_open_failover),
    "CloseMediaConnectFlowFailover": Operation(_close_failover),
    "GetMediaConnectFlowAllOutputName": Operation(_all_output_names),
    "GetMediaConnectAvailableRegion": Operation(_available_regions),
}


# --- HTTP ------------------------------------------------------------------------------------------


def received_request(
    request: web.Request, body: bytes, form: Mapping[str, str] | None = None
) -> ReceivedRequest:
    """What the verifier checks: method, the path as sent, the decoded query, headers, body, form."""
    return ReceivedRequest(
        method=request.method,
        path=request.rel_url.raw_path,
        query={k: request.query.getone(k) for k in request.query},
        headers=tuple(request.headers.items()),
        body=body,
        form=form or {},
    )


@web.middleware
async def _require_signature(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every route but OPEN_PATHS needs a signature the verifier accepts (see the module docstring).
    A refusal is raised (AuthError, RequestTooLarge) and answered by :mod:`emulator.api.errors`."""
    info = request.match_info
    resource = info.route.resource
    if info.http_exception is not None or resource is None or resource.canonical in OPEN_PATHS:
        return await handler(request)
    body = await read_body(request)
    signer = request.app[VERIFIER_KEY].verify(received_request(request, body))
    if signer is not None:
        request[SIGNER_KEY] = signer
    return await handler(request)


async def _rpc(request: web.Request) -> web.Response:
    request_id = request[REQUEST_ID_KEY] = new_request_id()
    body = await read_body(request)
    form: dict[str, str] = {}
    if body and request.content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    query = {k: request.query.getone(k) for k in request.query}
    request.app[VERIFIER_KEY].verify(received_request(request, body, form))
    params = {**query, **form}
    action = params.get("Action") or request.headers.get("x-acs-action")
    if not action:
        raise MissingValue("Action")
    version = params.get("Version") or request.headers.get("x-acs-version")
    if version and version != API_VERSION:
        raise UnsupportedVersion(f"Specified parameter Version {version!r} is not valid; use {API_VERSION}")
    op = OPERATIONS.get(action)
    if op is None:
        raise UnknownAction(f"Specified api is not found, please check your url and method: {action}")
    content = await op.handler(request.app[MANAGER_KEY], Params(params))
    logger.debug("request %s %s ok", request_id, action)
    return json_response(
        200, {"RequestId": request_id, op.retcode_key: 0, "Description": "OK", "Content": content}
    )


def build_app(
    manager: FlowManager,
    *,
    access_keys: Mapping[str, str] | None = None,
    extra_state: Callable[[], Any] | None = None,
    secrets: Callable[[], Iterable[str]] | None = None,
) -> web.Application:
    """The aiohttp application: the ICE RPC API at ``/`` and the admin API under ``/_emulator/``.

    ``access_keys`` (``{access_key_id: secret}``) turns signature checks on. ``extra_state`` returns a
    dict (or an awaitable of one) merged into ``GET /_emulator/state``; ``secrets`` returns more strings
    that an unsigned state reader must not see. More routes may be added to the returned application
    before it is started: the signature middleware covers them too (all but :data:`OPEN_PATHS`), and so
    does the error middleware of :mod:`emulator.api.errors` (raise a domain error, it is answered).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[error_middleware, _require_signature])
    app[MANAGER_KEY] = manager
    app[VERIFIER_KEY] = SignatureVerifier(access_keys)
    app.router.add_route("POST", "/", _rpc)
    app.router.add_route("GET", "/", _rpc)
    add_admin_routes(app, extra_state=extra_state, secrets=secrets)
    return app


_AIOHTTP_SERVER_LOG = logging.getLogger("aiohttp.server")


class _ProtocolErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, except that a request it could not parse (bad or over-long request line
    or header, TLS or other non-HTTP bytes) is one DEBUG line, not an ERROR traceback: aiohttp has already
    answered 400 and closed that connection, and a client can send as many as it likes."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            text = str(exc.message)
            self.logger.debug(
                "bad HTTP request refused with %s: %s: %s",
                exc.code,
                type(exc).__name__,
                text[:200] + ("..." if len(text) > 200 else ""),
            )
            return
        super().log(level, msg, *args, **kwargs)


class ApiServer:
    """Serve :func:`build_app` (or ``app``) on ``host:port`` (port 0: ephemeral) as an async context manager.

    ``port`` is the real bound port once started; ``endpoint`` is ``"host:port"`` for the SDK's Config.
    """

    def __init__(
        self,
        manager: FlowManager,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_keys: Mapping[str, str] | None = None,
        extra_state: Callable[[], Any] | None = None,
        app: web.Application | None = None,
    ) -> None:
        self.manager = manager
        self.host = host
        self.port = port
        self.app = (
            app if app is not None else build_app(manager, access_keys=access_keys, extra_state=extra_state)
        )
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, logger=_ProtocolErrorLog(_AIOHTTP_SERVER_LOG)
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=LISTEN_BACKLOG)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        logger.info("ICE API listening on %s", self.url)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
