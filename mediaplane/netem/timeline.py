"""A timeline of impairment changes ("at 10 s: loss 100 % for 8 s, then 5 % loss"), sans-IO.

Dict form (what topology files and the admin API carry)::

    {"steps": [
        {"at_s": 10, "changes": {"loss_pct": 100}, "duration_s": 8},
        {"at_s": 18, "changes": {"loss_pct": 5}},
        {"at_s": 30, "profile": "satellite", "duration_s": 5},
        {"at_s": 40, "impairment": {"delay_ms": 20}, "duration_s": 5, "revert": false}
    ]}

(a bare list of steps is accepted too). Each step starts at ``at_s`` seconds after the timeline starts
and sets exactly one of:

* ``changes``: some fields, applied over the impairment in force;
* ``impairment``: a whole impairment (fields not given take their defaults);
* ``profile``: a named profile (see :mod:`mediaplane.netem.profiles`).

With ``duration_s`` the step ends after that long and, unless ``revert`` is false, the fields it set go
back to the values they had just before it started. Steps are applied in order of ``at_s`` (ties in the
order given); an end and a start at the same instant apply the end first.

:meth:`Timeline.schedule` turns a timeline and the base impairment into a list of ``(time, impairment)``
changes; :meth:`Timeline.impairment_at` answers which impairment is in force at time ``t``.
"""

from __future__ import annotations

import bisect
import contextlib
import math
from dataclasses import dataclass, fields
from typing import Any

from .models import Impairment, ImpairmentError
from .profiles import profile

_STEP_KEYS = {"at_s", "changes", "impairment", "profile", "duration_s", "revert"}


