"""``mcemu flows``, ``urls``, ``url``, ``state``, ``link`` and ``lastmile``: read and change a running
emulator."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from ..model.flow import Role
from ..model.lastmile import DIRECTIONS
from ..model.rules import Connection, protocols
from .common import (
    say,
)
from .remote import api_path, request


def _flow_views(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(every flow as ``/_emulator/state`` shows it, live counters per FlowId)."""
    state = request(args, "GET", "/_emulator/state")
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


# The endpoints a user connects to are the listening ones (emulator.model.rules' one classification).
_PUSH_INPUTS = frozenset(protocols(Role.INPUT, Connection.LISTENING))
_PLAY_OUTPUTS = frozenset(protocols(Role.OUTPUT, Connection.LISTENING))


def _lastmile_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = request(args, "GET", "/_emulator/lastmile").get("endpoints", [])
    return list(rows) if isinstance(rows, list) else []


def cmd_state(args: argparse.Namespace) -> int:
    """``mcemu state [show]``, ``mcemu state export [--topology] [-o FILE]``, ``mcemu state import FILE``."""
    which = getattr(args, "state_command", None) or "show"
    if which == "show":
        say(json.dumps(request(args, "GET", "/_emulator/state"), indent=2))
        return 0
    if which == "export":
        query = {"format": "topology"} if args.topology else {}
        doc = request(args, "GET", "/_emulator/state/export", query=query)
        text = yaml.safe_dump(doc, sort_keys=False) if args.topology else json.dumps(doc, indent=2) + "\n"
        if args.output:
            from ..state_io import write_atomically

            write_atomically(args.output, text)
            say(f"state of {len(doc.get('flows') or [])} flows written to {args.output}")
        else:
            say(text.rstrip("\n"))
        return 0
    try:
        with open(args.file, encoding="utf-8") as f:
            body = json.load(f)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"mcemu: state import: cannot read {args.file}: {exc}") from None
    result = request(args, "POST", "/_emulator/state/import", body)
    say(f"state imported: {result['flows']} flows, {len(result['online'])} online")
    for line in result.get("errors") or []:
        say(f"  {line}", err=True)
    return 0


def cmd_flows(args: argparse.Namespace) -> int:
    flows, live = _flow_views(args)
    if args.json:
        say(json.dumps([{**f, "live": live.get(str(f.get("id")), {})} for f in flows], indent=2))
        return 0
    for flow in flows:
        fid = str(flow.get("id"))
        extra = live.get(fid, {})
        say(
            f"{flow.get('region')}/{flow.get('name')}  {flow.get('status')}  {fid}  "
            f"bytes_in={extra.get('bytes_in', 0)}"
        )
        for inp in flow.get("inputs", []):
            kind = "backup input" if inp.get("backup") else "input"
            where = _endpoint_where(inp.get("url"), inp.get("from_url"), inp.get("pair_flow_id"), flows, "<-")
            say(f"  {kind} {inp.get('name')}  {inp.get('protocol')}  {inp.get('status')}  {where}".rstrip())
        for out in flow.get("outputs", []):
            where = _endpoint_where(out.get("url"), out.get("to_url"), out.get("pair_flow_id"), flows, "->")
            forbid = "  forbidden" if out.get("forbid") else ""
            say(f"  output {out.get('name')}  {out.get('protocol')}  {where}{forbid}".rstrip())
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


def cmd_urls(args: argparse.Namespace) -> int:
    flows, _ = _flow_views(args)
    rows = _url_rows(flows, _lastmile_rows(args))
    if args.json:
        say(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        what = f"{row['action']} {row['endpoint']}" + (" (last mile)" if row["last_mile"] else "")
        say(f"{row['flow']:<30} {what:<34} {row['url']}")
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    flows, _ = _flow_views(args)
    flow = _flow_ref(flows, args.flow)
    for end in [*flow.get("inputs", []), *flow.get("outputs", [])]:
        if end.get("name") == args.endpoint:
            url = end.get("url") or end.get("from_url") or end.get("to_url")
            if not url:
                raise SystemExit(f"mcemu: {args.endpoint} of {args.flow} has no URL (protocol Flow)")
            say(str(url))
            return 0
    names = [e.get("name") for e in [*flow.get("inputs", []), *flow.get("outputs", [])]]
    raise SystemExit(
        f"mcemu: flow {args.flow} has no input or output {args.endpoint!r} "
        f"(it has: {', '.join(map(str, names)) or 'none'})"
    )


def cmd_link(args: argparse.Namespace) -> int:
    cmd = args.link_command
    if cmd == "profiles":
        from mediaplane.netem import profile_description, profile_names

        width = max(map(len, profile_names()))
        for name in profile_names():
            say(f"{name:<{width}}  {profile_description(name)}")
        return 0
    if cmd == "show":
        view = request(args, "GET", "/_emulator/links")
    elif cmd == "set":
        body = _impairment_args(args)
        body["both_ways"] = args.both_ways
        view = request(args, "PUT", api_path("links", args.src, args.dst), body)
    elif cmd == "clear":
        q = {"both_ways": "true"} if args.both_ways else None
        view = request(args, "DELETE", api_path("links", args.src, args.dst), query=q)
    else:
        try:
            with open(args.file) as f:
                steps = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as exc:
            raise SystemExit(f"mcemu: timeline {args.file}: {' '.join(str(exc).split())}") from None
        doc = steps if isinstance(steps, dict) else {"steps": steps}
        doc["both_ways"] = args.both_ways
        view = request(args, "POST", api_path("links", args.src, args.dst) + "/timeline", doc)
    for row in view.get("impairments", []):
        tl = "  (timeline running)" if row.get("timeline") else ""
        say(f"{row['from']} -> {row['to']}: {_summary(row['impairment'])}{tl}")
    for row in view.get("links", []):
        line = f"live link {row['name']} ({row['from']} -> {row['to']})"
        if "forward" in row:
            line += f": forward {_summary(row['forward'])}"
        if "reverse" in row:
            line += f"; reverse {_summary(row['reverse'])}"
        say(line)
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


def cmd_lastmile(args: argparse.Namespace) -> int:
    cmd = args.lastmile_command
    if cmd == "show":
        rows = request(args, "GET", "/_emulator/lastmile")["endpoints"]
    else:
        flow_id = str(_flow_ref(_flow_views(args)[0], args.flow_id).get("id"))
        path = api_path("lastmile", flow_id, args.role, args.name)
        if cmd == "clear":
            rows = request(args, "DELETE", path)["endpoints"]
        else:
            imp = _impairment_args(args)
            if args.direction == "both":
                body: dict[str, Any] = imp or {"delay_ms": 0}
            else:
                body = {args.direction: imp}
            rows = [request(args, "PUT", path, body)]
    for row in rows:
        line = f"{row['flow']} {row['role']} {row['name']} ({row['protocol']})"
        for d in DIRECTIONS:
            if row.get(d):
                line += f"; {d} {_summary(row[d])}"
        say(line)
        if row.get("impaired_url"):
            say(f"  impaired URL: {row['impaired_url']}")
    return 0


def _summary(fields: dict[str, Any]) -> str:
    """One line for an impairment as the admin API shows it (``delay 80 ms +-2 normal, loss 1 %``)."""
    from mediaplane.netem import Impairment

    try:
        return Impairment.from_dict(fields).summary()
    except ValueError:
        return str(fields)
