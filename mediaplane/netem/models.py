"""Sans-IO impairment models for the backbone and last-mile links.

A model is told about each packet (UDP) or byte run (TCP) together with ``now`` (monotonic seconds) and
answers when to deliver it, or that it is dropped. It never reads a clock and never touches the global
random generator: every random draw comes from ``random.Random`` instances derived from one injected
generator (or from :attr:`Impairment.seed`), so the same seed and the same packet sequence give the
same run.

Each random process (loss, jitter, duplication, reordering, TCP retransmissions) has its own derived
generator, so which packets the loss process drops depends only on their order of arrival and the seed,
never on timing (a queue drop does not shift the loss sequence).

UDP (:class:`UdpModel`), in the order netem applies them: outage -> loss -> duplication -> bandwidth
queue (tail drop) -> delay + jitter (or, for a reordered packet, no delay). Reordering is a consequence
of jitter (each datagram draws its own delay) or explicit (``reorder_pct``).

TCP (:class:`~mediaplane.netem.tcp_model.TcpModel`, in its own module): the byte stream is cut into
segments; each gets serialised at the bandwidth cap, delayed with jitter, and never overtakes the segment
before it (TCP delivers in order, so jitter shows as head-of-line waits, not reordering). A "lost"
segment is not dropped (TCP would retransmit it): it shows as the stall a retransmission costs, one round
trip for a fast retransmit or the retransmission timeout for a tail loss. Outages either stall (the
connection is held and bytes wait) or reset it.
"""

from __future__ import annotations

import enum
import logging
import math
import random
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any

logger = logging.getLogger(__name__)

JITTER_DISTRIBUTIONS = ("uniform", "normal", "pareto")
"""Allowed values of :attr:`Impairment.jitter_distribution`."""
LOSS_MODELS = ("bernoulli", "gilbert-elliott")
"""Allowed values of :attr:`Impairment.loss_model`."""


class OutageMode(enum.StrEnum):
    """What a link does while it is out (the values are the topology's, the admin API's and the CLI's)."""

    DROP = "drop"
    """UDP: drop everything; TCP: same as stall."""
    STALL = "stall"
    """TCP: hold the connection, bytes wait; UDP: drop."""
    RESET = "reset"
    """TCP: cut connections and refuse new ones; UDP: drop."""


OUTAGE_MODES = tuple(OutageMode)
"""Allowed values of :attr:`Impairment.outage_mode`."""

PARETO_SHAPE = 3.0
"""Shape (alpha) of the Pareto jitter; with 3 the tail is heavy but the variance finite."""
MAX_DELAY_MS = 60_000.0
"""Upper bound accepted for ``delay_ms`` and ``jitter_ms`` (a minute)."""


class NetemError(Exception):
    """Root of the errors raised by :mod:`mediaplane.netem`."""


class ImpairmentError(NetemError, ValueError):
    """An impairment, profile or timeline description is invalid (a ``ValueError`` for callers)."""


