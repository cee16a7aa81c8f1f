"""The identity settings made into a token validator and OSED's local issuer.

With ``identity.issuer`` set, tokens are checked against that OpenID provider's keys (found
through its discovery document); without it, against the local issuer's key file, the same
file ``osed token create`` signs with. The local issuer is named ``identity.local_issuer``,
else the platform API's URL, so that the tokens ``osed token create`` prints are the ones
``osed serve`` accepts and the API's discovery document names its issuer truly.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from osed.domain.time import Clock, SystemClock
from osed.identity.discovery import OidcJwksSource
from osed.identity.key_cache import JwksSource, KeyCache
from osed.identity.local_issuer import LocalIssuer, LocalJwksSource
from osed.identity.local_keys import KeyFile
from osed.identity.memo import RememberingValidator
from osed.identity.validator import AccessTokenRules, AccessTokenValidator
from osed.runtime.settings import ApiSettings, IdentitySettings, Settings

KEY_FILE = Path("identity") / "signing-keys.json"
"""Where the local issuer's keys live inside the state folder unless ``identity.key_file``."""


def key_file_path(settings: IdentitySettings, state_dir: Path) -> Path:
    return settings.key_file if settings.key_file is not None else state_dir / KEY_FILE


def api_url(settings: ApiSettings) -> str:
    """The platform API's URL as its host and port settings give it."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def local_issuer_name(settings: Settings) -> str:
    return settings.identity.local_issuer or api_url(settings.api)


def local_issuer(settings: Settings, state_dir: Path, *, clock: Clock | None = None) -> LocalIssuer:
    identity = settings.identity
    keys = KeyFile(
        key_file_path(identity, state_dir), algorithm=identity.key_algorithm, clock=clock
    )
    return LocalIssuer(local_issuer_name(settings), keys, clock=clock)


def token_validator(
    settings: Settings, state_dir: Path, *, clock: Clock | None = None
) -> RememberingValidator:
    """The APIs' validator: the configured provider's, or the local issuer's; a token once
    verified is remembered while it lives and its keys stand (``osed.identity.memo``)."""
    clock = clock or SystemClock()
    identity = settings.identity
    source: JwksSource
    if identity.issuer is not None:
        issuer = identity.issuer
        source = OidcJwksSource(issuer, timeout_s=identity.http_timeout_s)
    else:
        local = local_issuer(settings, state_dir, clock=clock)
        issuer = local.issuer
        source = LocalJwksSource(local)
    rules = AccessTokenRules(
        issuer=issuer,
        audience=identity.audience,
        algorithms=frozenset(identity.algorithms),
        leeway=timedelta(seconds=identity.leeway_s),
    )
    keys = KeyCache(
        source,
        clock=clock,
        min_refresh=timedelta(seconds=identity.jwks_min_refresh_s),
        max_age=timedelta(seconds=identity.jwks_max_age_s),
    )
    return RememberingValidator(AccessTokenValidator(rules, keys, clock), clock=clock)
