"""An RS256 local issuer served over HTTP, and a validator that discovers it as an OpenID
provider: the same path a Keycloak realm takes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.domain.time import ManualClock
from osed.identity.discovery import OidcJwksSource
from osed.identity.key_cache import KeyCache
from osed.identity.local_issuer import LocalIssuer
from osed.identity.local_keys import KeyFile
from osed.identity.validator import AccessTokenRules, AccessTokenValidator
from tests.unit.identity.support import IssuerServer, serve_issuer

AUDIENCE = "osed"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def server(tmp_path: Path, clock: ManualClock) -> Iterator[IssuerServer]:
    keys = KeyFile(tmp_path / "identity" / "keys.json", algorithm="RS256", clock=clock)
    with serve_issuer(lambda url: LocalIssuer(url, keys, clock=clock)) as served:
        yield served


@pytest.fixture
def issuer(server: IssuerServer) -> LocalIssuer:
    assert server.issuer is not None
    return server.issuer


@pytest.fixture
def validator(server: IssuerServer, clock: ManualClock) -> AccessTokenValidator:
    rules = AccessTokenRules(issuer=server.url, audience=AUDIENCE)
    source = OidcJwksSource(server.url, timeout_s=5)
    keys = KeyCache(source, clock=clock, min_refresh=timedelta(seconds=10))
    return AccessTokenValidator(rules, keys, clock)
