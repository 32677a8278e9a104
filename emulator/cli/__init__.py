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

import logging
import sys

from ..errors import ConfigError
from .common import ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, PLACEHOLDER_KEY, say
from .parser import LogHandler, build_parser, version

__all__ = ["ENV_ACCESS_KEY_ID", "ENV_ACCESS_KEY_SECRET", "PLACEHOLDER_KEY", "main", "version"]


# The command modules load only for the command run (``mcemu up`` never imports yaml or the media code).
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(
            f"mcemu: --log-level {args.log_level!r}: expected DEBUG, INFO, WARNING or ERROR", file=sys.stderr
        )
        return 2
    handler = LogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    try:
        if args.command == "up":
            from .up import cmd_up

            return cmd_up(args)
        if args.command == "flows":
            from .commands import cmd_flows

            return cmd_flows(args)
        if args.command == "urls":
            from .commands import cmd_urls

            return cmd_urls(args)
        if args.command == "url":
            from .commands import cmd_url

            return cmd_url(args)
        if args.command == "state":
            from .commands import cmd_state

            return cmd_state(args)
        if args.command == "reset":
            from .remote import request

            request(args, "POST", "/_emulator/reset")
            say("every flow stopped and deleted")
            return 0
        if args.command == "link":
            from .commands import cmd_link

            return cmd_link(args)
        if args.command == "lastmile":
            from .commands import cmd_lastmile

            return cmd_lastmile(args)
        if args.command == "probe":
            from .media import cmd_probe

            return cmd_probe(args)
        if args.command == "signal":
            from .media import cmd_signal

            return cmd_signal(args)
    except ConfigError as exc:
        print(f"mcemu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2
