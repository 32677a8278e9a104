"""Signatures V1 and V3: golden values computed independently from the specification text, the
documented Alibaba Cloud V1 example, round trips with the official SDK's own signing code, and every
refusal of the verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.api.signature import (
    ReceivedRequest,
    SignatureVerifier,
    parse_timestamp,
    parse_v3_authorization,
    percent_encode,
    v1_signature,
    v1_string_to_sign,
    v3_authorization,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)
from emulator.errors import (
    BadTimestamp,
    IncompleteSignature,
    NonceReused,
    SignatureMismatch,
    StaleTimestamp,
    UnknownAccessKey,
)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DATE = "2026-01-02T03:04:05Z"
DATE_EPOCH = 1767323045.0


def test_percent_encode_is_rfc3986() -> None:
    assert percent_encode("aZ09-_.~") == "aZ09-_.~"
    assert percent_encode("a b*c/d:e+f=g&h") == "a%20b%2Ac%2Fd%3Ae%2Bf%3Dg%26h"
    assert percent_encode("é") == "%C3%A9"


def test_timestamp_parsing() -> None:
    assert parse_timestamp(DATE, "x-acs-date") == DATE_EPOCH
    with pytest.raises(BadTimestamp, match="x-acs-date"):
        parse_timestamp("2026-01-02 03:04:05", "x-acs-date")


# --- V1 ------------------------------------------------------------------------------------------------

# The worked example of the Alibaba Cloud RPC signature documentation (ECS DescribeRegions, GET,
# AccessKeyId "testid", secret "testsecret").
DOC_V1_PARAMS = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}


def test_v1_documented_example() -> None:
    assert v1_string_to_sign("GET", DOC_V1_PARAMS) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
        "%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
    )
    assert v1_signature("testsecret", "GET", DOC_V1_PARAMS) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def _v1_params(**extra: str) -> dict[str, str]:
    return {
        "Action": "CreateMediaConnectFlow",
        "Version": "2020-11-09",
        "Format": "json",
        "Timestamp": DATE,
        "SignatureNonce": "nonce-1",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": "ak",
        "FlowName": "My Flow*",
        "FlowRegion": "ap-southeast-1",
        **extra,
    }


def test_v1_golden_by_hand() -> None:
    params = _v1_params()
    # Following the spec text by hand: sort, encode k and v, join, encode again, HMAC-SHA1(secret + "&").
    canonical = (
        "AccessKeyId=ak&Action=CreateMediaConnectFlow&FlowName=My%20Flow%2A&FlowRegion=ap-southeast-1"
        "&Format=json&SignatureMethod=HMAC-SHA1&SignatureNonce=nonce-1&SignatureVersion=1.0"
        "&Timestamp=2026-01-02T03%3A04%3A05Z&Version=2020-11-09"
    )
    to_sign = "POST&%2F&" + canonical.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    expected = base64.b64encode(hmac.new(b"sk&", to_sign.encode(), hashlib.sha1).digest()).decode()
    assert v1_string_to_sign("POST", params) == to_sign
    assert v1_signature("sk", "POST", params) == expected
    # The Signature parameter itself is never signed.
    assert v1_signature("sk", "POST", {**params, "Signature": "x"}) == expected


def test_v1_matches_the_sdk() -> None:
    params = _v1_params(Cidrs="10.0.0.0/8, 192.168.1.1", InputFromUrl="rtmp://h:1935/live/k?x=1&y=é")
    assert v1_signature("sk", "POST", params) == Utils.get_rpcsignature(params, "POST", "sk")


def _v1_request(params: dict[str, str]) -> ReceivedRequest:
    return ReceivedRequest(method="POST", path="/", query=params, headers=(("host", "127.0.0.1:1"),))


def test_v1_verify_round_trip_and_refusals() -> None:
    verifier = SignatureVerifier({"ak": "sk"}, clock=lambda: DATE_EPOCH + 60)
    params = _v1_params()
    signed = {**params, "Signature": Utils.get_rpcsignature(params, "POST", "sk")}
    assert verifier.verify(_v1_request(signed)) == "ak"
    with pytest.raises(NonceReused):
        verifier.verify(_v1_request(signed))
    tampered = {**signed, "FlowName": "Other", "SignatureNonce": "n2"}
    with pytest.raises(SignatureMismatch, match="server string to sign"):
        verifier.verify(_v1_request(tampered))
    wrong_secret = _v1_params(SignatureNonce="n3")
    wrong_secret["Signature"] = v1_signature("not-sk", "POST", wrong_secret)
    with pytest.raises(SignatureMismatch):
        verifier.verify(_v1_request(wrong_secret))
    unknown = _v1_params(AccessKeyId="who", SignatureNonce="n4")
    unknown["Signature"] = v1_signature("sk", "POST", unknown)
    with pytest.raises(UnknownAccessKey, match="who"):
        verifier.verify(_v1_request(unknown))
    stale = _v1_params(Timestamp="2026-01-02T02:40:00Z", SignatureNonce="n5")
    stale["Signature"] = v1_signature("sk", "POST", stale)
    with pytest.raises(StaleTimestamp, match="15 minutes"):
        verifier.verify(_v1_request(stale))
    with pytest.raises(IncompleteSignature):
        verifier.verify(_v1_request(_v1_params()))  # unsigned


def test_v1_form_body_is_signed_with_the_query() -> None:
    verifier = SignatureVerifier({"ak": "sk"}, clock=lambda: DATE_EPOCH)
    params = _v1_params()
    body = {"FlowName": params.pop("FlowName")}
    sig = Utils.get_rpcsignature({**params, **body}, "POST", "sk")
    req = ReceivedRequest(method="POST", path="/", query={**params, "Signature": sig}, headers=(), form=body)
    assert verifier.verify(req) == "ak"


def test_no_keys_accepts_anything() -> None:
    verifier = SignatureVerifier(None)
    assert verifier.verify(_v1_request(_v1_params())) is None
    assert (
        verifier.verify(_v1_request({**_v1_params(Timestamp="1999-01-01T00:00:00Z"), "Signature": "junk"}))
        == "ak"
    )
    bogus = ReceivedRequest(
        method="POST",
        path="/",
        query={},
        headers=(("Authorization", v3_authorization("any", ["host"], "00")),),
    )
    assert verifier.verify(bogus) == "any"


# --- V3 ------------------------------------------------------------------------------------------------

V3_QUERY = {"FlowName": "My Flow*", "FlowRegion": "ap-southeast-1"}
V3_HEADERS = (
    ("host", "127.0.0.1:8080"),
    ("x-acs-action", "CreateMediaConnectFlow"),
    ("x-acs-version", "2020-11-09"),
    ("x-acs-date", DATE),
    ("x-acs-signature-nonce", "n-1"),
    ("x-acs-content-sha256", EMPTY_SHA256),
    ("accept", "application/json"),
)


def test_v3_golden_by_hand() -> None:
    signed = ["x-acs-date", "host", "x-acs-action", "x-acs-content-sha256"]
    canonical = (
        "POST\n/\nFlowName=My%20Flow%2A&FlowRegion=ap-southeast-1\n"
        "host:127.0.0.1:8080\nx-acs-action:CreateMediaConnectFlow\n"
        f"x-acs-content-sha256:{EMPTY_SHA256}\nx-acs-date:{DATE}\n"
        "\nhost;x-acs-action;x-acs-content-sha256;x-acs-date\n"
        f"{EMPTY_SHA256}"
    )
    assert v3_canonical_request("POST", "/", V3_QUERY, V3_HEADERS, signed, EMPTY_SHA256) == canonical
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    assert v3_string_to_sign(canonical) == to_sign
    assert v3_signature("sk", to_sign) == hmac.new(b"sk", to_sign.encode(), hashlib.sha256).hexdigest()


def test_v3_repeated_headers_are_sorted_and_joined() -> None:
    headers = (("X-Test", " b "), ("x-test", "a"), ("host", "h"))
    canonical = v3_canonical_request("POST", "/", {}, headers, ["x-test", "host"], EMPTY_SHA256)
    assert "host:h\nx-test:a,b\n\nhost;x-test\n" in canonical


def _sdk_signed_v3(secret: str = "sk", ak: str = "ak", **header_overrides: str) -> ReceivedRequest:
    """Sign a request with the SDK's own code (Utils.get_authorization), as its do_request does."""
    req = DaraRequest()
    req.method = "POST"
    req.pathname = "/"
    req.query = dict(V3_QUERY)
    req.headers = {**dict(V3_HEADERS), "user-agent": "AlibabaCloud (Linux) Python/3.11", **header_overrides}
    req.headers["Authorization"] = Utils.get_authorization(req, "ACS3-HMAC-SHA256", EMPTY_SHA256, ak, secret)
    return ReceivedRequest(method="POST", path="/", query=req.query, headers=tuple(req.headers.items()))


