"""The MaxBitrate shaper: a token bucket holding an input to its cap, as the real service does.

MediaConnect documents MaxBitrate as a cap on the input ("above it, stutter may occur"): media over the
cap waits, and a backlog past the switch's queue cap skips to the next keyframe (the hub's subscriber
cap does that). Bursts up to ``burst_s`` of the cap (keyframes) pass unchanged. Time comes in as
``now`` (seconds, any monotonic origin), so the bucket is tested with an explicit clock.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BURST_S", "MaxBitrateShaper"]

DEFAULT_BURST_S = 2.0
"""Seconds of the cap a burst may carry unchanged (a keyframe of a 2 s GOP)."""


class MaxBitrateShaper:
    """A token bucket of ``rate_bps`` bits per second with ``burst_s`` seconds of burst."""

    __slots__ = ("_at", "_bytes_per_s", "_capacity", "_tokens", "delayed_s", "rate_bps")

    def __init__(self, rate_bps: int, *, burst_s: float = DEFAULT_BURST_S) -> None:
        if rate_bps <= 0 or burst_s <= 0:
            raise ValueError("rate_bps and burst_s must be positive")
        self.rate_bps = rate_bps
        self._bytes_per_s = rate_bps / 8
        self._capacity = self._bytes_per_s * burst_s
        self._tokens = self._capacity
        self._at: float | None = None
        self.delayed_s = 0.0
        """Total time media waited for the cap, in seconds."""

    def __repr__(self) -> str:
        return f"<MaxBitrateShaper {self.rate_bps} bit/s tokens={self._tokens:.0f}B>"

    def delay(self, size: int, now: float) -> float:
        """Take ``size`` bytes at ``now`` (seconds); how long, in seconds, to wait before forwarding them."""
        if self._at is not None:
            self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._bytes_per_s)
        self._at = now
        self._tokens -= size
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self._bytes_per_s
        self.delayed_s += wait
        return wait
