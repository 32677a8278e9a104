"""Alibaba Cloud API request signatures, V1 (HMAC-SHA1, RPC query) and V3 (ACS3-HMAC-SHA256, headers).

Pure functions compute each step from the public specifications; :class:`SignatureVerifier` checks a
received request against configured access keys.

V1 ("Signature Version 1.0", Alibaba Cloud RPC signature)::

    canonical   = "&".join(percent(k) + "=" + percent(v) for k, v in sorted(params) if k != "Signature")
    to_sign     = METHOD + "&" + percent("/") + "&" + percent(canonical)
    Signature   = base64(HMAC-SHA1(key = secret + "&", to_sign))

V3 ("ACS3-HMAC-SHA256", Alibaba Cloud V3 request signature)::

    canonical   = METHOD \\n path \\n sorted-encoded-query \\n ("name:value\\n" per signed header)
                  \\n "name1;name2" \\n hex(sha256(body))
    to_sign     = "ACS3-HMAC-SHA256\\n" + hex(sha256(canonical))
    Signature   = hex(HMAC-SHA256(secret, to_sign))
    Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<names>,Signature=<hex>

``percent`` is RFC 3986 encoding: every byte of UTF-8 except ``A-Z a-z 0-9 - _ . ~`` becomes ``%XX``.
Signed header names are lowercase and sorted; a header sent several times is signed as its values,
each stripped, sorted, joined by ``,``.

Decisions (not public): with no keys configured every request is accepted, signed or not, whatever its key
(as cloud emulators do). With keys configured, a request must be signed with one of them; the timestamp
(V1 ``Timestamp`` / V3 ``x-acs-date``, ``YYYY-MM-DDTHH:MM:SSZ`` UTC) must be within
:data:`TIMESTAMP_WINDOW_S` (15 minutes) of the server clock; a nonce may not repeat within that window.
A V3 signature must cover ``x-acs-date`` and ``x-acs-signature-nonce`` (the SDK signs every ``x-acs-*``
header): otherwise a captured request could be replayed with a fresh date and nonce.

The path in the V3 canonical request is the path as sent on the wire (percent-encoded as the client
wrote it, no query): ``/`` for the ICE RPC, ``/_emulator/links/a/b`` for the admin API.
:func:`sign_v3` signs a plain HTTP request the same way (the ``mcemu`` CLI uses it for the admin API).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from ..errors import (
    BadTimestamp,
    IncompleteSignature,
    NonceReused,
    SignatureMismatch,
    StaleTimestamp,
    UnknownAccessKey,
)

__all__ = [
    "TIMESTAMP_WINDOW_S",
    "V1_SIGNATURE_METHOD",
    "V3_ALGORITHM",
    "V3_REQUIRED_SIGNED",
    "ReceivedRequest",
    "SignatureVerifier",
    "V3Authorization",
    "encoded_query",
    "parse_timestamp",
    "parse_v3_authorization",
    "percent_encode",
    "sign_v3",
    "v1_signature",
    "v1_string_to_sign",
    "v3_authorization",
    "v3_canonical_request",
    "v3_signature",
    "v3_string_to_sign",
]

TIMESTAMP_WINDOW_S = 15 * 60
V1_SIGNATURE_METHOD = "HMAC-SHA1"
V3_ALGORITHM = "ACS3-HMAC-SHA256"
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def percent_encode(text: str) -> str:
    """RFC 3986 percent-encoding of the UTF-8 bytes; only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    return quote(text, safe="~", encoding="utf-8")


# --- V1 ---------------------------------------------------------------------------------------------


def v1_canonical_query(params: Mapping[str, str]) -> str:
    """The sorted, encoded ``k=v&...`` of every parameter except ``Signature``."""
    return "&".join(
        f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params) if k != "Signature"
    )


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&percent(canonical query)``."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(v1_canonical_query(params))}"


def v1_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Base64 of HMAC-SHA1 keyed with ``secret + "&"`` over :func:`v1_string_to_sign`."""
    digest = hmac.new(
        (secret + "&").encode("utf-8"), v1_string_to_sign(method, params).encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


# --- V3 ---------------------------------------------------------------------------------------------


def v3_canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(query[k])}" for k in sorted(query))


def v3_canonical_headers(headers: Iterable[tuple[str, str]], signed: Iterable[str]) -> str:
    """``name:value\\n`` for each signed header name (lowercase, sorted). Raises KeyError if one is absent."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value.strip())
    lines = []
    for name in sorted(n.lower() for n in signed):
        lines.append(f"{name}:{','.join(sorted(values[name]))}\n")
    return "".join(lines)


def v3_canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Iterable[tuple[str, str]],
    signed_headers: Iterable[str],
    payload_sha256_hex: str,
) -> str:
    """The V3 canonical request. Raises KeyError when a signed header is absent from ``headers``."""
    signed = sorted(h.lower() for h in signed_headers)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            v3_canonical_query(query),
            v3_canonical_headers(headers, signed),
            ";".join(signed),
            payload_sha256_hex,
        )
    )


