"""OSED's own issuer: access tokens signed with the local key file, and the documents that let
anyone check them (its JWKS and a discovery document for an API to serve).

It needs nothing outside OSED, so an installation without an identity provider still asks
for tokens: ``osed token create`` issues them, the API validates them against the same keys.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from osed.domain.identity import Role
from osed.domain.time import Clock, SystemClock
from osed.identity.local_keys import KeyFile

DEFAULT_CLIENT_ID = "osed-cli"


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    claims: dict[str, Any]
    kid: str

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["exp"], UTC)

    def response(self) -> dict[str, Any]:
        """The token as an OAuth 2.0 token endpoint answers it (RFC 6749 §5.1), with what it
        states beside it."""
        claims = self.claims
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"],
            "expires_at": claims["exp"],
            "issuer": claims["iss"],
            "audience": claims["aud"],
            "subject": claims["sub"],
            "roles": claims["roles"],
            "party": claims.get("party"),
            "areas": claims.get("areas", []),
            "kid": self.kid,
        }


class LocalIssuer:
    def __init__(self, issuer: str, keys: KeyFile, *, clock: Clock | None = None) -> None:
        self.issuer = issuer
        self.key_file = keys
        self._clock = clock or SystemClock()

    def issue(
        self,
        *,
        subject: str,
        audience: str,
        roles: Iterable[Role],
        party: str | None = None,
        areas: Iterable[str] = (),
        ttl: timedelta = timedelta(hours=1),
        client_id: str = DEFAULT_CLIENT_ID,
    ) -> IssuedToken:
        """A signed RFC 9068 access token for ``subject``."""
        if ttl <= timedelta(0):
            raise ValueError("a token's lifetime must be positive")
        key = self.key_file.signing_key()
        now = int(self._clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + int(ttl.total_seconds()),
            "iat": now,
            "nbf": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": client_id,
            "roles": sorted({Role(role).value for role in roles}),
        }
        if party is not None:
            claims["party"] = party
        area_list = sorted(set(areas))
        if area_list:
            claims["areas"] = area_list
        token = jwt.encode(
            claims,
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": "at+jwt"},
        )
        return IssuedToken(token, claims, key.kid)

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify this issuer's tokens (the signing key, and the keys it
        replaced while their grace lasts)."""
        return {"keys": [key.public_jwk() for key in self.key_file.live_keys()]}

    def openid_configuration(self, jwks_uri: str) -> dict[str, Any]:
        """A discovery document naming this issuer and where its JWKS is served.

        The issuer has no sign-in endpoints (tokens come from ``osed token create``); the
        members OpenID Connect Discovery requires are present so generic clients read it.
        """
        algorithms = sorted({key.algorithm for key in self.key_file.live_keys()})
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": [],
            "grant_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
            "token_endpoint_auth_methods_supported": [],
        }

    def rotate(self, grace: timedelta) -> str:
        """Sign with a new key from now on; the kid of the new key."""
        return self.key_file.rotate(grace).kid


class LocalJwksSource:
    """The local issuer's JWKS read from its key file, for a :class:`KeyCache`."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self._issuer = issuer

    @property
    def description(self) -> str:
        return f"OSED's local issuer ({self._issuer.key_file.path})"

    async def fetch(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._issuer.jwks)

    def version(self) -> object | None:
        return self._issuer.key_file.version()
