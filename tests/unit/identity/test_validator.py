"""A valid access token is accepted; twelve altered ones are each refused for their reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from osed.domain.errors import AuthenticationError
from osed.domain.identity import Role
from osed.domain.time import ManualClock
from osed.identity.errors import TokenRefusedError
from osed.identity.local_issuer import LocalIssuer
from osed.identity.validator import AccessTokenRules, AccessTokenValidator
from tests.unit.identity.conftest import AUDIENCE
from tests.unit.identity.support import IssuerServer, b64, compact, signed


def _claims(issuer: LocalIssuer, clock: ManualClock, **changes: Any) -> dict[str, Any]:
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


def _header(issuer: LocalIssuer, **changes: Any) -> dict[str, Any]:
    key = issuer.key_file.signing_key()
    header: dict[str, Any] = {"alg": key.algorithm, "kid": key.kid, "typ": "at+jwt"}
    header.update(changes)
    return {name: value for name, value in header.items() if value is not None}


def _token(issuer: LocalIssuer, clock: ManualClock, *, header: Any = None, **claims: Any) -> str:
    key = issuer.key_file.signing_key()
    return signed(header or _header(issuer), _claims(issuer, clock, **claims), key)


async def test_a_valid_token_names_its_principal(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    token = issuer.issue(
        subject="gm-1",
        audience=AUDIENCE,
        roles=[Role.GRID_MANAGER, Role.VIEWER],
        areas=["feeder-7", "tx-12"],
    ).access_token
    principal = await validator.principal(token)
    assert principal.subject == "gm-1"
    assert principal.roles == {Role.GRID_MANAGER, Role.VIEWER}
    assert principal.areas == {"feeder-7", "tx-12"}
    assert principal.party is None
    assert principal.issuer == issuer.issuer
    assert principal.runs_area("tx-12")
    assert not principal.runs_area("tx-13")


def _hs256_with_public_key(issuer: LocalIssuer, clock: ManualClock) -> str:
    """The classic confusion: HMAC "signed" with the issuer's RSA public key as the secret."""
    public = issuer.key_file.signing_key().private_key.public_key()
    secret = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = compact(_header(issuer, alg="HS256"), _claims(issuer, clock)).rsplit(".", 1)[0]
    mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64(mac)}"


def _tampered(issuer: LocalIssuer, clock: ManualClock) -> str:
    head, _, signature = _token(issuer, clock).split(".")
    forged = _claims(issuer, clock, roles=["admin"])
    return f"{head}.{b64(json.dumps(forged).encode())}.{signature}"


def _id_token(issuer: LocalIssuer, clock: ManualClock) -> str:
    """What an OpenID provider hands a client at sign-in: typ JWT, nonce, at_hash, azp."""
    return _token(
        issuer,
        clock,
        header=_header(issuer, typ="JWT"),
        aud=AUDIENCE,
        nonce="n-0S6_WzA2Mj",
        at_hash="77QmUPtjPfzWtF2AnpK9RQ",
        azp="dashboard",
        client_id=None,
    )


def _rotated_out(issuer: LocalIssuer, clock: ManualClock) -> str:
    return _token(issuer, clock, exp=int(clock.now().timestamp()) + 86400 * 3)


Altered = Callable[[LocalIssuer, ManualClock], str]
NOW_PLUS = 600

