"""``mcemu``: run the emulator and talk to a running one.

* ``mcemu up [--topology FILE] [--api-port N] [--api-host H]``: run everything in the foreground with the
  built-in default topology (or FILE), print the URLs to push to and play from, then a status line for a
  flow only when its status, input status or players change; Ctrl-C (SIGINT) or SIGTERM shuts down
  cleanly, a second one exits at once. A closed stdout (``mcemu up | head -3``) never stops it: the rest
  of its output goes nowhere and it keeps serving until told to stop.
* ``mcemu flows [--json]``: the flows of a running emulator, their live state and every URL;
  ``mcemu urls [--json]``: every URL to push to or play from, one per line (the URL last);
  ``mcemu url FLOW ENDPOINT``: one of them, bare; ``mcemu state``: the whole ``/_emulator/state`` as
  JSON; ``mcemu reset``: every flow stopped and deleted.
* ``mcemu link show`` / ``mcemu link set FROM TO [--profile P] [--delay-ms ..] [--loss-pct ..] ...``
  / ``mcemu link clear FROM TO`` / ``mcemu link timeline FROM TO FILE``: backbone impairments at run time.
* ``mcemu lastmile show`` / ``mcemu lastmile set FLOW input|output NAME [--profile P] [--delay-ms ..]
  [--loss-pct ..] [--direction to_region|from_region|both]`` / ``mcemu lastmile clear FLOW
  input|output NAME``: last-mile impairments per endpoint (``set`` prints the impaired URL).
* ``mcemu probe URL [--duration S]``: read an rtmp:// or srt:// URL and print what arrived; when nothing
  arrived, one line saying why (the server's refusal when it gave one) and exit status 1.
* ``mcemu signal URL [--duration S]``: publish the numbered test signal to a URL.

A FLOW is a FlowId, ``region/name`` (``ap-southeast-1/DemoRtmpA``) or a name that only one region has.
Every option may come before or after the subcommand (``mcemu up --log-level DEBUG``).
Commands that talk to a running emulator take ``--api`` (default ``127.0.0.1:8080``; the scheme
``http://`` may be left out, as the banner of ``mcemu up`` prints it) and sign every request with
ACS3-HMAC-SHA256 (:func:`emulator.api.signature.sign_v3`: method, path, query, every header sent and the
body's SHA-256) using ``--access-key-id`` / ``--access-key-secret``, else ``ALIBABA_CLOUD_ACCESS_KEY_ID``
/ ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, else the fallback key :data:`PLACEHOLDER_KEY` (which an emulator
without ``access_keys`` accepts, as it accepts any key). A refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any

import yaml

from .errors import ConfigError

__all__ = ["ENV_ACCESS_KEY_ID", "ENV_ACCESS_KEY_SECRET", "PLACEHOLDER_KEY", "main", "version"]

DEFAULT_API = "127.0.0.1:8080"
ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
PLACEHOLDER_KEY = ("mcemu", "mcemu")
"""(id, secret) the CLI signs with when no key is given."""
_KEY_HINT = (
    f"set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or pass --access-key-id and --access-key-secret"
)
DEFAULT_STATUS_EVERY_S = 1.0
"""``mcemu up``: seconds between looks for a change worth a status line."""
CLOSE_TIMEOUT_S = 30.0
"""``mcemu up``: a shutdown that takes longer than this exits anyway (the OS frees every port)."""


def version() -> str:
    """The installed package's version (``unknown`` when run from a tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("mcemu")
    except PackageNotFoundError:
        return "unknown"


# -- output that never raises -----------------------------------------------------------------------
def _silence(stream: IO[str]) -> None:
    """Point ``stream``'s file descriptor at /dev/null: its reader has gone (``| head -3``), and what
    is still buffered or written later must neither raise nor stop anything."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _say(text: str, *, err: bool = False) -> None:
    """One line on stdout (or stderr), flushed; a closed pipe silences the stream instead of raising."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(text, file=stream, flush=True)
    except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
        _silence(stream)


class _LogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr logging that goes quiet, instead of printing a traceback per record, once stderr is gone."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            _silence(self.stream)
            return
        super().handleError(record)