def test_v3_matches_the_sdk_and_refusals() -> None:
    verifier = SignatureVerifier({"ak": "sk"}, clock=lambda: DATE_EPOCH - 120)
    good = _sdk_signed_v3()
    auth = parse_v3_authorization(good.header("authorization") or "")
    assert auth.algorithm == "ACS3-HMAC-SHA256" and auth.access_key_id == "ak"
    assert "user-agent" in auth.signed_headers and "accept" in auth.signed_headers
    assert verifier.verify(good) == "ak"
    with pytest.raises(NonceReused):
        verifier.verify(good)
    with pytest.raises(SignatureMismatch):
        verifier.verify(_sdk_signed_v3(secret="wrong", **{"x-acs-signature-nonce": "n-2"}))
    with pytest.raises(UnknownAccessKey):
        verifier.verify(_sdk_signed_v3(ak="nobody", **{"x-acs-signature-nonce": "n-3"}))
    with pytest.raises(StaleTimestamp):
        verifier.verify(
            _sdk_signed_v3(**{"x-acs-date": "2026-01-02T02:00:00Z", "x-acs-signature-nonce": "n-4"})
        )
    with pytest.raises(BadTimestamp):
        verifier.verify(_sdk_signed_v3(**{"x-acs-date": "yesterday", "x-acs-signature-nonce": "n-5"}))
    fresh = _sdk_signed_v3(**{"x-acs-signature-nonce": "n-6"})
    tampered = ReceivedRequest(
        method="POST", path="/", query={**V3_QUERY, "FlowName": "X"}, headers=fresh.headers
    )
    with pytest.raises(SignatureMismatch, match="canonical request"):
        verifier.verify(tampered)
    with_body = ReceivedRequest(method="POST", path="/", query=V3_QUERY, headers=fresh.headers, body=b"x=1")
    with pytest.raises(SignatureMismatch, match="x-acs-content-sha256"):
        verifier.verify(with_body)


