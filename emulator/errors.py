"""The control plane's errors: one root, :class:`EmulatorError`.

Domain errors say *what* is wrong (a value, a missing value, an unknown id, a state that forbids the
operation) and name the API field concerned; they never carry HTTP codes. The API maps each class to its
HTTP status and ICE error code in exactly one place (``emulator.api.errors.ERROR_CODES``).
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadTimestamp",
    "ConfigError",
    "EmulatorError",
    "FlowError",
    "FlowStartError",
    "IncompleteSignature",
    "InvalidValue",
    "MissingValue",
    "NonceReused",
    "NotFound",
    "PortUnavailable",
    "RequestError",
    "RequestTooLarge",
    "SignatureMismatch",
    "StaleTimestamp",
    "UnknownAccessKey",
    "UnknownAction",
    "UnsupportedVersion",
    "WrongState",
]


class EmulatorError(Exception):
    """Root of every error the control plane raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EmulatorError):
    """A region catalogue or another configuration document is invalid. The message names the key."""


# --- flows: refusals of an API operation -------------------------------------------------------------


class FlowError(EmulatorError):
    """An API operation on flows was refused. ``field`` is the API parameter concerned, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingValue(FlowError):
    """A required parameter is absent or empty."""

    def __init__(self, field: str, reason: str = "") -> None:
        text = f"{field} is required" + (f" {reason}" if reason else "")
        super().__init__(text, field=field)


class InvalidValue(FlowError):
    """A parameter has a value the service does not accept. ``str(exc)`` is ``"<Field>: <reason>"``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class NotFound(FlowError):
    """An id or name names nothing (the flow, its input, an output, or the pair of a Flow endpoint)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class WrongState(FlowError):
    """The operation is not allowed in the current state (online flow, limits, missing input...)."""


class FlowStartError(EmulatorError):
    """The runtime refused to bring a flow online. ``reason`` is shown to the API caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PortUnavailable(EmulatorError):
    """No free port is left in a region's SRT range (raised by the runtime's ``allocate_srt_port``; the
    API answers 503 ServiceUnAvailable)."""


# --- API transport: signature, action, version --------------------------------------------------------


class RequestError(EmulatorError):
    """The request itself is unusable (transport level): bad action, version or signature."""


class RequestTooLarge(RequestError):
    """The request body is larger than the API accepts (``emulator.api.bodies.MAX_BODY_BYTES``)."""


class UnknownAction(RequestError):
    """``Action`` names no operation of ICE 2020-11-09 this emulator serves."""


class UnsupportedVersion(RequestError):
    """``Version`` is not ``2020-11-09``."""


class AuthError(RequestError):
    """The request is not authenticated."""


class IncompleteSignature(AuthError):
    """Keys are configured and the request lacks (part of) a V1 or V3 signature."""


class UnknownAccessKey(AuthError):
    """The AccessKeyId is not among the configured keys."""


class SignatureMismatch(AuthError):
    """The signature does not match the one computed with the key's secret."""


class StaleTimestamp(AuthError):
    """``Timestamp`` (V1) or ``x-acs-date`` (V3) is more than 15 minutes away from the server clock."""


class BadTimestamp(AuthError):
    """``Timestamp`` (V1) or ``x-acs-date`` (V3) is absent or not ``YYYY-MM-DDTHH:MM:SSZ``."""


class NonceReused(AuthError):
    """The signature nonce was already used within the validity window (a replay)."""