def v3_string_to_sign(canonical_request: str) -> str:
    return f"{V3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"


def v3_signature(secret: str, string_to_sign: str) -> str:
    """Hex of HMAC-SHA256 keyed with ``secret`` over ``string_to_sign``."""
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def v3_authorization(access_key_id: str, signed_headers: Iterable[str], signature: str) -> str:
    names = ";".join(sorted(h.lower() for h in signed_headers))
    return f"{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={names},Signature={signature}"


@dataclass(frozen=True, slots=True, kw_only=True)
class V3Authorization:
    """The parts of an ``Authorization: ACS3-...`` header."""

    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_v3_authorization(value: str) -> V3Authorization:
    """Split ``ALG Credential=AK,SignedHeaders=a;b,Signature=hex``. Raises IncompleteSignature."""
    algorithm, _, rest = value.strip().partition(" ")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if not algorithm or missing:
        raise IncompleteSignature(f"Authorization header lacks {', '.join(missing) or 'the algorithm'}")
    return V3Authorization(
        algorithm=algorithm,
        access_key_id=parts["Credential"],
        signed_headers=tuple(h for h in parts["SignedHeaders"].split(";") if h),
        signature=parts["Signature"],
    )


#: Headers a V3 signature must cover (when keys are configured).
V3_REQUIRED_SIGNED = ("x-acs-date", "x-acs-signature-nonce")