def test_v3_authorization_header_parsing() -> None:
    auth = parse_v3_authorization(
        "ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host;x-acs-date,Signature=abc"
    )
    assert (auth.access_key_id, auth.signed_headers, auth.signature) == ("AK1", ("host", "x-acs-date"), "abc")
    with pytest.raises(IncompleteSignature, match="Signature"):
        parse_v3_authorization("ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host")


# --- properties: any parameters sign the same as the SDK ----------------------------------------------

_keys = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,15}", fullmatch=True)
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(params=st.dictionaries(_keys, _values, max_size=8), secret=_values)
def test_v1_any_parameters_match_the_sdk(params: dict[str, str], secret: str) -> None:
    params.pop("Signature", None)
    assert v1_signature(secret, "POST", params) == Utils.get_rpcsignature(params, "POST", secret)


@settings(max_examples=150, deadline=None)
@given(query=st.dictionaries(_keys, _values, max_size=8), secret=_values, agent=_values)
def test_v3_any_query_matches_the_sdk(query: dict[str, str], secret: str, agent: str) -> None:
    req = DaraRequest()
    req.method, req.pathname, req.query = "POST", "/", query
    req.headers = {"host": "127.0.0.1:9", "x-acs-date": DATE, "user-agent": agent.strip() or "x"}
    sdk_auth = parse_v3_authorization(
        Utils.get_authorization(req, "ACS3-HMAC-SHA256", EMPTY_SHA256, "ak", secret)
    )
    canonical = v3_canonical_request(
        "POST", "/", query, tuple(req.headers.items()), sdk_auth.signed_headers, EMPTY_SHA256
    )
    assert v3_signature(secret, v3_string_to_sign(canonical)) == sdk_auth.signature
