"""Benchmark: datagrams per second through a UdpLink, and how close deliveries land to their deadline.

The link runs in this process on one asyncio loop, pinned to CPU 0; a sender and a sink run as
separate processes pinned to CPU 1, so they do not take the link's core (``--no-pin`` to let the
scheduler place them). Other work on the machine still competes: run it on a quiet machine. Three runs
at the same offered load:

1. plain: a no-impairment UdpLink (forwards at once): the reference;
2. impaired: delay 20 ms, jitter 2 ms (normal), loss 1 %;
3. delay-only: delay 20 ms, to measure the end-to-end added-delay error at the sink.

4. streams: ``--streams`` rungs (default 4 and 16) of N flows of 8 Mbit/s in 1316-byte datagrams (760 pps
   each, one client address per flow, as N SRT legs over one backbone link) through a constant 80 ms
   delay: packets per link-CPU-second of the backbone's own case.

The first three alternate, ``--rounds`` times (plain, impaired, delay-only, plain, ...), and each ratio is
against the plain run of its own round. Printed figures: packets in/out, where the offered packets
went (refused at the sender, dropped by the link, lost after it in socket buffers) and a mark on any
run that lost more than its configured loss (the reference included: a reference that lost data is
not a like-for-like anchor), wall-clock throughput, link CPU time per packet (packets per CPU-second =
what one core sustains), scheduling error (actual minus scheduled send time, measured in the link)
percentiles, end-to-end delay error at the sink, and every round's ratio against the plain run.

    python bench/netem.py [--rate 60000] [--seconds 3] [--size 1332] [--rounds 2] [--streams 4,16] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time

from mediaplane.netem import Impairment
from mediaplane.netem.link import FORWARD, UdpLink

STAMP = struct.Struct("!Qd")
LOAD_CPU: list[str] = []
"""The CPU the sender and sink run on (empty: not pinned)."""


def pin(cpu: int | None) -> None:
    """Run this process on one CPU (the link on one core, its load generators on another)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def role_sender(host: str, port: int, rate: int, seconds: float, size: int, streams: int = 1) -> None:
    socks = []
    for _ in range(streams):  # one client address per stream, each its own session in the link
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sock.connect((host, port))
        socks.append(sock)
    pad = b"\0" * (size - STAMP.size)
    total = int(rate * seconds)
    batch = max(1, rate // 1000)  # one burst per millisecond
    start = time.monotonic()
    seq = 0
    refused = 0
    while seq < total:
        due = start + seq / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for _ in range(min(batch, total - seq)):
            try:
                socks[seq % streams].send(STAMP.pack(seq, time.monotonic()) + pad)
            except (BlockingIOError, ConnectionRefusedError):
                refused += 1
            seq += 1
    print(json.dumps({"sent": seq, "refused": refused, "seconds": time.monotonic() - start}), flush=True)


def role_sink(delay_ms: float, idle_s: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    sock.settimeout(30.0)
    count = 0
    errors: list[float] = []
    first = last = 0.0
    expect = delay_ms / 1000.0
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        now = time.monotonic()
        if not count:
            first = now
            sock.settimeout(idle_s)
        last = now
        count += 1
        _, sent = STAMP.unpack_from(data)
        errors.append(now - sent - expect)
    out = {"received": count, "seconds": last - first, "e2e_error_ms": percentiles(errors)}
    print(json.dumps(out), flush=True)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000.0, 3)

    abs_sorted = sorted(abs(v) for v in values)
    return {
        "p1": at(1),
        "p50": at(50),
        "p99": at(99),
        "p99.9": at(99.9),
        "abs_p99": round(abs_sorted[min(len(abs_sorted) - 1, int(0.99 * len(abs_sorted)))] * 1000.0, 3),
    }


def _cpu_args() -> list[str]:
    return ["--cpu", *LOAD_CPU] if LOAD_CPU else []


async def run_once(
    label: str, imp: Impairment, args: argparse.Namespace, *, rate: int = 0, size: int = 0, streams: int = 1
) -> dict[str, object]:
    rate = rate or args.rate
    size = size or args.size
    here = __file__
    py = sys.executable
    sink = await asyncio.create_subprocess_exec(
        py,
        here,
        "--role",
        "sink",
        "--delay-ms",
        str(imp.delay_ms),
        *(["--cpu", *LOAD_CPU] if LOAD_CPU else []),
        stdout=subprocess.PIPE,
    )
    assert sink.stdout is not None
    try:
        sink_port = int(await sink.stdout.readline())
        async with UdpLink(
            target=("127.0.0.1", sink_port), impairment=imp, seed=1, record_lateness=True
        ) as link:
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            wall0 = time.monotonic()
            sender = await asyncio.create_subprocess_exec(
                py, here, "--role", "sender", "--port", str(link.port), "--rate", str(rate),
                "--seconds", str(args.seconds), "--size", str(size), "--streams", str(streams), *_cpu_args(),
                stdout=subprocess.PIPE,
            )  # fmt: skip
            out, _ = await sender.communicate()
            sent = json.loads(out)
            while link.stats()[FORWARD]["queued"]:  # noqa: ASYNC110 - polling the link's own queue
                await asyncio.sleep(0.01)
            wall = time.monotonic() - wall0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            stats = link.stats()[FORWARD]
            lateness = link.lateness or []
        sink_out, _ = await sink.communicate()
        received = json.loads(sink_out)
    finally:
        if sink.returncode is None:
            sink.kill()
            await sink.wait()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    packets = stats["packets_in"]
    return {
        "label": label,
        "sent": sent["sent"],
        "refused": sent["refused"],
        "link_in": packets,
        "link_dropped": stats["dropped"],
        "link_delivered": stats["delivered"],
        "sink_received": received["received"],
        "throughput_pps": round(stats["delivered"] / max(received["seconds"], 1e-9)),
        "link_cpu_s": round(cpu, 3),
        "pps_per_cpu_s": round(packets / cpu) if cpu else None,
        "sched_error_ms": percentiles(lateness) if lateness else {},
        "e2e_error_ms": received["e2e_error_ms"],
        "wall_s": round(wall, 2),
        # Involuntary context switches of the link process: other work took its core this often.
        "link_preempted": cpu1.ru_nivcsw - cpu0.ru_nivcsw,
    }


def loss_line(r: dict[str, object], expected_pct: float) -> str:
    """Where the offered datagrams went: refused at the sender, lost before the link read them (its
    socket buffer overflowed), dropped by the link, lost between the link and the sink."""
    sent = int(r["sent"])  # type: ignore[call-overload]
    got = int(r["sink_received"])  # type: ignore[call-overload]
    lost = 1 - got / sent if sent else 0.0
    parts = (
        f"offered {sent}, sink got {got}: lost {lost * 100:.2f} % (expected {expected_pct:g} %: "
        f"sender refused {r['refused']}, "
        f"before the link (its socket buffer) {sent - int(r['refused']) - int(r['link_in'])}, "  # type: ignore[call-overload]
        f"link dropped {r['link_dropped']}, "
        f"after the link {int(r['link_delivered']) - got})"  # type: ignore[call-overload]
    )
    return parts


async def main(args: argparse.Namespace) -> None:
    runs = [
        ("plain", Impairment(), 0.0),
        (
            "impaired",
            Impairment(delay_ms=20.0, jitter_ms=2.0, jitter_distribution="normal", loss_pct=1.0),
            1.0,
        ),
        ("delay-only", Impairment(delay_ms=20.0), 0.0),
    ]
    print(
        f"offered load: {args.rate} pps of {args.size}-byte datagrams for {args.seconds} s; "
        f"cores: {os.cpu_count()}; rounds {args.rounds} (plain, impaired, delay-only in turn); "
        + ("link pinned to CPU 0, sender and sink to CPU 1" if LOAD_CPU else "not pinned")
    )
    ratios: dict[str, list[str]] = {label: [] for label, _, _ in runs[1:]}
    for rnd in range(0 if args.no_relay else args.rounds):
        plain: dict[str, object] = {}
        for label, imp, expected in runs:
            r = await run_once(label, imp, args)
            sent = int(r["sent"])  # type: ignore[call-overload]
            lost = 1 - int(r["sink_received"]) / sent if sent else 0.0  # type: ignore[call-overload]
            # Beyond the configured loss (plus a little slack for the Bernoulli draw) the run lost data.
            excess = max(0.0, lost - expected / 100 * 1.2)
            r["lost_pct"] = round(lost * 100, 2)
            print(f"round {rnd + 1} {json.dumps(r)}")
            what = "reference" if label == "plain" else label
            print(f"round {rnd + 1} {label}: {loss_line(r, expected)}{loss_mark(excess, what)}")
            if label == "plain":
                plain = r
                continue
            ratio = (r["pps_per_cpu_s"] or 0) / (plain["pps_per_cpu_s"] or 1)  # type: ignore[operator]
            flag = " (the reference lost data)" if float(plain["lost_pct"]) > 0 else ""  # type: ignore[arg-type]
            ratios[label].append(f"{ratio:.2f}x{flag}")
            print(
                f"round {rnd + 1} {label}: {r['pps_per_cpu_s']} packets per link-CPU-second = {ratio:.2f} x "
                f"plain relay{flag}; throughput {r['throughput_pps']} pps (offered {args.rate}); "
                f"scheduling error (ms) {r['sched_error_ms']}; end-to-end added delay minus delay_ms (ms"
                f"{', includes the configured jitter' if label == 'impaired' else ''}) {r['e2e_error_ms']}; "
                f"link preempted {r['link_preempted']} times"
            )
    for label, values in ratios.items():
        print(f"{label} / plain, packets per link-CPU-second, every round: {', '.join(values)}")
    await run_streams(args)


STREAM_BITRATE_BPS = 8_000_000
"""Bitrate of one backbone flow in the streams runs."""
STREAM_DATAGRAM_BYTES = 1316
"""Its datagrams: SRT-sized (7 MPEG-TS packets)."""
STREAM_DELAY_MS = 80.0
"""A constant one-way backbone delay (no jitter, no reordering)."""


async def run_streams(args: argparse.Namespace) -> None:
    """N constant-delay flows through one link: packets per link-CPU-second, every round."""
    rungs = [int(n) for n in args.streams.split(",") if n.strip()]
    pps = STREAM_BITRATE_BPS // (8 * STREAM_DATAGRAM_BYTES)
    imp = Impairment(delay_ms=STREAM_DELAY_MS)
    figures: dict[int, list[str]] = {n: [] for n in rungs}
    for rnd in range(args.rounds):
        for n in rungs:
            r = await run_once(f"streams-{n}", imp, args, rate=n * pps, size=STREAM_DATAGRAM_BYTES, streams=n)
            sent = int(r["sent"])  # type: ignore[call-overload]
            lost = 1 - int(r["sink_received"]) / sent if sent else 0.0  # type: ignore[call-overload]
            r["lost_pct"] = round(lost * 100, 2)
            print(f"round {rnd + 1} {json.dumps(r)}")
            print(f"round {rnd + 1} streams-{n}: {loss_line(r, 0.0)}{loss_mark(lost, 'run')}")
            mark = " (lost data)" if lost > 0 else ""
            figures[n].append(f"{r['pps_per_cpu_s']}{mark}")
    for n, values in figures.items():
        print(
            f"streams-{n} ({n} x 8 Mbit/s of {STREAM_DATAGRAM_BYTES}-byte datagrams, {n * pps} pps, "
            f"constant {STREAM_DELAY_MS:g} ms): packets per link-CPU-second, every round: {', '.join(values)}"
        )


def loss_mark(lost_fraction: float, what: str) -> str:
    if lost_fraction <= 0:
        return ""
    return f"  [{what} LOST {lost_fraction * 100:.1f} % of what it was offered beyond its configured loss]"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", default="main", choices=["main", "sender", "sink"])
    parser.add_argument("--rate", type=int, default=60000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=1332)
    parser.add_argument("--rounds", type=int, default=2, help="plain, impaired, delay-only this many times")
    parser.add_argument("--streams", default="4,16", help="rungs of N 8 Mbit/s flows at 80 ms ('' for none)")
    parser.add_argument("--no-relay", action="store_true", help="only the streams runs")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the link to CPU 0 and its load to CPU 1"
    )
    parsed = parser.parse_args()
    pin(parsed.cpu)
    if parsed.role == "main" and not parsed.no_pin and (os.cpu_count() or 1) >= 2:
        pin(0)
        LOAD_CPU.append("1")
    if parsed.role == "sender":
        role_sender("127.0.0.1", parsed.port, parsed.rate, parsed.seconds, parsed.size, int(parsed.streams))
    elif parsed.role == "sink":
        role_sink(parsed.delay_ms, 1.0)
    else:
        asyncio.run(main(parsed))
