"""State you can keep: the emulator's flows, links and last-mile impairments as one JSON document.

:func:`export_state` writes, :func:`import_state` reads back (``GET /_emulator/state/export``, ``POST
/_emulator/state/import``, ``mcemu up --state FILE``, ``mcemu state export|import``). The document::

    {"version": 1, "mcemu": "<version>", "exported_at": 1718000000.0,
     "flows": [{"id", "name", "region", "status", "create_time", "failover_open",
                "inputs": [{"name", "protocol", "url", "stream_key", "srt_port", "srt_passphrase", ...}],
                "outputs": [{"name", "protocol", "url", "stream_key", "srt_port", "forbid", ...}]}],
     "links": [{"from", "to", "impairment": {...}}],          # backbone directions with an override
     "last_mile": [{"flow_id", "role", "name", "to_region", "from_region"}]}

It holds secrets (stream keys, SRT passphrases), so the API gives it only to a signed caller.

An import replaces everything: the document is first replayed into a scratch
:class:`~emulator.model.manager.FlowManager` (every rule of the API applies; nothing live changes when it is
refused), then the current flows are reset and the new ones adopted with their FlowIds, stream keys,
SRT ports (reserved again), CreateTimes, Forbid and failover; links and last-mile impairments are set,
and the flows that were online are started. RTMP URLs are rebuilt on the region's RTMP server as it is
now: they stay the same when its port is the same (a fixed ``rtmp_port``, 1935 by default).

:func:`topology_of` turns an export into a topology document (:mod:`emulator.topology`) that ``mcemu up
--topology`` loads: the same flows, links and last-mile impairments, but a topology's FlowIds are new at
every start and its stream keys come from its seed, so only the state file keeps those. Backbone
timelines are kept by neither: the impairment in force at the export is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from typing import Any

from mediaplane.netem import Impairment

from .errors import EmulatorError, FlowStartError, PortUnavailable
from .model.flow import DEFAULT_MAX_BITRATE, Flow, FlowInput, FlowOutput, Role, endpoint_fields
from .model.lastmile import Direction, LastMileSpec
from .model.manager import FlowManager, SrtParams
from .regions import Region
from .runtime import Backbone, Runtime
from .runtime.lastmile import LastMile, parse_role

__all__ = [
    "STATE_VERSION",
    "ImportResult",
    "StateError",
    "StateSaver",
    "export_state",
    "import_state",
    "read_state_file",
    "topology_of",
    "write_atomically",
]

logger = logging.getLogger(__name__)

STATE_VERSION = 1
"""The ``version`` of documents this module writes and reads."""

SAVE_DEBOUNCE_S = 0.2
""":class:`StateSaver` writes this long after the change that asked for it (later changes join it)."""

SAVE_CHECK_S = 1.0
""":class:`StateSaver` also compares the state with the file this often (changes made in Python)."""


class StateError(ValueError):
    """A state document the emulator cannot take; the message names the part."""


# -- export ------------------------------------------------------------------------------------------
def export_state(
    manager: FlowManager, backbone: Backbone, lastmile: LastMile[Any], *, version: str = ""
) -> dict[str, Any]:
    """The state document (see the module docstring), JSON-ready."""
    flows = [
        {
            "id": f.id,
            "name": f.name,
            "region": f.region.id,
            "status": f.status.value,
            "create_time": f.create_time,
            "failover_open": f.failover_open,
            "inputs": [endpoint_fields(i) for i in f.inputs],
            "outputs": [endpoint_fields(o) for o in f.outputs.values()],
        }
        for f in manager.flows
    ]
    links = [
        {"from": src, "to": dst, "impairment": imp.to_dict()}
        for (src, dst), imp in sorted(backbone.overrides().items())
    ]
    last_mile = [
        {k: row[k] for k in ("flow_id", "role", "name", *(d.value for d in Direction))}
        for row in lastmile.view()["endpoints"]
    ]
    return {
        "version": STATE_VERSION,
        "mcemu": version,
        "exported_at": time.time(),
        "flows": flows,
        "links": links,
        "last_mile": last_mile,
    }


# -- import ------------------------------------------------------------------------------------------
class _Pinned:
    """The scratch manager's runtime: URLs from the real runtime, SRT ports from the document."""

    def __init__(self, runtime: Runtime) -> None:
        self.real = runtime
        self.next_port: int | None = None

    def rtmp_address(self, region: Region) -> tuple[str, int]:
        return self.real.rtmp_address(region)

    def allocate_srt_port(self, region: Region) -> int:
        if self.next_port is None:
            raise StateError("an SRT-Listener endpoint needs its srt_port")
        return self.next_port

    def release_srt_port(self, region: Region, port: int) -> None:
        pass

    async def start_flow(self, flow: Flow) -> None:
        raise FlowStartError("a scratch flow never starts")

    async def stop_flow(self, flow: Flow) -> None:
        pass

    def input_status(self, flow: Flow, input: FlowInput) -> str:
        return "offline"

    def set_output_forbidden(self, flow: Flow, output: FlowOutput, forbidden: bool) -> None:
        pass


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StateError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise StateError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _opt(doc: dict[str, Any], key: str) -> Any:
    """A value the API treats as absent when empty (None and ``""``)."""
    value = doc.get(key)
    return None if value in (None, "") else value


