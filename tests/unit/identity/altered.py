"""Twelve ways an access token can be wrong, each made with a local issuer's real key: the
identity tests check that the validator refuses each for its reason, the API tests that each
is 401 through the API (docs/identity.md lists them)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization

from osed.domain.time import Clock
from osed.identity.local_issuer import LocalIssuer
from tests.unit.identity.support import b64, compact, signed

AUDIENCE = "osed"


def claims_of(issuer: LocalIssuer, clock: Clock, **changes: Any) -> dict[str, Any]:
    """A participant's valid claims, with ``changes`` (None: left out)."""
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": issuer.issuer,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": "j1",
        "client_id": "dashboard",
        "roles": ["participant"],
        "party": "alice-energy",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def header_of(issuer: LocalIssuer, **changes: Any) -> dict[str, Any]:
    key = issuer.key_file.signing_key()
    header: dict[str, Any] = {"alg": key.algorithm, "kid": key.kid, "typ": "at+jwt"}
    header.update(changes)
    return {name: value for name, value in header.items() if value is not None}


def token(issuer: LocalIssuer, clock: Clock, *, header: Any = None, **claims: Any) -> str:
    """A token signed with the issuer's signing key: valid unless ``header`` or ``claims``
    say otherwise."""
    key = issuer.key_file.signing_key()
    return signed(header or header_of(issuer), claims_of(issuer, clock, **claims), key)


def hs256_with_public_key(issuer: LocalIssuer, clock: Clock) -> str:
    """The classic confusion: HMAC "signed" with the issuer's public key as the secret."""
    public = issuer.key_file.signing_key().private_key.public_key()
    secret = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = compact(header_of(issuer, alg="HS256"), claims_of(issuer, clock)).rsplit(".", 1)[0]
    mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64(mac)}"


def tampered(issuer: LocalIssuer, clock: Clock) -> str:
    head, _, signature = token(issuer, clock).split(".")
    forged = claims_of(issuer, clock, roles=["admin"])
    return f"{head}.{b64(json.dumps(forged).encode())}.{signature}"


def id_token(issuer: LocalIssuer, clock: Clock) -> str:
    """What an OpenID provider hands a client at sign-in: typ JWT, nonce, at_hash, azp."""
    return token(
        issuer,
        clock,
        header=header_of(issuer, typ="JWT"),
        aud=AUDIENCE,
        nonce="n-0S6_WzA2Mj",
        at_hash="77QmUPtjPfzWtF2AnpK9RQ",
        azp="dashboard",
        client_id=None,
    )


def rotated_out(issuer: LocalIssuer, clock: Clock) -> str:
    """Valid until its key leaves the JWKS (the caller rotates it out)."""
    return token(issuer, clock, exp=int(clock.now().timestamp()) + 86400 * 3)


Altered = Callable[[LocalIssuer, Clock], str]

CASES: dict[str, tuple[Altered, str]] = {
    "wrong issuer": (lambda i, c: token(i, c, iss="https://evil.example"), "wrong_issuer"),
    "wrong audience": (lambda i, c: token(i, c, aud=["billing", "crm"]), "wrong_audience"),
    "missing audience": (lambda i, c: token(i, c, aud=None), "missing_audience"),
    "expired": (
        lambda i, c: token(i, c, exp=int(c.now().timestamp()) - 31, iat=1),
        "expired",
    ),
    "not before in the future": (
        lambda i, c: token(i, c, nbf=int(c.now().timestamp()) + 31),
        "not_yet_valid",
    ),
    "alg none": (
        lambda i, c: compact(header_of(i, alg="none", kid=None), claims_of(i, c)),
        "alg_not_allowed",
    ),
    "HS256 with the issuer's public key": (hs256_with_public_key, "alg_not_allowed"),
    "unknown key id": (
        lambda i, c: token(i, c, header=header_of(i, kid="no-such-key")),
        "unknown_kid",
    ),
    "tampered payload": (tampered, "bad_signature"),
    "wrong typ": (lambda i, c: token(i, c, header=header_of(i, typ="JWT")), "wrong_typ"),
    "ID token as access token": (id_token, "id_token"),
    "rotated-out key": (rotated_out, "unknown_kid"),
}
"""Each altered token and the reason it is refused for; "rotated-out key" is valid until
its key is rotated out."""
