"""``mcemu``'s command line: every subcommand and option."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .common import (
    DEFAULT_API,
    DEFAULT_STATUS_EVERY_S,
    ENV_ACCESS_KEY_ID,
    ENV_ACCESS_KEY_SECRET,
    silence,
)


def version() -> str:
    """The installed package's version (``unknown`` when run from a tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("mcemu")
    except PackageNotFoundError:
        return "unknown"


class LogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr logging that goes quiet, instead of printing a traceback per record, once stderr is gone."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            silence(self.stream)
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


def build_parser() -> argparse.ArgumentParser:
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