def _seconds(step: int, key: str, value: Any) -> float:
    # float() first: an integer beyond the float range (YAML reads 1000...0 as an int) is not finite.
    seconds = math.nan
    if not isinstance(value, bool) and isinstance(value, int | float):
        with contextlib.suppress(OverflowError):
            seconds = float(value)
    if not math.isfinite(seconds):
        raise ImpairmentError(f"timeline step {step}: {key} must be a number of seconds, got {value!r:.40}")
    if seconds < 0:
        raise ImpairmentError(f"timeline step {step}: {key} must not be negative, got {value!r}")
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineStep:
    """One step of a :class:`Timeline`."""

    at_s: float
    """Start, seconds after the timeline starts."""
    changes: dict[str, Any] | None = None
    """Fields set over the impairment in force (validated against :class:`Impairment`)."""
    impairment: Impairment | None = None
    """A whole impairment that replaces the one in force."""
    profile: str | None = None
    """A named profile that replaces the impairment in force."""
    duration_s: float | None = None
    """How long the step lasts, seconds; ``None`` means until a later step changes things."""
    revert: bool = True
    """At the end of ``duration_s``, put back the fields the step set."""

    def apply(self, current: Impairment) -> Impairment:
        """The impairment in force once this step starts over ``current``."""
        if self.changes is not None:
            return current.with_changes(self.changes)
        if self.impairment is not None:
            return self.impairment
        assert self.profile is not None
        return profile(self.profile)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at_s": self.at_s}
        if self.changes is not None:
            out["changes"] = dict(self.changes)
        if self.impairment is not None:
            out["impairment"] = self.impairment.to_dict()
        if self.profile is not None:
            out["profile"] = self.profile
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        if not self.revert:
            out["revert"] = False
        return out

    @classmethod
    def from_dict(cls, data: Any, index: int = 0) -> TimelineStep:
        """Parse one step. Raises :class:`ImpairmentError` (a ``ValueError``) naming the step."""
        if not isinstance(data, dict):
            raise ImpairmentError(f"timeline step {index} must be a mapping, got {type(data).__name__}")
        unknown = sorted(str(k) for k in data if k not in _STEP_KEYS)
        if unknown:
            raise ImpairmentError(f"timeline step {index}: unknown keys: {', '.join(unknown)}")
        if "at_s" not in data:
            raise ImpairmentError(f"timeline step {index}: at_s is required")
        at_s = _seconds(index, "at_s", data["at_s"])
        given = [k for k in ("changes", "impairment", "profile") if k in data]
        if len(given) != 1:
            raise ImpairmentError(
                f"timeline step {index}: needs exactly one of changes, impairment, profile; "
                f"got {given or 'none'}"
            )
        duration = None
        if data.get("duration_s") is not None:
            duration = _seconds(index, "duration_s", data["duration_s"])
            if duration == 0:
                raise ImpairmentError(f"timeline step {index}: duration_s must be above 0")
        revert = data.get("revert", True)
        if not isinstance(revert, bool):
            raise ImpairmentError(f"timeline step {index}: revert must be true or false, got {revert!r}")
        try:
            if "changes" in data:
                changes = data["changes"]
                Impairment().with_changes(changes)  # type and name check; ranges re-checked when applied
                return cls(at_s=at_s, changes=dict(changes), duration_s=duration, revert=revert)
            if "impairment" in data:
                imp = Impairment.from_dict(data["impairment"])
                return cls(at_s=at_s, impairment=imp, duration_s=duration, revert=revert)
            name = data["profile"]
            if not isinstance(name, str):
                raise ImpairmentError(f"profile must be a name, got {name!r}")
            profile(name)
            return cls(at_s=at_s, profile=name, duration_s=duration, revert=revert)
        except ImpairmentError as exc:
            raise ImpairmentError(f"timeline step {index}: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """An ordered list of :class:`TimelineStep`; time 0 is when the link starts running it."""

    steps: tuple[TimelineStep, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> Timeline:
        """Parse ``{"steps": [...]}`` or a bare list of steps. Raises :class:`ImpairmentError`."""
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k != "steps")
            if unknown:
                raise ImpairmentError(f"timeline: unknown keys: {', '.join(unknown)}")
            data = data.get("steps", [])
        if not isinstance(data, list):
            raise ImpairmentError(f"a timeline must be a list of steps, got {type(data).__name__}")
        return cls(steps=tuple(TimelineStep.from_dict(step, i) for i, step in enumerate(data)))

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [step.to_dict() for step in self.steps]}

    @property
    def end_s(self) -> float:
        """When the last step starts or ends, seconds."""
        return max((s.at_s + (s.duration_s or 0.0) for s in self.steps), default=0.0)

    def schedule(self, base: Impairment) -> list[tuple[float, Impairment]]:
        """Every change as ``(time_s, impairment in force from then on)``, starting with ``(0, base)``.

        Raises :class:`ImpairmentError` when a step's changes give an invalid impairment.
        """
        # Events: (time, kind, order, step index): kind 0 = end of a step, 1 = start, so that at the
        # same instant an end applies before a start.
        events: list[tuple[float, int, int, int]] = []
        for i, step in enumerate(self.steps):
            events.append((step.at_s, 1, i, i))
            if step.duration_s is not None:
                events.append((step.at_s + step.duration_s, 0, i, i))
        events.sort()
        current = base
        saved: dict[int, dict[str, Any]] = {}
        out: list[tuple[float, Impairment]] = [(0.0, base)]
        for time_s, kind, _, i in events:
            step = self.steps[i]
            if kind == 1:
                new = step.apply(current)
                touched = (
                    set(step.changes) if step.changes is not None else {f.name for f in fields(Impairment)}
                )
                saved[i] = {name: getattr(current, name) for name in touched}
            else:
                if not step.revert or i not in saved:
                    continue
                new = current.with_changes(saved.pop(i))
            current = new
            if out[-1][0] == time_s:
                out[-1] = (time_s, new)
            else:
                out.append((time_s, new))
        return out

    def impairment_at(self, t: float, base: Impairment) -> Impairment:
        """The impairment in force ``t`` seconds after the timeline started over ``base``."""
        schedule = self.schedule(base)
        times = [time_s for time_s, _ in schedule]
        return schedule[bisect.bisect_right(times, t) - 1][1]