def sign_v3(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Sign a plain HTTP request with ACS3-HMAC-SHA256; return ``headers`` plus the signature's headers.

    ``path`` is sent as given (already percent-encoded, no query); ``query`` is sent as
    :func:`percent_encode` ``k=v`` pairs. Added: ``x-acs-date`` (``now``, default the clock),
    ``x-acs-signature-nonce`` (default a random UUID), ``x-acs-content-sha256`` (hex SHA-256 of ``body``)
    and ``Authorization``. Every header of the result but ``Authorization`` is signed (so give ``host``
    and ``content-type`` in ``headers`` to have them covered).
    """
    out = {k.lower(): v for k, v in headers.items()}
    out["x-acs-date"] = time.strftime(_TIMESTAMP_FORMAT, time.gmtime(time.time() if now is None else now))
    out["x-acs-signature-nonce"] = nonce or uuid.uuid4().hex
    body_hash = hashlib.sha256(body).hexdigest()
    out["x-acs-content-sha256"] = body_hash
    signed = sorted(out)
    canonical = v3_canonical_request(method, path, query, tuple(out.items()), signed, body_hash)
    signature = v3_signature(secret, v3_string_to_sign(canonical))
    out["Authorization"] = v3_authorization(access_key_id, signed, signature)
    return out


def encoded_query(query: Mapping[str, str]) -> str:
    """The query string :func:`sign_v3` expects on the wire (``""`` or ``?k=v&...``)."""
    return ("?" + v3_canonical_query(query)) if query else ""


def parse_timestamp(text: str, field_name: str) -> float:
    """Seconds since the epoch of a ``YYYY-MM-DDTHH:MM:SSZ`` UTC timestamp. Raises BadTimestamp."""
    try:
        return float(calendar.timegm(time.strptime(text, _TIMESTAMP_FORMAT)))
    except (TypeError, ValueError):
        raise BadTimestamp(
            f"{field_name} {text!r} is not a UTC timestamp in the format YYYY-MM-DDTHH:MM:SSZ"
        ) from None


# --- verification -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedRequest:
    """What the verifier needs from an HTTP request, already decoded."""

    method: str
    path: str
    query: Mapping[str, str]
    """Query parameters, percent-decoded (``+`` is a space), one value each."""
    headers: tuple[tuple[str, str], ...]
    """Every header as received (names in any case, repeated names kept)."""
    body: bytes = b""
    form: Mapping[str, str] = field(default_factory=dict)
    """Parameters of a form-encoded body, decoded (V1 signs them with the query)."""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


class SignatureVerifier:
    """Checks V1 and V3 signatures against ``access_keys`` (``{access_key_id: secret}``).

    With no keys (None or empty) :meth:`verify` accepts everything. ``clock`` returns epoch seconds.
    """

    def __init__(
        self,
        access_keys: Mapping[str, str] | None = None,
        *,
        window_s: float = TIMESTAMP_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access_keys = dict(access_keys or {})
        self.window_s = window_s
        self._clock = clock
        self._nonces: set[tuple[str, str]] = set()
        self._nonce_expiry: deque[tuple[float, tuple[str, str]]] = deque()

    @property
    def enabled(self) -> bool:
        return bool(self.access_keys)

    def verify(self, req: ReceivedRequest) -> str | None:
        """Return the access key id that signed ``req`` (None when checks are off and it is unsigned).

        Raises IncompleteSignature, UnknownAccessKey, BadTimestamp, StaleTimestamp, SignatureMismatch or
        NonceReused (all :class:`emulator.errors.AuthError`).
        """
        auth = req.header("Authorization")
        if auth and auth.strip().upper().startswith("ACS3-"):
            return self._verify_v3(req, auth)
        params = {**req.query, **req.form}
        if "Signature" in params:
            return self._verify_v1(req, params)
        if self.enabled:
            raise IncompleteSignature(
                "the request is not signed: use signature V3 (Authorization: ACS3-HMAC-SHA256 ...) "
                "or V1 (Signature, AccessKeyId, Timestamp, SignatureNonce in the query)"
            )
        return None

    def _secret(self, access_key_id: str) -> str:
        secret = self.access_keys.get(access_key_id)
        if secret is None:
            raise UnknownAccessKey(f"Specified access key is not found: {access_key_id!r}")
        return secret

    def _check_time(self, text: str | None, field_name: str) -> None:
        if not text:
            raise BadTimestamp(f"{field_name} is required in a signed request")
        ts = parse_timestamp(text, field_name)
        now = self._clock()
        if abs(now - ts) > self.window_s:
            raise StaleTimestamp(
                f"Specified time stamp or date value is expired: {field_name} {text} is more than "
                f"{self.window_s / 60:g} minutes away from the server time "
                f"{time.strftime(_TIMESTAMP_FORMAT, time.gmtime(now))}"
            )

    def _check_nonce(self, access_key_id: str, nonce: str | None, field_name: str) -> None:
        if not nonce:
            raise IncompleteSignature(f"{field_name} is required in a signed request")
        now = self._clock()
        while self._nonce_expiry and self._nonce_expiry[0][0] < now:
            self._nonces.discard(self._nonce_expiry.popleft()[1])
        key = (access_key_id, nonce)
        if key in self._nonces:
            raise NonceReused(f"Specified signature nonce was used already: {nonce}")
        self._nonces.add(key)
        self._nonce_expiry.append((now + 2 * self.window_s, key))

    def _verify_v1(self, req: ReceivedRequest, params: Mapping[str, str]) -> str | None:
        access_key_id = params.get("AccessKeyId", "")
        if not self.enabled:
            return access_key_id or None
        if not access_key_id:
            raise IncompleteSignature("AccessKeyId is required in a V1 signed request")
        secret = self._secret(access_key_id)
        method = params.get("SignatureMethod", "")
        if method != V1_SIGNATURE_METHOD:
            raise IncompleteSignature(
                f"SignatureMethod {method!r} is not supported; use {V1_SIGNATURE_METHOD}"
            )
        self._check_time(params.get("Timestamp"), "Timestamp")
        expected = v1_signature(secret, req.method, params)
        if not hmac.compare_digest(expected, params["Signature"]):
            raise SignatureMismatch(
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{v1_string_to_sign(req.method, params)}"
            )
        self._check_nonce(access_key_id, params.get("SignatureNonce"), "SignatureNonce")
        return access_key_id

    def _verify_v3(self, req: ReceivedRequest, auth_header: str) -> str | None:
        auth = parse_v3_authorization(auth_header)
        if not self.enabled:
            return auth.access_key_id
        secret = self._secret(auth.access_key_id)
        if auth.algorithm != V3_ALGORITHM:
            raise IncompleteSignature(
                f"signature algorithm {auth.algorithm!r} is not supported; use {V3_ALGORITHM}"
            )
        unsigned = [h for h in V3_REQUIRED_SIGNED if h not in {n.lower() for n in auth.signed_headers}]
        if unsigned:
            raise IncompleteSignature(f"SignedHeaders must include {', '.join(unsigned)}")
        self._check_time(req.header("x-acs-date"), "x-acs-date")
        body_hash = hashlib.sha256(req.body).hexdigest()
        claimed = req.header("x-acs-content-sha256")
        if claimed is not None and claimed.strip().lower() != body_hash:
            raise SignatureMismatch("x-acs-content-sha256 does not match the SHA-256 of the request body")
        try:
            canonical = v3_canonical_request(
                req.method, req.path, req.query, req.headers, auth.signed_headers, claimed or body_hash
            )
        except KeyError as exc:
            raise SignatureMismatch(f"signed header {exc.args[0]} is not in the request") from None
        string_to_sign = v3_string_to_sign(canonical)
        expected = v3_signature(secret, string_to_sign)
        if not hmac.compare_digest(expected, auth.signature.lower()):
            raise SignatureMismatch(
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{string_to_sign}; canonical request is:{canonical!r}"
            )
        self._check_nonce(auth.access_key_id, req.header("x-acs-signature-nonce"), "x-acs-signature-nonce")
        return auth.access_key_id