# -- the command line -------------------------------------------------------------------------------
def _log_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    # SUPPRESS below the top: a subcommand's --log-level sets the value only when given, so the one
    # before the subcommand (or the default) stands otherwise.
    p.add_argument(
        "--log-level",
        default="INFO" if top else argparse.SUPPRESS,
        help="DEBUG, INFO, WARNING or ERROR (default INFO)",
    )


def _api_options(p: argparse.ArgumentParser) -> None:
    """``--api`` and the access key flags of every command that talks to a running emulator."""
    p.add_argument(
        "--api", default=DEFAULT_API, help=f"the emulator's API, host:port or a URL (default {DEFAULT_API})"
    )
    p.add_argument("--access-key-id", help=f"access key id to sign with (default ${ENV_ACCESS_KEY_ID})")
    p.add_argument("--access-key-secret", help=f"its secret (default ${ENV_ACCESS_KEY_SECRET})")


def _impairment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="a named profile, see mcemu link profiles (default none)")
    units = {
        "delay-ms": "one-way delay, ms",
        "jitter-ms": "jitter, ms",
        "loss-pct": "packet loss, %%",
        "duplicate-pct": "duplicated packets, %%",
        "reorder-pct": "reordered packets, %%",
        "rate-kbps": "bandwidth cap, kbit/s",
    }
    for name, what in units.items():
        p.add_argument(f"--{name}", type=float, help=f"{what} (default: unchanged, or the profile's)")
    p.add_argument(
        "--loss-model", choices=["bernoulli", "gilbert-elliott"], help="how losses fall (default bernoulli)"
    )
    p.add_argument("--jitter-distribution", choices=["uniform", "normal", "pareto"], help="(default uniform)")
    p.add_argument("--outage", action="store_true", help="drop (UDP) or stall (TCP) everything (default off)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any Impairment field, repeatable (default none)",
    )


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mcemu",
        description="A local Alibaba Cloud MediaConnect emulator. Options may also follow the subcommand.",
    )
    _log_options(p, top=True)
    p.add_argument("--version", action="version", version=f"mcemu {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    _log_options(common, top=False)

    def command(parent: Any, name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, help=text, description=text, parents=[common]
        )
        return parser

    up = command(sub, "up", "run the emulator in the foreground")
    up.add_argument("--topology", help="YAML/JSON topology file (default: the built-in demo topology)")
    up.add_argument(
        "--api-port",
        type=int,
        help="port of the ICE API (default: the topology's, else 8080; 0: any free port)",
    )
    up.add_argument("--api-host", help="address of the ICE API (default: the topology's, else 127.0.0.1)")
    up.add_argument(
        "--state",
        metavar="FILE",
        help="keep the state in FILE: loaded at start when it exists (instead of the topology's flows and "
        "links), saved on every change; FlowIds, URLs and stream keys survive a restart (default: none)",
    )
    up.add_argument(
        "--status-every",
        type=float,
        default=DEFAULT_STATUS_EVERY_S,
        help="seconds between looks for a change in a flow's status, input status or players; a status "
        f"line is printed only on a change (default {DEFAULT_STATUS_EVERY_S:g}; 0: no status lines)",
    )

    flows = command(sub, "flows", "the flows of a running emulator, with their URLs")
    flows.add_argument("--json", action="store_true", help="print them as JSON (default: text)")
    _api_options(flows)
    urls = command(sub, "urls", "every URL to push to or play from, one per line (the URL last)")
    urls.add_argument("--json", action="store_true", help="print them as JSON (default: text)")
    _api_options(urls)
    url = command(sub, "url", "the URL of one input or output, bare (for scripts)")
    url.add_argument("flow", metavar="FLOW", help="FlowId, region/name or a name")
    url.add_argument("endpoint", metavar="ENDPOINT", help="an input or output name of the flow")
    _api_options(url)

    state = command(sub, "state", "the whole /_emulator/state of a running emulator, as JSON")
    _api_options(state)
    state_sub = state.add_subparsers(dest="state_command", parser_class=_Parser)
    _api_options(command(state_sub, "show", "the whole /_emulator/state, as JSON (the default)"))
    export = command(state_sub, "export", "the state to keep (flows, keys, ports, links), as JSON")
    export.add_argument("--topology", action="store_true", help="as a topology YAML instead (default JSON)")
    export.add_argument("--output", "-o", metavar="FILE", help="write it to FILE (default: stdout)")
    _api_options(export)
    load = command(state_sub, "import", "replace every flow, link and impairment with a state file's")
    load.add_argument("file", metavar="FILE", help="a file written by mcemu state export (JSON)")
    _api_options(load)
    reset = command(sub, "reset", "stop and delete every flow of a running emulator")
    _api_options(reset)

    link = command(sub, "link", "backbone impairments of a running emulator")
    link_sub = link.add_subparsers(dest="link_command", required=True, parser_class=_Parser)
    show = command(link_sub, "show", "impairments in force and live links")
    _api_options(show)
    setp = command(link_sub, "set", "impair FROM -> TO from now on")
    setp.add_argument("src", metavar="FROM", help="a region id")
    setp.add_argument("dst", metavar="TO", help="a region id")
    _api_options(setp)
    setp.add_argument("--both-ways", action="store_true", help="also TO -> FROM (default off)")
    _impairment_options(setp)
    clear = command(link_sub, "clear", "back to the catalogue latency")
    clear.add_argument("src", metavar="FROM")
    clear.add_argument("dst", metavar="TO")
    _api_options(clear)
    clear.add_argument("--both-ways", action="store_true", help="also TO -> FROM (default off)")
    tl = command(link_sub, "timeline", "run a timeline file (YAML/JSON list of steps) on FROM -> TO")
    tl.add_argument("src", metavar="FROM")
    tl.add_argument("dst", metavar="TO")
    tl.add_argument("file")
    _api_options(tl)
    tl.add_argument("--both-ways", action="store_true", help="also TO -> FROM (default off)")
    command(link_sub, "profiles", "the named impairment profiles")

    lm = command(sub, "lastmile", "last-mile impairments per input or output")
    lm_sub = lm.add_subparsers(dest="lastmile_command", required=True, parser_class=_Parser)
    lm_show = command(lm_sub, "show", "endpoints with a last-mile impairment")
    _api_options(lm_show)
    for cmd in ("set", "clear"):
        lp = command(lm_sub, cmd, "impair an endpoint" if cmd == "set" else "stop impairing it")
        lp.add_argument("flow_id", metavar="FLOW", help="FlowId, region/name or a name")
        lp.add_argument("role", choices=["input", "output"])
        lp.add_argument("name", metavar="NAME", help="the input's or output's name")
        _api_options(lp)
        if cmd == "set":
            _impairment_options(lp)
            lp.add_argument(
                "--direction",
                choices=["to_region", "from_region", "both"],
                default="both",
                help="to_region: client -> region; from_region: region -> client (default both)",
            )

    probe = command(
        sub,
        "probe",
        "read a URL and report what arrived (SRT options in the URL: ?passphrase=...&latency=...)",
    )
    probe.add_argument("url")
    probe.add_argument("--duration", type=float, default=5.0, help="seconds to read (default 5)")
    probe.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the first media (default 10)"
    )
    probe.add_argument("--json", action="store_true", help="print the result as JSON (default: text)")

    sig = command(sub, "signal", "publish the numbered test signal to a URL")
    sig.add_argument("url")
    sig.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    sig.add_argument("--hevc", action="store_true", help="HEVC instead of H.264 (default H.264)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(
            f"mcemu: --log-level {args.log_level!r}: expected DEBUG, INFO, WARNING or ERROR", file=sys.stderr
        )
        return 2
    handler = _LogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "flows":
            return _flows(args)
        if args.command == "urls":
            return _urls(args)
        if args.command == "url":
            return _url(args)
        if args.command == "state":
            return _state(args)
        if args.command == "reset":
            _request(args, "POST", "/_emulator/reset")
            _say("every flow stopped and deleted")
            return 0
        if args.command == "link":
            return _link(args)
        if args.command == "lastmile":
            return _lastmile(args)
        if args.command == "probe":
            return _probe(args)
        if args.command == "signal":
            return _signal(args)
    except ConfigError as exc:
        print(f"mcemu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


# -- up ---------------------------------------------------------------------------------------------
def _up(args: argparse.Namespace) -> int:
    from .topology import DEFAULT_TOPOLOGY, Topology, load_topology

    topology = load_topology(args.topology) if args.topology else Topology.from_dict(DEFAULT_TOPOLOGY)
    if args.api_host:
        topology.api_host = args.api_host
    if not topology.access_keys and not _is_loopback(topology.api_host):
        _say(
            f"mcemu: warning: the API listens on {topology.api_host} without access_keys: anyone who can "
            "reach it can change or delete every flow and read every stream key (set access_keys in the "
            "topology)",
            err=True,
        )
    from .loop import run

    return run(_run_up(topology, args.api_port, args.status_every, state_file=args.state))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


_BIND_ADDRESS = re.compile(r"on address \('([^']*)', (\d+)\)")


def _port_clash(exc: OSError, topology: Any, api_port: int | None) -> str:
    """One line for a listener that could not bind, naming the way out."""
    text = " ".join(str(exc).split())
    if exc.errno != errno.EADDRINUSE and "address already in use" not in text:
        return f"mcemu: cannot listen: {text}"
    found = _BIND_ADDRESS.search(text)
    where = f"{found.group(1)}:{found.group(2)}" if found else "an address"
    api = topology.api_port if api_port is None else api_port
    # Where another mcemu's API would be: this one's port, else the topology's, else the default.
    api_addr = f"{topology.api_host}:{api or topology.api_port or 8080}"
    if found and found.group(1) == topology.api_host and int(found.group(2)) == api:
        way = "or give the API another port: --api-port N (0: any free port)"
    else:
        way = (
            "or give the regions other ports: a topology (--topology FILE) with rtmp_port, srt_port_min "
            "and srt_port_max (0: any free port), see emulator/topology.py"
        )
    return (
        f"mcemu: cannot listen on {where}: address already in use; another mcemu may be running "
        f"(see mcemu state --api {api_addr}), {way}"
    )


async def _run_up(
    topology: Any, api_port: int | None, status_every: float, *, state_file: str | None = None
) -> int:
    from .app import Emulator

    started = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int, _frame: Any) -> None:
        # A plain signal handler, not the loop's: it runs even while the loop is busy, so a second
        # Ctrl-C (or SIGTERM) exits at once whatever the first one's shutdown is doing.
        nonlocal signals
        signals += 1
        if signals > 1:
            os._exit(128 + signum)
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    emu = Emulator(topology, api_port=api_port, state_file=state_file)
    try:
        await emu.start()  # a signal meanwhile sets stop: the loop below then ends at once
    except BaseException as exc:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not isinstance(exc, OSError):
            raise
        _say(_port_clash(exc, topology, api_port), err=True)
        return 1
    try:
        _banner(emu, time.monotonic() - started)
        status = _StatusLines(emu)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), status_every if status_every > 0 else None)
            if not stop.is_set() and status_every > 0:
                status.update()
    finally:
        # Close first, print after: a note that cannot be written must never keep the ports.
        note = loop.call_later(
            1.0, lambda: _say("mcemu: shutting down (Ctrl-C again to exit at once)", err=True)
        )
        try:
            await asyncio.wait_for(emu.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            _say(f"mcemu: shutdown took over {CLOSE_TIMEOUT_S:g} s; exiting anyway", err=True)
            os._exit(1)
        finally:
            note.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _say("mcemu: stopped")
    return 0


def _banner(emu: Any, took_s: float) -> None:
    _say(f"mcemu {version()} is up in {took_s:.2f} s")
    _say(f"  ICE API: http://{emu.endpoint}/   (SDK: Config(endpoint='{emu.endpoint}', protocol='http'))")
    _say(f"  admin:   http://{emu.endpoint}/_emulator/state")
    _say(f"  metrics: http://{emu.endpoint}/metrics")
    _say(f"  console: http://{emu.endpoint}/console/")
    for region in emu.regions:
        host, port = emu.runtime.rtmp_address(region)
        _say(f"  region {region.id:<15} {region.name:<15} rtmp://{host}:{port}/live/...")
    for flow, role, url in emu.urls():
        _say(f"  {flow:<30} {role:<24} {url}")
    api = "" if emu.endpoint == DEFAULT_API else f" --api {emu.endpoint}"
    _say(f"URLs again: mcemu urls{api}. Ctrl-C to stop.")


class _StatusLines:
    """A line per flow whose status, input status or player count changed since the last look."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.seen: dict[str, tuple[str, ...]] = {}

    def update(self) -> None:
        emu = self.emu
        live = emu.runtime.snapshot().get("flows", {})
        now: dict[str, tuple[str, ...]] = {}
        names: dict[str, str] = {}
        for flow in emu.manager.flows:
            names[flow.id] = f"{flow.region.id}/{flow.name}"
            inputs = ", ".join(
                f"input {inp.name} {emu.manager.input_status(flow, inp)}" for inp in flow.inputs
            )
            outputs = live.get(flow.id, {}).get("outputs", {})
            players = sum(int(o.get("players") or 0) for o in outputs.values())
            now[flow.id] = (flow.status.value, inputs, f"{players} players")
        for fid, row in now.items():
            if self.seen.get(fid) != row:
                status, ins, count = row
                _say(f"  [{names[fid]}] {status}" + (f", {ins}" if ins else "") + f", {count}")
        for fid in self.seen.keys() - now.keys():
            _say(f"  [flow {fid}] deleted")
        self.seen = now


# -- talking to a running emulator ------------------------------------------------------------------
def _api_url(api: str) -> str:
    """``--api`` as a URL: ``127.0.0.1:8080`` (as the banner prints it) means ``http://127.0.0.1:8080``."""
    text = api.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"mcemu: --api {api!r} is not host:port or an http:// URL")
    return text


