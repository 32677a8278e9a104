"""A last-mile impairment's data: its two directions and the spec of one endpoint (pure).

The runtime's links live in :mod:`emulator.runtime.lastmile`; the spec is here so that the topology,
the state file and the CLI read the same closed set of directions without loading the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mediaplane.netem import Impairment

from .impairment import impairment_from_body

__all__ = ["DIRECTIONS", "Direction", "LastMileSpec"]


class Direction(StrEnum):
    """A last-mile direction, named by the media path (not by who connects)."""

    TO_REGION = "to_region"
    """Bytes from the client or remote toward the emulator's region."""
    FROM_REGION = "from_region"
    """Bytes from the region toward the client or remote."""


DIRECTIONS = tuple(Direction)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastMileSpec:
    """The last-mile impairment of one endpoint, per direction (None: that direction unimpaired)."""

    to_region: Impairment | None = None
    from_region: Impairment | None = None

    @classmethod
    def from_body(cls, body: Any) -> LastMileSpec:
        """``{"to_region": {...}, "from_region": {...}}`` (either may be absent), or one impairment (or a
        profile name) for both. Raises ValueError naming the bad part."""
        if isinstance(body, dict) and set(body) & set(DIRECTIONS):
            extra = set(body) - set(DIRECTIONS)
            if extra:
                raise ValueError(
                    f"give to_region / from_region, or one impairment for both, not both forms "
                    f"(unexpected: {', '.join(sorted(map(str, extra)))})"
                )
            parts = {}
            for d in DIRECTIONS:
                if body.get(d) is not None:
                    try:
                        parts[d.value] = impairment_from_body(body[d])
                    except ValueError as exc:
                        raise ValueError(f"{d}: {exc}") from exc
            return cls(**parts)
        if isinstance(body, dict) and not body:
            raise ValueError("the body names no impairment")
        imp = impairment_from_body(body)
        return cls(to_region=imp, from_region=imp)

    def to_dict(self) -> dict[str, Any]:
        return {d.value: (imp.to_dict() if imp is not None else None) for d, imp in self._parts()}

    def get(self, direction: Direction) -> Impairment:
        imp = self.to_region if direction is Direction.TO_REGION else self.from_region
        return imp or Impairment()

    def _parts(self) -> tuple[tuple[Direction, Impairment | None], ...]:
        return ((Direction.TO_REGION, self.to_region), (Direction.FROM_REGION, self.from_region))
