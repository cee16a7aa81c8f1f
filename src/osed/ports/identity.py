"""The port between an API and whoever vouches for its callers."""

from __future__ import annotations

from typing import Protocol

from osed.domain.identity import Principal


class TokenValidator(Protocol):
    """Turns a bearer access token into the principal it names.

    Raises :class:`osed.domain.errors.AuthenticationError` naming why a token is refused
    (issuer, audience, algorithm, expiry, key, type, signature); never returns a principal
    for a token it did not verify.
    """

    async def principal(self, token: str) -> Principal: ...
