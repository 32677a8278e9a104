"""Impairments from their JSON form, for the backbone's links and the last mile alike (pure)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mediaplane.netem import Impairment, profile

__all__ = ["impairment_from_body"]


def impairment_from_body(
    body: Any, *, default_delay_ms: float | None = None, ignore: Collection[str] = ()
) -> Impairment:
    """An impairment from its JSON form: its fields, optionally ``"profile": name`` (fields given
    override the profile), or a profile name alone. Keys in ``ignore`` are not fields (``both_ways``).
    Without a profile, ``delay_ms`` defaults to ``default_delay_ms`` when that is given (a backbone pair's
    catalogue latency, so that adding loss does not remove the distance). Raises ValueError naming the
    bad field."""
    if isinstance(body, str):
        body = {"profile": body}
    if not isinstance(body, dict):
        raise ValueError("an impairment is a JSON object (fields, optionally 'profile')")
    fields = {k: v for k, v in body.items() if k != "profile" and k not in ignore}
    if "profile" in body:
        if not isinstance(body["profile"], str):
            raise ValueError(f"profile must be a name, got {body['profile']!r}")
        base = profile(body["profile"]).to_dict()
        base.update(fields)
        fields = base
    elif default_delay_ms is not None and "delay_ms" not in fields:
        fields["delay_ms"] = default_delay_ms
    imp = Impairment.from_dict(fields)
    imp.validate()
    return imp