CASES: dict[str, tuple[Altered, str]] = {
    "wrong issuer": (lambda i, c: _token(i, c, iss="https://evil.example"), "wrong_issuer"),
    "wrong audience": (lambda i, c: _token(i, c, aud=["billing", "crm"]), "wrong_audience"),
    "missing audience": (lambda i, c: _token(i, c, aud=None), "missing_audience"),
    "expired": (
        lambda i, c: _token(i, c, exp=int(c.now().timestamp()) - 31, iat=1),
        "expired",
    ),
    "not before in the future": (
        lambda i, c: _token(i, c, nbf=int(c.now().timestamp()) + 31),
        "not_yet_valid",
    ),
    "alg none": (
        lambda i, c: compact(_header(i, alg="none", kid=None), _claims(i, c)),
        "alg_not_allowed",
    ),
    "HS256 with the RSA public key": (_hs256_with_public_key, "alg_not_allowed"),
    "unknown key id": (
        lambda i, c: _token(i, c, header=_header(i, kid="no-such-key")),
        "unknown_kid",
    ),
    "tampered payload": (_tampered, "bad_signature"),
    "wrong typ": (lambda i, c: _token(i, c, header=_header(i, typ="JWT")), "wrong_typ"),
    "ID token as access token": (_id_token, "id_token"),
    "rotated-out key": (_rotated_out, "unknown_kid"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_an_altered_token_is_refused_for_its_reason(
    case: str,
    validator: AccessTokenValidator,
    issuer: LocalIssuer,
    clock: ManualClock,
) -> None:
    make, reason = CASES[case]
    assert await validator.principal(_token(issuer, clock))  # the issuer's keys are cached
    token = make(issuer, clock)
    if case == "rotated-out key":
        assert await validator.principal(token)  # valid before the rotation
        issuer.rotate(timedelta(hours=1))
        clock.advance(timedelta(hours=2))  # grace over, cached set too old: fetched again
    with pytest.raises(TokenRefusedError) as refused:
        await validator.principal(token)
    assert refused.value.reason == reason, str(refused.value)
    assert isinstance(refused.value, AuthenticationError)


async def test_the_leeway_accepts_a_little_clock_skew(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    now = int(clock.now().timestamp())
    assert await validator.principal(_token(issuer, clock, exp=now - 29))
    assert await validator.principal(_token(issuer, clock, nbf=now + 29, iat=now + 29))
    with pytest.raises(TokenRefusedError, match="issued_in_future"):
        await validator.principal(_token(issuer, clock, iat=now + 31, nbf=None))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": None}, "missing_exp"),
        ({"iat": None}, "missing_iat"),
        ({"sub": None}, "missing_subject"),
        ({"exp": "tomorrow"}, "bad_claim"),
        ({"party": 7}, "bad_claim"),
        ({"roles": {"admin": True}}, "bad_claim"),
        ({"realm_access": {"roles": "admin"}}, "bad_claim"),
        ({"at_hash": "x"}, "id_token"),  # typ at+jwt, yet an ID token's claim
        ({"typ": "ID"}, "id_token"),  # Keycloak's marker of its ID tokens
    ],
)
async def test_missing_and_misshaped_claims_are_refused(
    claims: dict[str, Any],
    reason: str,
    validator: AccessTokenValidator,
    issuer: LocalIssuer,
    clock: ManualClock,
) -> None:
    with pytest.raises(TokenRefusedError) as refused:
        await validator.principal(_token(issuer, clock, **claims))
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "ES256"}, "alg_key_mismatch"),  # an RSA key cannot check ES256
        ({"kid": None}, "missing_kid"),
        ({"crit": ["exp"]}, "malformed"),
        ({"typ": "application/AT+JWT"}, None),  # media types compare caselessly
        ({"jku": "https://evil.example/jwks"}, None),  # never followed, the issuer's key checks
    ],
)
async def test_header_rules(
    header: dict[str, Any],
    reason: str | None,
    validator: AccessTokenValidator,
    issuer: LocalIssuer,
    clock: ManualClock,
) -> None:
    token = _token(issuer, clock, header=_header(issuer, **header))
    if reason is None:
        assert (await validator.principal(token)).subject == "alice"
        return
    with pytest.raises(TokenRefusedError) as refused:
        await validator.principal(token)
    assert refused.value.reason == reason


async def test_a_token_with_client_id_may_carry_a_nonce(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    assert await validator.principal(_token(issuer, clock, nonce="n1"))
    with pytest.raises(TokenRefusedError, match="id_token"):
        await validator.principal(_token(issuer, clock, nonce="n1", client_id=None))


async def test_keycloak_roles_merge_and_unknown_roles_are_ignored(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    token = _token(
        issuer,
        clock,
        roles=None,
        party=None,
        realm_access={"roles": ["offline_access", "viewer", "default-roles-osed"]},
        resource_access={AUDIENCE: {"roles": ["operator"]}, "account": {"roles": ["admin"]}},
        areas="feeder-1",
    )
    principal = await validator.principal(token)
    assert principal.roles == {Role.VIEWER, Role.OPERATOR}  # "admin" of another client ignored
    assert principal.areas == {"feeder-1"}


def test_rules_refuse_symmetric_and_unknown_algorithms() -> None:
    for algorithms in ({"HS256"}, {"none"}, {"RS256", "HS512"}, set()):
        with pytest.raises(ValueError, match="algorithms must be among"):
            AccessTokenRules(issuer="x", audience="y", algorithms=frozenset(algorithms))


async def test_an_algorithm_left_off_the_allow_list_is_refused(
    server: IssuerServer, issuer: LocalIssuer, clock: ManualClock
) -> None:
    from osed.identity.discovery import OidcJwksSource
    from osed.identity.key_cache import KeyCache

    rules = AccessTokenRules(issuer.issuer, AUDIENCE, algorithms=frozenset({"ES256"}))
    narrow = AccessTokenValidator(rules, KeyCache(OidcJwksSource(server.url), clock=clock), clock)
    with pytest.raises(TokenRefusedError, match="alg_not_allowed"):
        await narrow.principal(_token(issuer, clock))


async def test_oversized_and_non_canonical_tokens_are_malformed(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    token = _token(issuer, clock)
    head, body, signature = token.split(".")
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 256 bytes of RSA signature leave 4 unused bits in the last character: flip one.
    sibling = alphabet[alphabet.index(last) ^ 1]
    assert base64.urlsafe_b64decode(signature + "==") == base64.urlsafe_b64decode(
        signature[:-1] + sibling + "=="
    )
    for bad in (
        f"{head}.{body}.{signature[:-1]}{sibling}",
        f"{head}.{body}.{signature}=",
        f"{head}.{body}!.{signature}",
        f"{head}.{body}",
        "x" * 20_000,
    ):
        with pytest.raises(TokenRefusedError, match="malformed"):
            await validator.principal(bad)
