"""``mcemu probe`` and ``mcemu signal``: read a stream URL, or publish the test signal to one."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import urllib.error
import urllib.parse
import urllib.request

from .common import (
    say,
)


def cmd_probe(args: argparse.Namespace) -> int:
    from mediaplane.media.probe import probe

    result = asyncio.run(probe(args.url, args.duration, timeout_s=args.timeout))
    if result.error and not result.bytes_received:
        say(f"mcemu: probe {args.url}: {probe_reason(args.url, result.error, args.timeout)}", err=True)
        return 1
    if args.json:
        say(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        say(result.format())
    return 0 if not result.error else 1


def probe_reason(url: str, error: str, timeout_s: float) -> str:
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


def cmd_signal(args: argparse.Namespace) -> int:
    from mediaplane.media.signal import SignalConfig, publish
    from mediaplane.srt import SrtError

    config = SignalConfig(video_codec="hevc" if args.hevc else "h264")
    try:
        report = asyncio.run(publish(args.url, config, duration_s=args.duration))
    except (SrtError, OSError, ValueError) as exc:  # cannot connect, refused, bad URL
        reason = probe_reason(args.url, f"{type(exc).__name__}: {exc}", 0)
        say(f"mcemu: signal to {args.url}: {reason}", err=True)
        return 1
    if report.error and not report.frames_sent:
        say(f"mcemu: signal to {args.url}: {probe_reason(args.url, report.error, 0)}", err=True)
        return 1
    say(
        f"signal {report.url}: {report.frames_sent} video frames, {report.audio_frames_sent} audio frames "
        f"in {report.duration_s:.1f} s" + (f"; error: {report.error}" if report.error else "")
    )
    return 0 if not report.error else 1
