"""A valid access token is accepted; twelve altered ones are each refused for their reason."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from osed.domain.errors import AuthenticationError
from osed.domain.identity import Role
from osed.domain.time import ManualClock
from osed.identity.errors import TokenRefusedError
from osed.identity.local_issuer import LocalIssuer
from osed.identity.validator import AccessTokenRules, AccessTokenValidator
from tests.unit.identity.altered import CASES, header_of
from tests.unit.identity.altered import token as made
from tests.unit.identity.conftest import AUDIENCE
from tests.unit.identity.support import IssuerServer


async def test_a_valid_token_names_its_principal(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    issued = issuer.issue(
        subject="gm-1",
        audience=AUDIENCE,
        roles=[Role.GRID_MANAGER, Role.VIEWER],
        areas=["feeder-7", "tx-12"],
    ).access_token
    principal = await validator.principal(issued)
    assert principal.subject == "gm-1"
    assert principal.roles == {Role.GRID_MANAGER, Role.VIEWER}
    assert principal.areas == {"feeder-7", "tx-12"}
    assert principal.party is None
    assert principal.issuer == issuer.issuer
    assert principal.runs_area("tx-12")
    assert not principal.runs_area("tx-13")


@pytest.mark.parametrize("case", list(CASES))
async def test_an_altered_token_is_refused_for_its_reason(
    case: str,
    validator: AccessTokenValidator,
    issuer: LocalIssuer,
    clock: ManualClock,
) -> None:
    make, reason = CASES[case]
    assert await validator.principal(made(issuer, clock))  # the issuer's keys are cached
    altered = make(issuer, clock)
    if case == "rotated-out key":
        assert await validator.principal(altered)  # valid before the rotation
        issuer.rotate(timedelta(hours=1))
        clock.advance(timedelta(hours=2))  # grace over, cached set too old: fetched again
    with pytest.raises(TokenRefusedError) as refused:
        await validator.principal(altered)
    assert refused.value.reason == reason, str(refused.value)
    assert isinstance(refused.value, AuthenticationError)


async def test_the_leeway_accepts_a_little_clock_skew(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    now = int(clock.now().timestamp())
    assert await validator.principal(made(issuer, clock, exp=now - 29))
    assert await validator.principal(made(issuer, clock, nbf=now + 29, iat=now + 29))
    with pytest.raises(TokenRefusedError, match="issued_in_future"):
        await validator.principal(made(issuer, clock, iat=now + 31, nbf=None))


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
        await validator.principal(made(issuer, clock, **claims))
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
    token = made(issuer, clock, header=header_of(issuer, **header))
    if reason is None:
        assert (await validator.principal(token)).subject == "alice"
        return
    with pytest.raises(TokenRefusedError) as refused:
        await validator.principal(token)
    assert refused.value.reason == reason


async def test_a_token_with_client_id_may_carry_a_nonce(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    assert await validator.principal(made(issuer, clock, nonce="n1"))
    with pytest.raises(TokenRefusedError, match="id_token"):
        await validator.principal(made(issuer, clock, nonce="n1", client_id=None))


async def test_keycloak_roles_merge_and_unknown_roles_are_ignored(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    token = made(
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
        await narrow.principal(made(issuer, clock))


async def test_oversized_and_non_canonical_tokens_are_malformed(
    validator: AccessTokenValidator, issuer: LocalIssuer, clock: ManualClock
) -> None:
    token = made(issuer, clock)
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