def _pct(name: str, value: float) -> None:
    if not 0.0 <= value <= 100.0:
        raise ImpairmentError(f"{name} must be within 0..100, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Impairment:
    """What a link does to traffic in one direction. All fields default to "no impairment"."""

    delay_ms: float = 0.0
    """Constant one-way delay added to every packet, milliseconds."""
    jitter_ms: float = 0.0
    """Spread of the delay, milliseconds: half-width (uniform), sigma (normal) or mean extra (pareto)."""
    jitter_distribution: str = "uniform"
    """``uniform`` (delay +- jitter), ``normal`` (sigma = jitter) or ``pareto`` (one-sided heavy tail)."""
    jitter_correlation_pct: float = 0.0
    """Correlation of successive jitter draws (0 = independent, 99 = nearly constant), percent."""
    loss_pct: float = 0.0
    """Mean packet loss, percent (bernoulli; for gilbert-elliott with ``loss_burst_packets``). On TCP
    links, the share of segments that cost a retransmission stall (nothing is dropped)."""
    loss_model: str = "bernoulli"
    """``bernoulli`` (independent losses) or ``gilbert-elliott`` (two-state bursts)."""
    loss_burst_packets: float = 0.0
    """Gilbert-Elliott shorthand: mean burst length in packets, used with ``loss_pct`` (0 = use ge_*)."""
    ge_p_pct: float = 0.0
    """Gilbert-Elliott: probability per packet of moving from the good to the bad state, percent."""
    ge_r_pct: float = 0.0
    """Gilbert-Elliott: probability per packet of moving from the bad to the good state, percent."""
    ge_loss_good_pct: float = 0.0
    """Gilbert-Elliott: loss probability in the good state (1 - k), percent."""
    ge_loss_bad_pct: float = 100.0
    """Gilbert-Elliott: loss probability in the bad state (1 - h), percent."""
    duplicate_pct: float = 0.0
    """Probability that a datagram is delivered twice, percent (UDP only)."""
    reorder_pct: float = 0.0
    """Probability that a datagram skips delay and jitter and overtakes earlier ones, percent (UDP)."""
    rate_kbps: float = 0.0
    """Bandwidth cap in kilobits (1000 bits) per second; 0 means unlimited."""
    queue_limit_packets: int = 1000
    """Bandwidth queue bound: UDP tail-drops past it; TCP stops reading past this many segments."""
    outage: bool = False
    """The link is down now (until the impairment changes): see ``outage_mode``."""
    outage_mode: OutageMode = OutageMode.DROP
    """``drop`` (UDP: drop everything; TCP: same as stall), ``stall`` (TCP: hold the connection, bytes wait;
    UDP: drop) or ``reset`` (TCP: cut connections and refuse new ones; UDP: drop)."""
    outage_period_s: float = 0.0
    """Recurring outages: one every this many seconds (0 = none), counted from when the impairment is set."""
    outage_duration_s: float = 0.0
    """Length of each recurring outage, seconds; it occupies the end of every period."""
    seed: int | None = None
    """Seed of the link's random generator; ``None`` lets the link pick (the run is then not repeatable)."""

    def validate(self) -> None:
        """Check ranges and names. Raises :class:`ImpairmentError` (a ``ValueError``)."""
        for name in ("delay_ms", "jitter_ms"):
            value = getattr(self, name)
            if not 0.0 <= value <= MAX_DELAY_MS:
                raise ImpairmentError(f"{name} must be within 0..{MAX_DELAY_MS:g}, got {value}")
        if self.jitter_distribution not in JITTER_DISTRIBUTIONS:
            raise ImpairmentError(
                f"jitter_distribution must be one of {', '.join(JITTER_DISTRIBUTIONS)}, "
                f"got {self.jitter_distribution!r}"
            )
        if not 0.0 <= self.jitter_correlation_pct < 100.0:
            raise ImpairmentError(
                f"jitter_correlation_pct must be within 0..100 (exclusive), got {self.jitter_correlation_pct}"
            )
        for name in (
            "loss_pct",
            "ge_p_pct",
            "ge_r_pct",
            "ge_loss_good_pct",
            "ge_loss_bad_pct",
            "duplicate_pct",
            "reorder_pct",
        ):
            _pct(name, getattr(self, name))
        if self.loss_model not in LOSS_MODELS:
            raise ImpairmentError(
                f"loss_model must be one of {', '.join(LOSS_MODELS)}, got {self.loss_model!r}"
            )
        if self.loss_burst_packets != 0.0 and self.loss_burst_packets < 1.0:
            raise ImpairmentError(
                f"loss_burst_packets must be 0 or at least 1, got {self.loss_burst_packets}"
            )
        if self.loss_model == "gilbert-elliott":
            if self.loss_burst_packets:
                if self.loss_pct >= 100.0:
                    raise ImpairmentError("loss_pct must be below 100 with loss_burst_packets")
            elif self.ge_r_pct <= 0.0 and self.ge_p_pct > 0.0:
                raise ImpairmentError("ge_r_pct must be above 0: the bad state would never end")
        if self.rate_kbps < 0.0:
            raise ImpairmentError(f"rate_kbps must be 0 (unlimited) or positive, got {self.rate_kbps}")
        if self.queue_limit_packets < 1:
            raise ImpairmentError(f"queue_limit_packets must be at least 1, got {self.queue_limit_packets}")
        if self.outage_mode not in OUTAGE_MODES:  # a plain string passed to the constructor
            raise ImpairmentError(_bad_outage_mode(self.outage_mode))
        if self.outage_period_s < 0.0 or self.outage_duration_s < 0.0:
            raise ImpairmentError("outage_period_s and outage_duration_s must not be negative")
        if self.outage_duration_s > 0.0 and not self.outage_duration_s <= self.outage_period_s:
            raise ImpairmentError(
                f"outage_duration_s ({self.outage_duration_s}) needs an outage_period_s at least as long, "
                f"got {self.outage_period_s}"
            )
        if self.seed is not None and not 0 <= self.seed < 2**64:
            raise ImpairmentError(f"seed must be within 0..2**64-1, got {self.seed}")

    @property
    def is_identity(self) -> bool:
        """True when the impairment changes nothing (the link may forward at once)."""
        return (
            self.delay_ms == 0.0
            and self.jitter_ms == 0.0
            and self.loss_rate == 0.0
            and self.duplicate_pct == 0.0
            and self.rate_kbps == 0.0
            and not self.outage
            and not (self.outage_period_s and self.outage_duration_s)
        )

    @property
    def loss_rate(self) -> float:
        """Long-run fraction of packets lost (0..1) implied by the loss settings."""
        if self.loss_model == "bernoulli":
            return self.loss_pct / 100.0
        p, r, lg, lb = self.gilbert_elliott()
        if p + r == 0.0:
            return lg
        return (r * lg + p * lb) / (p + r)

    def gilbert_elliott(self) -> tuple[float, float, float, float]:
        """Effective Gilbert-Elliott parameters as fractions: ``(p, r, loss_good, loss_bad)``.

        With ``loss_burst_packets`` set, ``r = 1 / burst`` and ``p`` is chosen so that the long-run loss
        equals ``loss_pct`` with a loss-free good state and a fully lossy bad state (the Gilbert model).
        """
        if self.loss_burst_packets:
            loss = self.loss_pct / 100.0
            r = 1.0 / self.loss_burst_packets
            p = r * loss / (1.0 - loss)
            return (min(p, 1.0), r, 0.0, 1.0)
        return (
            self.ge_p_pct / 100.0,
            self.ge_r_pct / 100.0,
            self.ge_loss_good_pct / 100.0,
            self.ge_loss_bad_pct / 100.0,
        )

    def outage_at(self, elapsed_s: float) -> bool:
        """Whether the link is out ``elapsed_s`` seconds after this impairment took effect."""
        if self.outage:
            return True
        if self.outage_period_s and self.outage_duration_s:
            return elapsed_s % self.outage_period_s >= self.outage_period_s - self.outage_duration_s
        return False

    def outage_end(self, elapsed_s: float) -> float | None:
        """Elapsed time at which the current outage ends; ``None`` if it lasts until the impairment changes
        (or there is none)."""
        if self.outage or not (self.outage_period_s and self.outage_duration_s):
            return None
        if not self.outage_at(elapsed_s):
            return None
        return (math.floor(elapsed_s / self.outage_period_s) + 1.0) * self.outage_period_s

    def next_outage_start(self, elapsed_s: float) -> float | None:
        """Elapsed time at which the next recurring outage starts (strictly after ``elapsed_s``), or
        ``None`` without recurring outages."""
        if not (self.outage_period_s and self.outage_duration_s):
            return None
        period = self.outage_period_s
        start = math.floor(elapsed_s / period) * period + period - self.outage_duration_s
        return start if start > elapsed_s else start + period

    def summary(self) -> str:
        """A short human-readable description: ``delay 80 ms +-3 normal, loss 1 % (burst 3), 5000 kbps``."""
        parts: list[str] = []
        if self.delay_ms or self.jitter_ms:
            text = f"delay {self.delay_ms:g} ms"
            if self.jitter_ms:
                text += f" +-{self.jitter_ms:g} {self.jitter_distribution}"
                if self.jitter_correlation_pct:
                    text += f" ({self.jitter_correlation_pct:g} % corr)"
            parts.append(text)
        if self.loss_rate:
            text = f"loss {self.loss_rate * 100:.3g} %"
            if self.loss_model == "gilbert-elliott":
                r = self.gilbert_elliott()[1]
                text += f" (gilbert-elliott, bursts ~{1 / r:.3g})" if r else " (gilbert-elliott)"
            parts.append(text)
        if self.duplicate_pct:
            parts.append(f"duplicate {self.duplicate_pct:g} %")
        if self.reorder_pct:
            parts.append(f"reorder {self.reorder_pct:g} %")
        if self.rate_kbps:
            parts.append(f"{self.rate_kbps:g} kbps (queue {self.queue_limit_packets})")
        if self.outage:
            parts.append(f"OUTAGE ({self.outage_mode})")
        elif self.outage_period_s and self.outage_duration_s:
            parts.append(
                f"outage {self.outage_duration_s:g} s every {self.outage_period_s:g} s ({self.outage_mode})"
            )
        return ", ".join(parts) or "no impairment"

    # -- plain-type form for topology files and the admin API ------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON/YAML types (``seed`` may be ``None``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["outage_mode"] = str(self.outage_mode)  # yaml.safe_dump cannot represent a StrEnum
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Impairment:
        """Build and validate from a mapping of field names (missing fields keep their defaults).

        Raises :class:`ImpairmentError` (a ``ValueError``) naming unknown keys or values of the wrong type.
        """
        return cls().with_changes(data)

    def with_changes(self, changes: Any) -> Impairment:
        """A copy with the fields in ``changes`` (a mapping) replaced, type-checked and validated."""
        if not isinstance(changes, dict):
            raise ImpairmentError(f"an impairment must be a mapping, got {type(changes).__name__}")
        known = {f.name: f for f in fields(self)}
        unknown = sorted(str(k) for k in changes if k not in known)
        if unknown:
            raise ImpairmentError(f"unknown impairment keys: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in changes.items():
            values[key] = _coerce(key, _FIELD_TYPES[key], value)
        result = replace(self, **values)
        result.validate()
        return result


_FIELD_TYPES: dict[str, str] = {
    "delay_ms": "float",
    "jitter_ms": "float",
    "jitter_distribution": "str",
    "jitter_correlation_pct": "float",
    "loss_pct": "float",
    "loss_model": "str",
    "loss_burst_packets": "float",
    "ge_p_pct": "float",
    "ge_r_pct": "float",
    "ge_loss_good_pct": "float",
    "ge_loss_bad_pct": "float",
    "duplicate_pct": "float",
    "reorder_pct": "float",
    "rate_kbps": "float",
    "queue_limit_packets": "int",
    "outage": "bool",
    "outage_mode": "outage_mode",
    "outage_period_s": "float",
    "outage_duration_s": "float",
    "seed": "int?",
}
assert set(_FIELD_TYPES) == {f.name for f in fields(Impairment)}


def _bad_outage_mode(value: object) -> str:
    return f"outage_mode must be one of {', '.join(OUTAGE_MODES)}, got {value!r}"


def _coerce(key: str, kind: str, value: Any) -> Any:
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ImpairmentError(f"{key} must be a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise ImpairmentError(f"{key} must be finite, got {value!r:.40}")
        return number
    if kind == "int" or (kind == "int?" and value is not None):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ImpairmentError(f"{key} must be an integer, got {value!r}")
        return value
    if kind == "int?":
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ImpairmentError(f"{key} must be true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ImpairmentError(f"{key} must be a string, got {value!r}")
    if kind == "outage_mode":
        try:
            return OutageMode(value)
        except ValueError:
            raise ImpairmentError(_bad_outage_mode(value)) from None
    return value


# -- random processes ------------------------------------------------------------------------------


def derive_rng(parent: random.Random, label: str) -> random.Random:
    """A child generator for one random process, fixed by the parent's state and ``label``."""
    return random.Random(f"{parent.getrandbits(64)}:{label}")


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


class JitterProcess:
    """Draws jitter offsets (milliseconds, may be negative) from the configured distribution.

    Correlation uses a Gaussian copula: an AR(1) normal series ``z' = rho z + sqrt(1 - rho^2) e`` is
    mapped through the normal CDF and the target distribution's inverse CDF, so successive draws are
    correlated while each one keeps the configured distribution (netem's blend of uniform draws does
    not: it narrows the distribution as correlation grows).
    """

    __slots__ = ("_dist", "_jitter", "_rho", "_rng", "_scale", "_z")

    def __init__(self, impairment: Impairment, rng: random.Random) -> None:
        self._rng = rng
        self._jitter = impairment.jitter_ms
        self._dist = impairment.jitter_distribution
        self._rho = impairment.jitter_correlation_pct / 100.0
        self._scale = math.sqrt(1.0 - self._rho * self._rho)
        self._z = 0.0

    def sample(self) -> float:
        """One jitter offset in milliseconds."""
        j = self._jitter
        rng = self._rng
        if self._rho == 0.0:
            if self._dist == "uniform":
                return rng.uniform(-j, j)
            if self._dist == "normal":
                return rng.gauss(0.0, j)
            u = 1.0 - rng.random()  # (0, 1]
        else:
            self._z = z = self._rho * self._z + self._scale * rng.gauss(0.0, 1.0)
            if self._dist == "normal":
                return j * z
            u = _normal_cdf(z)
            if self._dist == "uniform":
                return j * (2.0 * u - 1.0)
            u = max(1.0 - u, 1e-12)
        # Pareto with shape a and scale xm has mean a * xm / (a - 1); the extra delay X - xm has mean
        # xm / (a - 1), so xm = (a - 1) * jitter makes the mean extra equal to jitter_ms.
        xm = (PARETO_SHAPE - 1.0) * j
        return xm * (math.pow(u, -1.0 / PARETO_SHAPE) - 1.0)


class LossProcess:
    """Decides, packet by packet, whether it is lost (Bernoulli or Gilbert-Elliott)."""

    __slots__ = ("_bad", "_ge", "_loss_bad", "_loss_good", "_p", "_r", "_rate", "_rng")

    def __init__(self, impairment: Impairment, rng: random.Random, *, bad: bool = False) -> None:
        self._rng = rng
        self._ge = impairment.loss_model == "gilbert-elliott"
        self._rate = impairment.loss_pct / 100.0
        self._p, self._r, self._loss_good, self._loss_bad = impairment.gilbert_elliott()
        self._bad = bad and self._ge

    @property
    def in_bad_state(self) -> bool:
        """Gilbert-Elliott: whether the channel is in its bad (bursty) state."""
        return self._bad

    @property
    def active(self) -> bool:
        """Whether any packet can be lost at all."""
        if self._ge:
            return self._loss_good > 0.0 or (self._p > 0.0 and self._loss_bad > 0.0) or self._bad
        return self._rate > 0.0

    def lost(self) -> bool:
        """Draw the fate of the next packet."""
        rng = self._rng
        if not self._ge:
            return rng.random() < self._rate
        # State transition first, then the loss draw in the new state (Gilbert-Elliott, 1960/1963).
        if self._bad:
            if rng.random() < self._r:
                self._bad = False
        elif rng.random() < self._p:
            self._bad = True
        return rng.random() < (self._loss_bad if self._bad else self._loss_good)


# -- UDP -------------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class UdpCounters:
    """What a :class:`UdpModel` saw; delivered = packets_in - dropped + duplicated."""

    packets_in: int = 0
    bytes_in: int = 0
    dropped_loss: int = 0
    dropped_queue: int = 0
    dropped_outage: int = 0
    duplicated: int = 0
    reordered: int = 0

    @property
    def dropped(self) -> int:
        return self.dropped_loss + self.dropped_queue + self.dropped_outage

    def to_dict(self) -> dict[str, int]:
        return {
            "packets_in": self.packets_in,
            "bytes_in": self.bytes_in,
            "dropped": self.dropped,
            "dropped_loss": self.dropped_loss,
            "dropped_queue": self.dropped_queue,
            "dropped_outage": self.dropped_outage,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
        }


class ImpairmentModel:
    """What the UDP and TCP direction models do alike: follow an impairment from a given time on with
    seeded loss and jitter processes (a Gilbert-Elliott channel keeps its state across a change), the
    base delay and the bandwidth cap; each role adds its own fields in :meth:`set_impairment`."""

    impairment: Impairment
    _loss_rng: random.Random
    _jitter_rng: random.Random
    _loss: LossProcess | None
    _jitter: JitterProcess | None

    @staticmethod
    def _parent_rng(impairment: Impairment, rng: random.Random | None) -> random.Random:
        """``rng``, else one seeded with the impairment's own seed (unseeded when it has none)."""
        if rng is not None:
            return rng
        return random.Random(impairment.seed) if impairment.seed is not None else random.Random()

    def set_impairment(self, impairment: Impairment, now: float) -> None:
        """Switch to ``impairment`` from ``now`` on. Raises :class:`ImpairmentError`."""
        impairment.validate()
        bad = self._loss is not None and self._loss.in_bad_state
        self.impairment = impairment
        self._epoch = now
        loss = LossProcess(impairment, self._loss_rng, bad=bad)
        self._loss = loss if loss.active else None
        self._jitter = JitterProcess(impairment, self._jitter_rng) if impairment.jitter_ms > 0.0 else None
        self._delay_s = impairment.delay_ms / 1000.0
        self._s_per_byte = 8.0 / (impairment.rate_kbps * 1000.0) if impairment.rate_kbps else 0.0
        self.identity = impairment.is_identity


class UdpModel(ImpairmentModel):
    """Impairment of one direction of a datagram link.

    :meth:`decide` returns the delivery times of a datagram: ``()`` when it is dropped, one time
    normally, two when it is duplicated. Times are on the caller's clock (the ``now`` it passes).
    """

    def __init__(self, impairment: Impairment, *, rng: random.Random | None = None, now: float = 0.0) -> None:
        impairment.validate()
        rng = self._parent_rng(impairment, rng)
        self._loss_rng = derive_rng(rng, "loss")
        self._jitter_rng = derive_rng(rng, "jitter")
        self._dup_rng = derive_rng(rng, "duplicate")
        self._reorder_rng = derive_rng(rng, "reorder")
        self.counters = UdpCounters()
        self._queue: deque[float] = deque()  # finish times of datagrams still being serialised
        self._free_at = 0.0
        self._loss: LossProcess | None = None
        self._jitter: JitterProcess | None = None
        self.impairment = impairment
        self._epoch = now
        self.set_impairment(impairment, now)

    def __repr__(self) -> str:
        return f"<UdpModel {self.impairment!r}>"

    def set_impairment(self, impairment: Impairment, now: float) -> None:
        """Switch to ``impairment`` from ``now`` on; datagrams already scheduled keep their times.

        A Gilbert-Elliott channel keeps its state across the change. Raises :class:`ImpairmentError`.
        """
        super().set_impairment(impairment, now)
        self._dup = impairment.duplicate_pct / 100.0
        self._reorder = impairment.reorder_pct / 100.0
        self._limit = impairment.queue_limit_packets
        self._outages = impairment.outage or bool(impairment.outage_period_s and impairment.outage_duration_s)

    def queue_packets(self, now: float) -> int:
        """Datagrams waiting in (or being serialised by) the bandwidth queue at ``now``."""
        queue = self._queue
        while queue and queue[0] <= now:
            queue.popleft()
        return len(queue)

    def decide(self, size: int, now: float) -> tuple[float, ...]:
        """Fate of a datagram of ``size`` bytes arriving at ``now`` (seconds): its delivery times."""
        c = self.counters
        c.packets_in += 1
        c.bytes_in += size
        if self.identity:
            return (now,)
        if self._outages and self.impairment.outage_at(now - self._epoch):
            c.dropped_outage += 1
            return ()
        if self._loss is not None and self._loss.lost():
            c.dropped_loss += 1
            return ()
        if self._dup and self._dup_rng.random() < self._dup:
            first = self._one(size, now)
            if not first:
                return first
            second = self._one(size, now)
            if second:
                c.duplicated += 1
            return first + second
        return self._one(size, now)

    def _one(self, size: int, now: float) -> tuple[float, ...]:
        base = now
        if self._s_per_byte:
            queue = self._queue
            while queue and queue[0] <= now:
                queue.popleft()
            if len(queue) >= self._limit:
                self.counters.dropped_queue += 1
                return ()
            start = self._free_at if self._free_at > now else now
            base = self._free_at = start + size * self._s_per_byte
            queue.append(base)
        if self._reorder and self._reorder_rng.random() < self._reorder:
            self.counters.reordered += 1
            return (base,)
        delay = self._delay_s
        if self._jitter is not None:
            delay += self._jitter.sample() / 1000.0
            if delay < 0.0:
                delay = 0.0
        return (base + delay,)