def _has(flow: Flow, role: Role, name: str) -> bool:
    return (name in flow.outputs) if role is Role.OUTPUT else flow.input_named(name) is not None


class _Replay:
    """Rebuilds a document's flows in a scratch manager, with the document's ids, keys and ports."""

    def __init__(self, manager: FlowManager, runtime: Runtime) -> None:
        self.pinned = _Pinned(runtime)
        self._next_id = ""
        self._next_token = ""
        self.scratch = FlowManager(
            manager.regions,
            self.pinned,
            new_id=lambda: self._next_id,
            new_token=lambda: self._next_token or secrets.token_hex(16),
        )

    def _by_id(self) -> dict[str, Flow]:
        return {f.id: f for f in self.scratch.flows}

    def _pin(self, doc: dict[str, Any], where: str) -> None:
        key = doc.get("stream_key") or ""
        name = str(doc.get("name"))
        if not isinstance(key, str) or (key and not key.startswith(f"{name}_")):
            raise StateError(f"{where}: stream_key {key!r} must be '{name}_<hex>'")
        self._next_token = key[len(name) + 1 :] if key else ""
        port = doc.get("srt_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise StateError(f"{where}: srt_port {port!r} is not a port number")
        self.pinned.next_port = port

    def flows(self, docs: list[Any]) -> list[Flow]:
        m = self.scratch
        flow_docs = [_mapping(d, f"flows[{n}]") for n, d in enumerate(docs)]
        for n, doc in enumerate(flow_docs):
            where = f"flows[{n}]"
            if not isinstance(doc.get("id"), str) or not doc["id"]:
                raise StateError(f"{where}: id must be a non-empty string")
            if doc["id"] in self._by_id():
                raise StateError(f"{where}: FlowId {doc['id']!r} appears twice")
            self._next_id = doc["id"]
            self._call(where, m.create_flow, name=doc.get("name"), region=doc.get("region"))
        # Endpoints in passes: a Flow endpoint needs its pair's endpoint first.
        pending = list(enumerate(flow_docs))
        while pending:
            still = [(n, d) for n, d in pending if not self._endpoints(n, d, final=False)]
            if len(still) == len(pending):
                for n, d in still:
                    self._endpoints(n, d, final=True)
                break
            pending = still
        built = m.flows
        for doc, flow in zip(flow_docs, built, strict=True):
            flow.create_time = str(doc.get("create_time") or flow.create_time)
            for idoc, i in zip(_list(doc.get("inputs"), "inputs"), flow.inputs, strict=False):
                i.create_time = str(_mapping(idoc, "input").get("create_time") or i.create_time)
            for odoc in _list(doc.get("outputs"), "outputs"):
                out = flow.outputs.get(str(_mapping(odoc, "output").get("name")))
                if out is not None:
                    out.create_time = str(odoc.get("create_time") or out.create_time)
        return built

    def _call(self, where: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StateError as exc:
            raise StateError(f"{where}: {exc}") from None
        except EmulatorError as exc:
            raise StateError(f"{where}: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StateError(f"{where}: {type(exc).__name__}: {exc}") from None

    def _ready(self, pair_id: Any, role: Role, name: Any) -> bool:
        pair = self._by_id().get(pair_id) if isinstance(pair_id, str) else None
        if pair is None:
            return False
        return (name in pair.outputs) if role is Role.OUTPUT else pair.input_named(str(name)) is not None

    def _endpoints(self, n: int, doc: dict[str, Any], *, final: bool) -> bool:
        """Add what flow ``n`` still lacks; False when a pair is not there yet (unless ``final``)."""
        m = self.scratch
        flow = m.get_flow(doc["id"])
        failover = doc.get("failover_open")
        for role in Role:
            other = Role.OUTPUT if role is Role.INPUT else Role.INPUT
            for k, edoc in enumerate(_list(doc.get(f"{role}s"), f"flows[{n}].{role}s")):
                where = f"flows[{n}].{role}s[{k}]"
                edoc = _mapping(edoc, where)
                if _has(flow, role, str(edoc.get("name"))):
                    continue
                pair = (edoc.get("pair_flow_id"), other, edoc.get(f"pair_{other}_name"))
                if edoc.get("protocol") == "Flow" and not final and not self._ready(*pair):
                    return False
                if role is Role.INPUT and flow.inputs and failover and not flow.failover_open:
                    self._call(where, m.open_failover, flow.id)  # before the backup input
                self._pin(edoc, where)
                self._call(where, self._add_endpoint, flow.id, role, edoc)
                if role is Role.OUTPUT and edoc.get("forbid") is True:
                    self._call(where, m.forbid_output, flow.id, edoc.get("name"))
            if role is Role.INPUT and failover and flow.inputs and not flow.failover_open:
                self._call(f"flows[{n}]", m.open_failover, flow.id)
        return True

    def _add_endpoint(self, flow_id: str, role: Role, d: dict[str, Any]) -> None:
        """One input or output as the document has it (fields the API reads as absent when empty)."""
        m = self.scratch
        common: dict[str, Any] = {
            "name": d.get("name"),
            "protocol": d.get("protocol"),
            "cidrs": _opt(d, "cidrs"),
            "pair_flow_id": _opt(d, "pair_flow_id"),
        }
        srt = SrtParams(
            srt_latency=d.get("srt_latency"),
            srt_passphrase=_opt(d, "srt_passphrase"),
            srt_pbkeylen=d.get("srt_pbkeylen") or None,
        )
        if role is Role.INPUT:
            m.add_input(
                flow_id,
                **common,
                **srt,
                from_url=_opt(d, "from_url"),
                max_bitrate=_opt(d, "max_bitrate"),
                pair_output_name=_opt(d, "pair_output_name"),
                with_internal_vip=bool(d.get("inner_url")),
            )
        else:
            m.add_output(
                flow_id,
                **common,
                **srt,
                to_url=_opt(d, "to_url"),
                pair_input_name=_opt(d, "pair_input_name"),
                player_limit=_opt(d, "player_limit"),
            )


class ImportResult(dict[str, Any]):
    """What :func:`import_state` did: ``flows`` (count), ``online`` (ids started) and ``errors`` (one
    line per flow that could not start, or per link / last-mile entry refused)."""


def _srt_ports(flow: Flow) -> list[int]:
    ports = [i.srt_port for i in flow.inputs] + [o.srt_port for o in flow.outputs.values()]
    return [p for p in ports if p is not None]


async def import_state(
    doc: Any, manager: FlowManager, runtime: Runtime, backbone: Backbone, lastmile: LastMile[Any]
) -> ImportResult:
    """Replace the emulator's state with ``doc`` (see the module docstring). Raises StateError (the
    document is refused and nothing changed) or PortUnavailable (an SRT port is taken by another
    program: the emulator is then left empty)."""
    doc = _mapping(doc, "state")
    if doc.get("version") != STATE_VERSION:
        raise StateError(f"version: expected {STATE_VERSION}, got {doc.get('version')!r}")
    flows = _Replay(manager, runtime).flows(_list(doc.get("flows"), "flows"))
    links: list[tuple[str, str, Impairment]] = []
    for n, entry in enumerate(_list(doc.get("links"), "links")):
        entry = _mapping(entry, f"links[{n}]")
        try:
            src, dst = str(entry["from"]), str(entry["to"])
            manager.regions.get(src)
            manager.regions.get(dst)
            imp = Impairment.from_dict(_mapping(entry.get("impairment"), f"links[{n}].impairment"))
            imp.validate()
        except (KeyError, ValueError, EmulatorError) as exc:
            raise StateError(f"links[{n}]: {exc}") from None
        links.append((src, dst, imp))
    ids = {f.id for f in flows}
    specs: list[tuple[str, str, str, LastMileSpec]] = []
    for n, entry in enumerate(_list(doc.get("last_mile"), "last_mile")):
        entry = _mapping(entry, f"last_mile[{n}]")
        body = {d.value: entry[d] for d in Direction if entry.get(d) is not None}
        try:
            key = (str(entry["flow_id"]), str(entry["role"]), str(entry["name"]))
            if key[0] not in ids:
                raise StateError(f"flow_id {key[0]!r} is not a flow of this state")
            specs.append((*key, LastMileSpec.from_body(body)))
        except (KeyError, ValueError) as exc:
            raise StateError(f"last_mile[{n}]: {exc}") from None

    # The document holds: replace the current state.
    await manager.reset()
    backbone.clear_all()
    lastmile.forget_missing()
    reserved: list[tuple[Region, int]] = []
    try:
        for flow in flows:
            for port in _srt_ports(flow):
                runtime.reserve_srt_port(flow.region, port)
                reserved.append((flow.region, port))
    except PortUnavailable:
        for region, port in reserved:
            runtime.release_srt_port(region, port)
        raise
    for flow in flows:
        manager.adopt(flow)
    result = ImportResult(flows=len(flows), online=[], errors=[])
    for flow_id, role, name, spec in specs:
        try:
            lastmile.configure(flow_id, parse_role(role), name, spec)
        except EmulatorError as exc:
            result["errors"].append(f"last_mile {flow_id}/{role}/{name}: {exc}")
    for src, dst, imp in links:
        backbone.set(src, dst, imp)
    for fdoc, flow in zip(_list(doc.get("flows"), "flows"), flows, strict=True):
        if fdoc.get("status") == "online":
            try:
                await manager.set_status(flow.id, "online")
                result["online"].append(flow.id)
            except EmulatorError as exc:
                result["errors"].append(f"flow {flow.region.id}/{flow.name}: not started: {exc}")
    logger.info("state imported: %d flows, %d online", len(flows), len(result["online"]))
    return result


# -- topology ----------------------------------------------------------------------------------------
def topology_of(state: dict[str, Any], topology: dict[str, Any]) -> dict[str, Any]:
    """A topology document (for ``mcemu up --topology``) with the flows, links and last-mile
    impairments of ``state``; ``topology`` gives what a state does not hold (``api``, ``seed``, the
    region catalogue). Access keys are left out: a topology export holds no credential of the API."""
    by_id = {f["id"]: f for f in state["flows"]}
    last_mile = {(e["flow_id"], e["role"], e["name"]): e for e in state.get("last_mile", [])}

    def pair(flow_id: str) -> str | None:
        f = by_id.get(flow_id)
        return f"{f['region']}/{f['name']}" if f else None

    def endpoint(flow_id: str, role: Role, e: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": e["name"], "protocol": e["protocol"]}
        keys = ["cidrs", "srt_latency", "srt_passphrase", "srt_pbkeylen"]
        keys += ["from_url"] if role is Role.INPUT else ["to_url", "player_limit"]
        for key in keys:
            if e.get(key) not in (None, "", 0):
                out[key] = e[key]
        if role is Role.INPUT:
            if e.get("max_bitrate") not in (None, DEFAULT_MAX_BITRATE):
                out["max_bitrate"] = e["max_bitrate"]
            if e.get("inner_url"):
                out["with_internal_vip"] = True
        if e["protocol"] == "Flow":
            out["pair_flow"] = pair(e["pair_flow_id"])
            pk = "pair_output_name" if role is Role.INPUT else "pair_input_name"
            out["pair_output" if role is Role.INPUT else "pair_input"] = e[pk]
        if role is Role.OUTPUT and e.get("forbid"):
            out["forbid"] = True
        lm = last_mile.get((flow_id, role, e["name"]))
        if lm is not None:
            out["last_mile"] = {d.value: lm[d] for d in Direction if lm.get(d) is not None}
        return out

    flows = []
    for f in state["flows"]:
        doc: dict[str, Any] = {"name": f["name"], "region": f["region"], "status": f["status"]}
        if f.get("failover_open"):
            doc["failover"] = True
        inputs = f["inputs"]
        if inputs:
            doc["input"] = endpoint(f["id"], Role.INPUT, inputs[0])
        if len(inputs) > 1:
            doc["backup_input"] = endpoint(f["id"], Role.INPUT, inputs[1])
        if f["outputs"]:
            doc["outputs"] = [endpoint(f["id"], Role.OUTPUT, o) for o in f["outputs"]]
        flows.append(doc)
    result = {k: v for k, v in topology.items() if k != "access_keys"}
    result["links"] = [{"from": e["from"], "to": e["to"], **e["impairment"]} for e in state["links"]]
    result["flows"] = flows
    return result


# -- the state file ----------------------------------------------------------------------------------
def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and ``os.replace``,
    so a reader (or a crash) never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".mcemu-state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class StateSaver:
    """Keeps ``path`` equal to ``export()``: written :data:`SAVE_DEBOUNCE_S` after :meth:`touch`
    (every API change and event calls it), and checked every :data:`SAVE_CHECK_S` for changes made in
    Python; only when the flows, links or last-mile impairments differ from the last write."""

    def __init__(self, path: str, export: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self._export = export
        self._last = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def touch(self) -> None:
        self._wake.set()

    def start(self) -> None:
        """Write the state now, then keep the file up to date (needs a running loop)."""
        self.save()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="state saver")

    async def close(self) -> None:
        """Stop, after a last save of what changed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.save()

    def _text(self) -> str:
        doc = self._export()
        doc.pop("exported_at", None)
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    def save(self) -> bool:
        """Write the state now if it changed; True when it wrote. A failure is logged, not raised."""
        try:
            text = self._text()
            if text == self._last:
                return False
            write_atomically(self.path, text)
        except OSError as exc:
            logger.warning("cannot save the state to %s: %s", self.path, exc)
            return False
        self._last = text
        self.writes += 1
        logger.debug("state saved to %s", self.path)
        return True

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SAVE_CHECK_S):
                    await self._wake.wait()
            if self._wake.is_set():
                await asyncio.sleep(SAVE_DEBOUNCE_S)
                self._wake.clear()
            self.save()


def read_state_file(path: str) -> Any:
    """The document in ``path``, None when there is no such file. Raises StateError (unreadable or
    not JSON)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StateError(f"{path} is not a state file (JSON): {exc}") from None
