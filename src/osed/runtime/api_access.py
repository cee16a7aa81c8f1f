"""Who may call the REST APIs of a process: one token validator from the identity settings,
shared by the platform API and by the EDC manager's and the balancer's own services (one key
cache, one memo of verified tokens), or none when ``identity.open``. Health stays open."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from osed.api.auth import Authenticator, BearerGate, Caller
from osed.identity.local_issuer import LocalIssuer
from osed.runtime.identity import local_issuer as build_local_issuer
from osed.runtime.identity import token_validator
from osed.runtime.settings import Settings

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True)
class ApiAccess:
    authenticator: Authenticator
    issuer: LocalIssuer | None
    """OSED's local issuer when it vouches for the callers (no ``identity.issuer``): the
    platform API publishes its discovery document and keys."""

    @property
    def caller(self) -> Caller:
        return self.authenticator.dependency()

    def prepare(self) -> None:
        """The local issuer's key file created, or its permissions checked, as a REST service
        starts: a bad one stops the start rather than fail each request."""
        if self.issuer is not None:
            self.issuer.key_file.live_keys()

    def guard(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind the token check (every path but health)."""
        return BearerGate(app, authenticator=self.authenticator, open_paths=HEALTH_PATHS)


def open_access() -> ApiAccess:
    """No token asked for: every request is the anonymous administrator."""
    return ApiAccess(Authenticator(None, open=True), None)


def api_access(settings: Settings, state_dir: Path) -> ApiAccess:
    """The access of the configured issuer (nothing is read or written yet)."""
    identity = settings.identity
    if identity.open:
        return open_access()
    issuer = None if identity.issuer is not None else build_local_issuer(settings, state_dir)
    validator = token_validator(settings, state_dir)
    return ApiAccess(Authenticator(validator), issuer)
