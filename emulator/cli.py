"""``mcemu``: run the emulator and talk to a running one.

* ``mcemu up [--topology FILE] [--api-port N] [--api-host H]``: run everything in the foreground with the
  built-in default topology (or FILE), print the URLs to push to and play from, a status line per
  online flow every ``--status-every`` seconds; Ctrl-C (SIGINT) or SIGTERM shuts down cleanly.
* ``mcemu flows``: the flows of a running emulator and their live state; ``mcemu state``: its whole
  ``/_emulator/state`` as JSON; ``mcemu reset``: every flow stopped and deleted.
* ``mcemu link show`` / ``mcemu link set FROM TO [--profile P] [--delay-ms ..] [--loss-pct ..] ...``
  / ``mcemu link clear FROM TO`` / ``mcemu link timeline FROM TO FILE``: backbone impairments at run time.
* ``mcemu lastmile show`` / ``mcemu lastmile set FLOW_ID input|output NAME [--profile P] [--delay-ms ..]
  [--loss-pct ..] [--direction to_region|from_region|both]`` / ``mcemu lastmile clear FLOW_ID
  input|output NAME``: last-mile impairments per endpoint (``set`` prints the impaired URL).
* ``mcemu probe URL [--duration S]``: read an rtmp:// or srt:// URL and print what arrived.
* ``mcemu signal URL [--duration S]``: publish the numbered test signal to a URL.

Commands that talk to a running emulator take ``--api`` (default ``http://127.0.0.1:8080``) and sign
every request with ACS3-HMAC-SHA256 (:func:`emulator.api.signature.sign_v3`: method, path, query, every
header sent and the body's SHA-256) using ``--access-key-id`` / ``--access-key-secret``, else
``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, else the placeholder key
:data:`PLACEHOLDER_KEY` (which an emulator without ``access_keys`` accepts, as it accepts any key).
A refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["ENV_ACCESS_KEY_ID", "ENV_ACCESS_KEY_SECRET", "PLACEHOLDER_KEY", "main"]

DEFAULT_API = "http://127.0.0.1:8080"
ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
PLACEHOLDER_KEY = ("mcemu", "mcemu")
"""(id, secret) the CLI signs with when no key is given."""
_KEY_HINT = (
    f"set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, or pass --access-key-id and --access-key-secret"
)


def _api_options(p: argparse.ArgumentParser) -> None:
    """``--api`` and the access key flags of every command that talks to a running emulator."""
    p.add_argument("--api", default=DEFAULT_API, help=f"the emulator's API (default {DEFAULT_API})")
    p.add_argument("--access-key-id", help=f"access key id to sign with (default ${ENV_ACCESS_KEY_ID})")
    p.add_argument("--access-key-secret", help=f"its secret (default ${ENV_ACCESS_KEY_SECRET})")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcemu", description="A local Alibaba Cloud MediaConnect emulator.")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the emulator in the foreground")
    up.add_argument("--topology", help="YAML/JSON topology file (default: the built-in demo topology)")
    up.add_argument("--api-port", type=int, help="port of the ICE API (default 8080; 0: any free port)")
    up.add_argument("--api-host", help="address of the ICE API (default 127.0.0.1)")
    up.add_argument("--status-every", type=float, default=10.0, help="seconds between status lines (0: none)")

    flows = sub.add_parser("flows", help="list the flows of a running emulator")
    _api_options(flows)

    state = sub.add_parser("state", help="the whole /_emulator/state of a running emulator, as JSON")
    _api_options(state)
    reset = sub.add_parser("reset", help="stop and delete every flow of a running emulator")
    _api_options(reset)

    link = sub.add_parser("link", help="backbone impairments of a running emulator")
    link_sub = link.add_subparsers(dest="link_command", required=True)
    show = link_sub.add_parser("show", help="impairments in force and live links")
    _api_options(show)
    setp = link_sub.add_parser("set", help="impair FROM -> TO from now on")
    setp.add_argument("src", metavar="FROM")
    setp.add_argument("dst", metavar="TO")
    _api_options(setp)
    setp.add_argument("--both-ways", action="store_true", help="also TO -> FROM")
    setp.add_argument("--profile", help="a named profile (see mcemu link profiles)")
    for name in ("delay-ms", "jitter-ms", "loss-pct", "duplicate-pct", "reorder-pct", "rate-kbps"):
        setp.add_argument(f"--{name}", type=float)
    setp.add_argument("--loss-model", choices=["bernoulli", "gilbert-elliott"])
    setp.add_argument("--jitter-distribution", choices=["uniform", "normal", "pareto"])
    setp.add_argument("--outage", action="store_true", help="drop (UDP) or stall (TCP) everything")
    setp.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="any Impairment field"
    )
    clear = link_sub.add_parser("clear", help="back to the catalogue latency")
    clear.add_argument("src", metavar="FROM")
    clear.add_argument("dst", metavar="TO")
    _api_options(clear)
    clear.add_argument("--both-ways", action="store_true")
    tl = link_sub.add_parser("timeline", help="run a timeline file (YAML/JSON list of steps) on FROM -> TO")
    tl.add_argument("src", metavar="FROM")
    tl.add_argument("dst", metavar="TO")
    tl.add_argument("file")
    _api_options(tl)
    tl.add_argument("--both-ways", action="store_true")
    link_sub.add_parser("profiles", help="the named impairment profiles")

    lm = sub.add_parser("lastmile", help="last-mile impairments per input or output")
    lm_sub = lm.add_subparsers(dest="lastmile_command", required=True)
    lm_show = lm_sub.add_parser("show", help="endpoints with a last-mile impairment")
    _api_options(lm_show)
    for cmd in ("set", "clear"):
        lp = lm_sub.add_parser(cmd, help="impair an endpoint" if cmd == "set" else "stop impairing it")
        lp.add_argument("flow_id", metavar="FLOW_ID")
        lp.add_argument("role", choices=["input", "output"])
        lp.add_argument("name", metavar="NAME")
        _api_options(lp)
        if cmd == "set":
            lp.add_argument("--profile", help="a named profile (see mcemu link profiles)")
            for name in ("delay-ms", "jitter-ms", "loss-pct", "duplicate-pct", "reorder-pct", "rate-kbps"):
                lp.add_argument(f"--{name}", type=float)
            lp.add_argument("--loss-model", choices=["bernoulli", "gilbert-elliott"])
            lp.add_argument("--jitter-distribution", choices=["uniform", "normal", "pareto"])
            lp.add_argument("--outage", action="store_true", help="drop (UDP) or stall (TCP) everything")
            lp.add_argument(
                "--set", action="append", default=[], metavar="FIELD=VALUE", help="any Impairment field"
            )
            lp.add_argument(
                "--direction",
                choices=["to_region", "from_region", "both"],
                default="both",
                help="to_region: client -> region; from_region: region -> client (default both)",
            )

    probe = sub.add_parser(
        "probe",
        help="read a URL and report what arrived (SRT options in the URL: ?passphrase=...&latency=...)",
    )
    probe.add_argument("url")
    probe.add_argument("--duration", type=float, default=5.0, help="seconds to read (default 5)")
    probe.add_argument("--json", action="store_true", help="print the result as JSON")

    sig = sub.add_parser("signal", help="publish the numbered test signal to a URL")
    sig.add_argument("url")
    sig.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    sig.add_argument("--hevc", action="store_true", help="HEVC instead of H.264")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "flows":
            return _flows(args)
        if args.command == "state":
            print(json.dumps(_request(args, "GET", "/_emulator/state"), indent=2))
            return 0
        if args.command == "reset":
            _request(args, "POST", "/_emulator/reset")
            print("every flow stopped and deleted")
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
        print(
            f"mcemu: warning: the API listens on {topology.api_host} without access_keys: anyone who can "
            "reach it can change or delete every flow and read every stream key (set access_keys in the "
            "topology)",
            file=sys.stderr,
            flush=True,
        )
    return asyncio.run(_run_up(topology, args.api_port, args.status_every))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


async def _run_up(topology: Any, api_port: int | None, status_every: float) -> int:
    from .app import Emulator

    started = time.monotonic()
    emu = Emulator(topology, api_port=api_port)
    try:
        await emu.start()
    except OSError as exc:
        print(f"mcemu: cannot listen: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if os.name == "posix":  # the loop has no signal handlers elsewhere; Ctrl-C then ends asyncio.run
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    print(f"mcemu is up in {time.monotonic() - started:.2f} s", flush=True)
    print(f"  ICE API: http://{emu.endpoint}/   (SDK: Config(endpoint='{emu.endpoint}', protocol='http'))")
    print(f"  admin:   http://{emu.endpoint}/_emulator/state")
    print(f"  metrics: http://{emu.endpoint}/metrics")
    for region in emu.regions:
        host, port = emu.runtime.rtmp_address(region)
        print(f"  region {region.id:<15} {region.name:<15} rtmp://{host}:{port}/live/...")
    for flow, role, url in emu.urls():
        print(f"  {flow:<30} {role:<24} {url}")
    print("Ctrl-C to stop.", flush=True)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), status_every if status_every > 0 else None)
            if not stop.is_set() and status_every > 0:
                _status_lines(emu)
    finally:
        print("mcemu: shutting down", flush=True)
        await emu.close()
    return 0


def _status_lines(emu: Any) -> None:
    for flow in emu.manager.flows:
        if not flow.online or not flow.inputs:
            continue
        live = emu.runtime.live.get(flow.id)
        status = emu.manager.input_status(flow, flow.inputs[0])
        bytes_in = live.hub.counters.bytes_in if live else 0
        players = sum(len(lo.live_players()) for lo in live.outputs.values()) if live else 0
        print(
            f"  [{flow.region.id}/{flow.name}] input {status}, {bytes_in} bytes in, {players} players",
            flush=True,
        )


# -- talking to a running emulator ------------------------------------------------------------------
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

    api = str(args.api).rstrip("/")
    parts = urllib.parse.urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"mcemu: --api {api!r} is not an http:// URL")
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


def _flows(args: argparse.Namespace) -> int:
    state = _request(args, "GET", "/_emulator/state")
    live = state.get("live_flows", {})
    flows = state.get("flows", [])
    if isinstance(flows, dict):
        flows = list(flows.values())
    for flow in flows:
        fid = flow.get("FlowId") or flow.get("id")
        name = flow.get("FlowName") or flow.get("name")
        region = flow.get("FlowRegion") or flow.get("region")
        status = flow.get("FlowStatus") or flow.get("status")
        extra = live.get(fid, {})
        print(f"{region}/{name}  {status}  {fid}  bytes_in={extra.get('bytes_in', 0)}")
    return 0


def _link(args: argparse.Namespace) -> int:
    cmd = args.link_command
    if cmd == "profiles":
        from mediaplane.netem import profile_description, profile_names

        width = max(map(len, profile_names()))
        for name in profile_names():
            print(f"{name:<{width}}  {profile_description(name)}")
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
        print(f"{row['from']} -> {row['to']}: {_summary(row['impairment'])}{tl}")
    for row in view.get("links", []):
        line = f"live link {row['name']} ({row['from']} -> {row['to']})"
        if "forward" in row:
            line += f": forward {_summary(row['forward'])}"
        if "reverse" in row:
            line += f"; reverse {_summary(row['reverse'])}"
        print(line)
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
        path = _path("lastmile", args.flow_id, args.role, args.name)
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
        print(line)
        if row.get("impaired_url"):
            print(f"  impaired URL: {row['impaired_url']}")
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

    result = asyncio.run(probe(args.url, args.duration))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.format())
    return 0 if not result.error else 1


def _signal(args: argparse.Namespace) -> int:
    from mediaplane.media.signal import SignalConfig, publish
    from mediaplane.srt import SrtError

    config = SignalConfig(video_codec="hevc" if args.hevc else "h264")
    try:
        report = asyncio.run(publish(args.url, config, duration_s=args.duration))
    except (SrtError, OSError, ValueError) as exc:  # cannot connect, refused, bad URL
        print(f"mcemu: signal to {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        f"signal {report.url}: {report.frames_sent} video frames, {report.audio_frames_sent} audio frames "
        f"in {report.duration_s:.1f} s" + (f"; error: {report.error}" if report.error else "")
    )
    return 0 if not report.error else 1


if __name__ == "__main__":
    sys.exit(main())
