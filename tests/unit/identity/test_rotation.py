"""Key rotation without a restart, the rate limit on fetching keys, an unreachable provider."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from osed.domain.errors import ConfigurationError, UnavailableError
from osed.domain.identity import Role
from osed.domain.time import ManualClock
from osed.identity.discovery import OidcJwksSource
from osed.identity.errors import TokenRefusedError
from osed.identity.key_cache import KeyCache
from osed.identity.local_issuer import LocalIssuer
from osed.identity.validator import AccessTokenRules, AccessTokenValidator
from tests.unit.identity.conftest import AUDIENCE
from tests.unit.identity.support import IssuerServer

JWKS = "/jwks"
DISCOVERY = "/.well-known/openid-configuration"


def _issue(issuer: LocalIssuer, ttl: timedelta = timedelta(hours=1)) -> str:
    return issuer.issue(
        subject="op", audience=AUDIENCE, roles=[Role.OPERATOR], ttl=ttl
    ).access_token


async def test_a_new_key_is_fetched_on_its_first_token(
    validator: AccessTokenValidator, issuer: LocalIssuer, server: IssuerServer, clock: ManualClock
) -> None:
    old = _issue(issuer)
    assert (await validator.principal(old)).subject == "op"
    assert server.hits == {DISCOVERY: 1, JWKS: 1}

    clock.advance(timedelta(seconds=11))
    issuer.rotate(timedelta(hours=1))
    new = _issue(issuer)
    assert (await validator.principal(new)).roles == {Role.OPERATOR}
    assert server.hits == {DISCOVERY: 1, JWKS: 2}  # the discovery document is kept
    assert await validator.principal(old)  # within the grace period
    assert await validator.principal(new)
    assert server.hits[JWKS] == 2  # both keys cached


async def test_unknown_kids_fetch_at_most_once_per_interval(
    validator: AccessTokenValidator, issuer: LocalIssuer, server: IssuerServer, clock: ManualClock
) -> None:
    assert await validator.principal(_issue(issuer))
    issuer.rotate(timedelta(hours=1))
    new = _issue(issuer)
    clock.advance(timedelta(seconds=5))  # the last fetch was 5 s ago: too soon
    for _ in range(20):
        with pytest.raises(TokenRefusedError, match="unknown_kid"):
            await validator.principal(new)
    assert server.hits[JWKS] == 1
    clock.advance(timedelta(seconds=5))
    assert await validator.principal(new)
    assert server.hits[JWKS] == 2


async def test_the_cached_set_is_refreshed_when_old(
    validator: AccessTokenValidator, issuer: LocalIssuer, server: IssuerServer, clock: ManualClock
) -> None:
    token = _issue(issuer, ttl=timedelta(days=1))
    assert await validator.principal(token)
    clock.advance(timedelta(minutes=4))
    assert await validator.principal(token)
    assert server.hits[JWKS] == 1
    clock.advance(timedelta(minutes=1))  # five minutes: the default max age
    assert await validator.principal(token)
    assert server.hits[JWKS] == 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_provider_is_unavailable_not_a_bad_token(
    issuer: LocalIssuer, clock: ManualClock
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    keys = KeyCache(OidcJwksSource(url, timeout_s=2), clock=clock)
    validator = AccessTokenValidator(AccessTokenRules(url, AUDIENCE), keys, clock)
    token = _issue(issuer)
    with pytest.raises(UnavailableError, match="could not be fetched"):
        await validator.principal(token)
    with pytest.raises(UnavailableError, match="next try"):  # no second attempt at once
        await validator.principal(token)
    assert keys.fetches == 1


async def test_a_discovery_document_of_another_issuer_is_refused(
    server: IssuerServer, clock: ManualClock
) -> None:
    claimed = server.url + "/"  # one character off the issuer the document names
    keys = KeyCache(OidcJwksSource(claimed), clock=clock)
    with pytest.raises(ConfigurationError, match="names the issuer"):
        await keys.keys_for("any")