def _credentials(args: argparse.Namespace) -> tuple[str, str, bool]:
    """(access key id, secret, given): flags, else the environment, else :data:`PLACEHOLDER_KEY`."""
    key_id = args.access_key_id or os.environ.get(ENV_ACCESS_KEY_ID) or ""
    secret = args.access_key_secret or os.environ.get(ENV_ACCESS_KEY_SECRET) or ""
    if bool(key_id) != bool(secret):
        raise SystemExit(f"mcemu: an access key needs both its id and its secret: {_KEY_HINT}")
    if not key_id:
        return *PLACEHOLDER_KEY, False
    return key_id, secret, True


def _request(
    args: argparse.Namespace, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> Any:
    """One signed admin API call; the decoded JSON answer. Exits with one line on any failure."""
    from .api.signature import encoded_query, sign_v3

    api = _api_url(str(args.api))
    parts = urllib.parse.urlsplit(api)
    key_id, secret, given = _credentials(args)
    path = parts.path.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"host": parts.netloc, "accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    headers = sign_v3(
        method=method,
        path=path,
        query=query or {},
        headers=headers,
        body=data,
        access_key_id=key_id,
        secret=secret,
    )
    url = f"{parts.scheme}://{parts.netloc}{path}{encoded_query(query or {})}"
    req = urllib.request.Request(url, data=data if body is not None else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"mcemu: {method} {path}: {_refusal(exc, given)}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"mcemu: cannot reach the emulator at {api}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # a reset connection, a non-JSON answer
        raise SystemExit(f"mcemu: {method} {path}: {type(exc).__name__}: {exc}") from None


_AUTH_CODES = frozenset(
    {
        "IncompleteSignature",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
        "InvalidTimeStamp.Format",
        "InvalidTimeStamp.Expired",
        "SignatureNonceUsed",
    }
)


def _refusal(exc: urllib.error.HTTPError, key_given: bool) -> str:
    """One line for an HTTP error answer: ``HTTP 404 InvalidAccessKeyId.NotFound: ...``."""
    raw = exc.read().decode(errors="replace")
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "Code" in doc:
        text = f"HTTP {exc.code} {doc['Code']}: {doc.get('Message', '')}"
        if doc["Code"] in _AUTH_CODES:
            text = text.split(" server string to sign")[0]  # the canonical request: not one line
            text += f" (no access key given: {_KEY_HINT})" if not key_given else ""
    elif isinstance(doc, dict) and "error" in doc:
        text = f"HTTP {exc.code}: {doc['error']}"
    else:
        text = f"HTTP {exc.code}: {raw}"
    line = " ".join(text.split())
    return line if len(line) <= 400 else line[:397] + "..."


def _path(*segments: str) -> str:
    """``/_emulator/<segments>``, each percent-encoded (a name may hold any character)."""
    from .api.signature import percent_encode

    return "/_emulator/" + "/".join(percent_encode(s) for s in segments)


def _flow_views(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(every flow as ``/_emulator/state`` shows it, live counters per FlowId)."""
    state = _request(args, "GET", "/_emulator/state")
    flows = state.get("flows", [])
    if isinstance(flows, dict):
        flows = list(flows.values())
    return list(flows), dict(state.get("live_flows", {}))


def _flow_ref(flows: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """The flow a FLOW argument names: a FlowId, ``region/name`` or a name only one region has."""
    by_id = [f for f in flows if f.get("id") == ref]
    if by_id:
        return by_id[0]
    if "/" in ref:
        region, _, name = ref.partition("/")
        found = [f for f in flows if f.get("region") == region and f.get("name") == name]
    else:
        found = [f for f in flows if f.get("name") == ref]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(f"{f.get('region')}/{f.get('name')}" for f in flows) or "none"
        raise SystemExit(f"mcemu: no flow {ref!r} (a FlowId, region/name or name; flows: {known})")
    where = ", ".join(f"{f.get('region')}/{f.get('name')}" for f in found)
    raise SystemExit(f"mcemu: {ref!r} names flows in several regions ({where}): say region/name")


def _url_rows(flows: list[dict[str, Any]], lastmile: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every URL a user connects to: push inputs, pull outputs, and their impaired (last-mile) URLs."""
    impaired = {
        (row.get("flow_id") or row.get("flow"), row.get("role"), row.get("name")): row["impaired_url"]
        for row in lastmile
        if row.get("impaired_url")
    }
    rows: list[dict[str, Any]] = []
    for flow in flows:
        where = f"{flow.get('region')}/{flow.get('name')}"
        ends = [("push", "input", i) for i in flow.get("inputs", []) if i.get("protocol") in _PUSH_INPUTS]
        ends += [("play", "output", o) for o in flow.get("outputs", []) if o.get("protocol") in _PLAY_OUTPUTS]
        for action, role, end in ends:
            base = {"flow": where, "flow_id": flow.get("id"), "action": action, "role": role,
                    "endpoint": end.get("name"), "protocol": end.get("protocol")}  # fmt: skip
            rows.append({**base, "url": end.get("url"), "last_mile": False})
            for key in ((flow.get("id"), role, end.get("name")), (where, role, end.get("name"))):
                if key in impaired:
                    rows.append({**base, "url": impaired[key], "last_mile": True})
                    break
    return rows


_PUSH_INPUTS = frozenset({"RTMP-PUSH", "SRT-Listener"})
_PLAY_OUTPUTS = frozenset({"RTMP-PULL", "SRT-Listener"})


def _lastmile_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = _request(args, "GET", "/_emulator/lastmile").get("endpoints", [])
    return list(rows) if isinstance(rows, list) else []


def _state(args: argparse.Namespace) -> int:
    """``mcemu state [show]``, ``mcemu state export [--topology] [-o FILE]``, ``mcemu state import FILE``."""
    which = getattr(args, "state_command", None) or "show"
    if which == "show":
        _say(json.dumps(_request(args, "GET", "/_emulator/state"), indent=2))
        return 0
    if which == "export":
        query = {"format": "topology"} if args.topology else {}
        doc = _request(args, "GET", "/_emulator/state/export", query=query)
        text = yaml.safe_dump(doc, sort_keys=False) if args.topology else json.dumps(doc, indent=2) + "\n"
        if args.output:
            from .state_io import write_atomically

            write_atomically(args.output, text)
            _say(f"state of {len(doc.get('flows') or [])} flows written to {args.output}")
        else:
            _say(text.rstrip("\n"))
        return 0
    try:
        with open(args.file, encoding="utf-8") as f:
            body = json.load(f)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"mcemu: state import: cannot read {args.file}: {exc}") from None
    result = _request(args, "POST", "/_emulator/state/import", body)
    _say(f"state imported: {result['flows']} flows, {len(result['online'])} online")
    for line in result.get("errors") or []:
        _say(f"  {line}", err=True)
    return 0


def _flows(args: argparse.Namespace) -> int:
    flows, live = _flow_views(args)
    if args.json:
        _say(json.dumps([{**f, "live": live.get(str(f.get("id")), {})} for f in flows], indent=2))
        return 0
    for flow in flows:
        fid = str(flow.get("id"))
        extra = live.get(fid, {})
        _say(
            f"{flow.get('region')}/{flow.get('name')}  {flow.get('status')}  {fid}  "
            f"bytes_in={extra.get('bytes_in', 0)}"
        )
        for inp in flow.get("inputs", []):
            kind = "backup input" if inp.get("backup") else "input"
            where = _endpoint_where(inp.get("url"), inp.get("from_url"), inp.get("pair_flow_id"), flows, "<-")
            _say(f"  {kind} {inp.get('name')}  {inp.get('protocol')}  {inp.get('status')}  {where}".rstrip())
        for out in flow.get("outputs", []):
            where = _endpoint_where(out.get("url"), out.get("to_url"), out.get("pair_flow_id"), flows, "->")
            forbid = "  forbidden" if out.get("forbid") else ""
            _say(f"  output {out.get('name')}  {out.get('protocol')}  {where}{forbid}".rstrip())
    return 0


def _endpoint_where(
    url: str | None, remote: str | None, pair: str | None, flows: list[dict[str, Any]], arrow: str
) -> str:
    """Where an endpoint is reached: its URL, the remote it dials, or the flow it pairs with."""
    if pair:
        peer = next((f for f in flows if f.get("id") == pair), None)
        return f"{arrow} flow {peer.get('region')}/{peer.get('name')}" if peer else f"{arrow} flow {pair}"
    if remote:
        return f"{arrow} {remote}"
    return url or ""


def _urls(args: argparse.Namespace) -> int:
    flows, _ = _flow_views(args)
    rows = _url_rows(flows, _lastmile_rows(args))
    if args.json:
        _say(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        what = f"{row['action']} {row['endpoint']}" + (" (last mile)" if row["last_mile"] else "")
        _say(f"{row['flow']:<30} {what:<34} {row['url']}")
    return 0


def _url(args: argparse.Namespace) -> int:
    flows, _ = _flow_views(args)
    flow = _flow_ref(flows, args.flow)
    for end in [*flow.get("inputs", []), *flow.get("outputs", [])]:
        if end.get("name") == args.endpoint:
            url = end.get("url") or end.get("from_url") or end.get("to_url")
            if not url:
                raise SystemExit(f"mcemu: {args.endpoint} of {args.flow} has no URL (protocol Flow)")
            _say(str(url))
            return 0
    names = [e.get("name") for e in [*flow.get("inputs", []), *flow.get("outputs", [])]]
    raise SystemExit(
        f"mcemu: flow {args.flow} has no input or output {args.endpoint!r} "
        f"(it has: {', '.join(map(str, names)) or 'none'})"
    )


def _link(args: argparse.Namespace) -> int:
    cmd = args.link_command
    if cmd == "profiles":
        from mediaplane.netem import profile_description, profile_names

        width = max(map(len, profile_names()))
        for name in profile_names():
            _say(f"{name:<{width}}  {profile_description(name)}")
        return 0
    if cmd == "show":
        view = _request(args, "GET", "/_emulator/links")
    elif cmd == "set":
        body = _impairment_args(args)
        body["both_ways"] = args.both_ways
        view = _request(args, "PUT", _path("links", args.src, args.dst), body)
    elif cmd == "clear":
        q = {"both_ways": "true"} if args.both_ways else None
        view = _request(args, "DELETE", _path("links", args.src, args.dst), query=q)
    else:
        try:
            with open(args.file) as f:
                steps = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as exc:
            raise SystemExit(f"mcemu: timeline {args.file}: {' '.join(str(exc).split())}") from None
        doc = steps if isinstance(steps, dict) else {"steps": steps}
        doc["both_ways"] = args.both_ways
        view = _request(args, "POST", _path("links", args.src, args.dst) + "/timeline", doc)
    for row in view.get("impairments", []):
        tl = "  (timeline running)" if row.get("timeline") else ""
        _say(f"{row['from']} -> {row['to']}: {_summary(row['impairment'])}{tl}")
    for row in view.get("links", []):
        line = f"live link {row['name']} ({row['from']} -> {row['to']})"
        if "forward" in row:
            line += f": forward {_summary(row['forward'])}"
        if "reverse" in row:
            line += f"; reverse {_summary(row['reverse'])}"
        _say(line)
    return 0


def _impairment_args(args: argparse.Namespace) -> dict[str, Any]:
    """The impairment a ``set`` command line asks for, as the admin API takes it."""
    body: dict[str, Any] = {}
    for name in ("delay_ms", "jitter_ms", "loss_pct", "duplicate_pct", "reorder_pct", "rate_kbps"):
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    if args.loss_model:
        body["loss_model"] = args.loss_model
    if args.jitter_distribution:
        body["jitter_distribution"] = args.jitter_distribution
    if args.outage:
        body["outage"] = True
    for item in args.set:
        key, _, raw = item.partition("=")
        body[key] = yaml.safe_load(raw)
    if args.profile:
        body["profile"] = args.profile
    return body


def _lastmile(args: argparse.Namespace) -> int:
    cmd = args.lastmile_command
    if cmd == "show":
        rows = _request(args, "GET", "/_emulator/lastmile")["endpoints"]
    else:
        flow_id = str(_flow_ref(_flow_views(args)[0], args.flow_id).get("id"))
        path = _path("lastmile", flow_id, args.role, args.name)
        if cmd == "clear":
            rows = _request(args, "DELETE", path)["endpoints"]
        else:
            imp = _impairment_args(args)
            if args.direction == "both":
                body: dict[str, Any] = imp or {"delay_ms": 0}
            else:
                body = {args.direction: imp}
            rows = [_request(args, "PUT", path, body)]
    for row in rows:
        line = f"{row['flow']} {row['role']} {row['name']} ({row['protocol']})"
        for d in ("to_region", "from_region"):
            if row.get(d):
                line += f"; {d} {_summary(row[d])}"
        _say(line)
        if row.get("impaired_url"):
            _say(f"  impaired URL: {row['impaired_url']}")
    return 0


def _summary(fields: dict[str, Any]) -> str:
    """One line for an impairment as the admin API shows it (``delay 80 ms +-2 normal, loss 1 %``)."""
    from mediaplane.netem import Impairment

    try:
        return Impairment.from_dict(fields).summary()
    except ValueError:
        return str(fields)


def _probe(args: argparse.Namespace) -> int:
    from mediaplane.media.probe import probe

    result = asyncio.run(probe(args.url, args.duration, timeout_s=args.timeout))
    if result.error and not result.bytes_received:
        _say(f"mcemu: probe {args.url}: {_probe_reason(args.url, result.error, args.timeout)}", err=True)
        return 1
    if args.json:
        _say(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _say(result.format())
    return 0 if not result.error else 1


def _probe_reason(url: str, error: str, timeout_s: float) -> str:
    """Why nothing arrived, in a user's words (the raw error kept at the end when it helps)."""
    parts = urllib.parse.urlsplit(url)
    where = f"{parts.hostname}:{parts.port}" if parts.hostname and parts.port else parts.netloc
    text = " ".join(error.split())
    server = re.search(r"Server error: (.*?)(?:\)|$)", text)
    if server:
        return f"the server refused: {server.group(1).strip()}"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return (
            f"nothing listens at {where} (connection refused): is mcemu up running, and is this URL current?"
        )
    if "connection setup timed out" in text or "ConnectTimeout" in text:
        return f"no SRT listener answered at {where} ({text})"
    if "Input/output error" in text or "End of file" in text or "srt connection ended" in text:
        return (
            f"connected to {where}, but no media arrived within {timeout_s:g} s: is something pushing to "
            "the flow's input, and is the flow online?"
        )
    return text


def _signal(args: argparse.Namespace) -> int:
    from mediaplane.media.signal import SignalConfig, publish
    from mediaplane.srt import SrtError

    config = SignalConfig(video_codec="hevc" if args.hevc else "h264")
    try:
        report = asyncio.run(publish(args.url, config, duration_s=args.duration))
    except (SrtError, OSError, ValueError) as exc:  # cannot connect, refused, bad URL
        reason = _probe_reason(args.url, f"{type(exc).__name__}: {exc}", 0)
        _say(f"mcemu: signal to {args.url}: {reason}", err=True)
        return 1
    if report.error and not report.frames_sent:
        _say(f"mcemu: signal to {args.url}: {_probe_reason(args.url, report.error, 0)}", err=True)
        return 1
    _say(
        f"signal {report.url}: {report.frames_sent} video frames, {report.audio_frames_sent} audio frames "
        f"in {report.duration_s:.1f} s" + (f"; error: {report.error}" if report.error else "")
    )
    return 0 if not report.error else 1


if __name__ == "__main__":
    sys.exit(main())
