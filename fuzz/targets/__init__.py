"""The fuzz targets: one function of raw bytes per core, shared by ``tests/fuzz`` (hypothesis, bounded)
and ``python -m fuzz`` (atheris, coverage guided); one module per core family (:mod:`.rtmp`,
:mod:`.srt`, :mod:`.config`), their inputs from :mod:`.inputs`.

Every target feeds its core, checks the core's own invariants (round trips, at most one close, work
bounded by what the connection holds) and may raise only the errors listed in ``allowed``; the
budgets of :mod:`fuzz.harness` apply on top. Seeds come from ``fixtures/`` (``srt_*.bin`` captured
from libsrt, ``rtmp_publish_*.bin`` recorded from ffmpeg by :mod:`fuzz.record_rtmp_publish`) plus a
few small synthetic inputs that put length and count fields within reach of byte mutations.

Stream cores (RTMP) get their input in pieces of varying size, so every state is also entered with a
partial buffer. Datagram cores (SRT) get their input as frames (:func:`.srt.frame_datagrams`): a flags
byte, a clock step in milliseconds and a length-prefixed datagram each, so one input drives a
connection through many datagrams on an explicit clock.
"""

from __future__ import annotations

from ..harness import FuzzTarget
from . import config, rtmp, srt

__all__ = ["TARGETS"]

TARGETS: dict[str, FuzzTarget] = {t.name: t for t in (*rtmp.TARGETS, *srt.TARGETS, *config.TARGETS)}
"""Every target by name (``python -m fuzz --list``)."""
