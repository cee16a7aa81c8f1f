"""No random change of a valid token, however small, yields an accepted token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from osed.domain.errors import AuthenticationError
from osed.domain.identity import Role
from osed.domain.time import ManualClock
from osed.identity.key_cache import KeyCache
from osed.identity.local_issuer import LocalIssuer, LocalJwksSource
from osed.identity.local_keys import KeyFile, SigningAlgorithm
from osed.identity.validator import AccessTokenRules, AccessTokenValidator

CLOCK = ManualClock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CHARACTERS = st.one_of(st.sampled_from(BASE64URL + ".=+/ "), st.characters())


@pytest.fixture(scope="module", params=["ES256", "RS256"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[AccessTokenValidator, str]:
    algorithm: SigningAlgorithm = request.param
    keys = KeyFile(tmp_path_factory.mktemp("keys") / "k.json", algorithm=algorithm, clock=CLOCK)
    issuer = LocalIssuer("urn:osed:local", keys, clock=CLOCK)
    token = issuer.issue(
        subject="alice", audience="osed", roles=[Role.PARTICIPANT], party="p1"
    ).access_token
    cache = KeyCache(LocalJwksSource(issuer), clock=CLOCK, min_refresh=timedelta(hours=1))
    validator = AccessTokenValidator(AccessTokenRules("urn:osed:local", "osed"), cache, CLOCK)
    assert asyncio.run(validator.principal(token)).party == "p1"
    return validator, token


@st.composite
def mutations(draw: st.DrawFn, token: str) -> str:
    """One to three edits: a character replaced, inserted or deleted, a bit of a byte
    flipped, two characters swapped; often at the end of a segment."""
    mutated = token
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "flip", "swap"]))
        # Segment ends are where base64 hides unused bits: drawn as often as the rest.
        edges = [i - 1 for i, char in enumerate(mutated) if char == "."] + [len(mutated) - 1]
        at = draw(st.one_of(st.integers(0, len(mutated) - 1), st.sampled_from(edges)))
        if kind == "replace":
            mutated = mutated[:at] + draw(CHARACTERS) + mutated[at + 1 :]
        elif kind == "insert":
            mutated = mutated[:at] + draw(CHARACTERS) + mutated[at:]
        elif kind == "delete":
            mutated = mutated[:at] + mutated[at + 1 :]
        elif kind == "flip":
            data = bytearray(mutated.encode("latin-1", "replace"))
            data[at % len(data)] ^= 1 << draw(st.integers(0, 7))
            mutated = data.decode("latin-1")
        else:
            other = draw(st.integers(0, len(mutated) - 1))
            chars = list(mutated)
            chars[at], chars[other] = chars[other], chars[at]
            mutated = "".join(chars)
    return mutated


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_mutated_token_is_never_accepted(
    setup: tuple[AccessTokenValidator, str], data: st.DataObject
) -> None:
    validator, token = setup
    mutated = data.draw(mutations(token))
    assume(mutated != token)
    with pytest.raises(AuthenticationError):
        asyncio.run(validator.principal(mutated))
