"""A verified token is remembered while it lives and its keys stand; the local key file's
rotation is seen at the next request, whatever the fetch rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.domain.identity import Role
from osed.domain.time import ManualClock
from osed.identity.errors import TokenRefusedError
from osed.identity.key_cache import KeyCache
from osed.identity.local_issuer import LocalIssuer, LocalJwksSource
from osed.identity.local_keys import KeyFile
from osed.identity.memo import RememberingValidator
from osed.identity.validator import AccessTokenRules, AccessTokenValidator

ISSUER = "http://127.0.0.1:8080"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def issuer(tmp_path: Path, clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(ISSUER, KeyFile(tmp_path / "keys.json", clock=clock), clock=clock)


def remembering(issuer: LocalIssuer, clock: ManualClock, **memo: int) -> RememberingValidator:
    keys = KeyCache(
        LocalJwksSource(issuer),
        clock=clock,
        min_refresh=timedelta(hours=1),  # only a change of the file fetches sooner
        max_age=timedelta(minutes=5),
    )
    rules = AccessTokenRules(ISSUER, "osed", leeway=timedelta(seconds=30))
    return RememberingValidator(AccessTokenValidator(rules, keys, clock), clock=clock, **memo)


def issued(issuer: LocalIssuer, subject: str = "ops", ttl_s: int = 600) -> str:
    return issuer.issue(
        subject=subject, audience="osed", roles=[Role.OPERATOR], ttl=timedelta(seconds=ttl_s)
    ).access_token


async def test_a_token_is_verified_once_while_it_lives(
    issuer: LocalIssuer, clock: ManualClock
) -> None:
    validator = remembering(issuer, clock)
    token = issued(issuer, ttl_s=60)
    for _ in range(5):
        assert (await validator.principal(token)).subject == "ops"
    assert validator.hits == 4
    clock.advance(timedelta(seconds=89))  # within exp + leeway
    assert await validator.principal(token)
    clock.advance(timedelta(seconds=2))
    with pytest.raises(TokenRefusedError, match="expired"):
        await validator.principal(token)
    assert validator.hits == 5


async def test_a_rotation_is_seen_at_the_next_request(
    issuer: LocalIssuer, clock: ManualClock
) -> None:
    validator = remembering(issuer, clock)
    old = issued(issuer)
    assert await validator.principal(old)
    issuer.rotate(timedelta(minutes=1))
    new = issued(issuer, "ops-2")  # a new kid, well within the hour's rate limit
    assert (await validator.principal(new)).subject == "ops-2"
    assert validator.keys.fetches == 2
    hits = validator.hits
    assert await validator.principal(old)  # verified again against the new key set
    assert validator.hits == hits
    clock.advance(timedelta(minutes=2))
    issuer.rotate(timedelta(0))  # the first key's grace is over: it leaves the file
    with pytest.raises(TokenRefusedError, match="unknown_kid"):
        await validator.principal(old)


async def test_an_old_key_set_is_fetched_again_before_a_remembered_token_is_taken(
    issuer: LocalIssuer, clock: ManualClock
) -> None:
    validator = remembering(issuer, clock)
    token = issued(issuer, ttl_s=3 * 3600)
    assert await validator.principal(token)
    clock.advance(timedelta(minutes=61))  # the key set is old, and may be fetched again
    assert await validator.principal(token)
    assert validator.hits == 0
    assert validator.keys.fetches == 2


async def test_the_memo_is_bounded(issuer: LocalIssuer, clock: ManualClock) -> None:
    validator = remembering(issuer, clock, max_entries=3)
    tokens = [issued(issuer, f"s{n}") for n in range(5)]
    for token in tokens:
        await validator.principal(token)
    await validator.principal(tokens[-1])
    await validator.principal(tokens[0])  # dropped as the oldest: verified again
    assert validator.hits == 1
