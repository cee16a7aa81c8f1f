"""The identity settings made into a token validator and OSED's local issuer.

With ``identity.issuer`` set, tokens are checked against that OpenID provider's keys (found
through its discovery document); without it, against the local issuer's key file, the same
file ``osed token create`` signs with.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from osed.domain.time import Clock, SystemClock
from osed.identity.discovery import OidcJwksSource
from osed.identity.key_cache import JwksSource, KeyCache
from osed.identity.local_issuer import LocalIssuer, LocalJwksSource
from osed.identity.local_keys import KeyFile
from osed.identity.validator import AccessTokenRules, AccessTokenValidator
from osed.runtime.settings import IdentitySettings

KEY_FILE = Path("identity") / "signing-keys.json"
"""Where the local issuer's keys live inside the state folder unless ``identity.key_file``."""


def key_file_path(settings: IdentitySettings, state_dir: Path) -> Path:
    return settings.key_file if settings.key_file is not None else state_dir / KEY_FILE


def local_issuer(
    settings: IdentitySettings, state_dir: Path, *, clock: Clock | None = None
) -> LocalIssuer:
    keys = KeyFile(
        key_file_path(settings, state_dir), algorithm=settings.key_algorithm, clock=clock
    )
    return LocalIssuer(settings.local_issuer, keys, clock=clock)


def token_validator(
    settings: IdentitySettings, state_dir: Path, *, clock: Clock | None = None
) -> AccessTokenValidator:
    """The API's validator: the configured provider's, or the local issuer's."""
    clock = clock or SystemClock()
    source: JwksSource
    if settings.issuer is not None:
        issuer = settings.issuer
        source = OidcJwksSource(issuer, timeout_s=settings.http_timeout_s)
    else:
        issuer = settings.local_issuer
        source = LocalJwksSource(local_issuer(settings, state_dir, clock=clock))
    rules = AccessTokenRules(
        issuer=issuer,
        audience=settings.audience,
        algorithms=frozenset(settings.algorithms),
        leeway=timedelta(seconds=settings.leeway_s),
    )
    keys = KeyCache(
        source,
        clock=clock,
        min_refresh=timedelta(seconds=settings.jwks_min_refresh_s),
        max_age=timedelta(seconds=settings.jwks_max_age_s),
    )
    return AccessTokenValidator(rules, keys, clock)
