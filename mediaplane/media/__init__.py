"""Instruments: the numbered test-signal generator and the stream probe (PyAV; never on the relay path)."""

from .framecode import code_bits, delay_ms, draw_luma, parse_bits, read_luma
from .probe import (
    ProbeResult,
    SequenceStats,
    StreamInfo,
    TsContinuityChecker,
    analyse_sequence,
    probe,
    probe_blocking,
)
from .signal import SignalConfig, SignalReport, generate, publish

__all__ = [
    "ProbeResult",
    "SequenceStats",
    "SignalConfig",
    "SignalReport",
    "StreamInfo",
    "TsContinuityChecker",
    "analyse_sequence",
    "code_bits",
    "delay_ms",
    "draw_luma",
    "generate",
    "parse_bits",
    "probe",
    "probe_blocking",
    "publish",
    "read_luma",
]
