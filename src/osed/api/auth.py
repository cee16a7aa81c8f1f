"""Who calls: the bearer token of every request, turned into a :class:`Principal` by the
:class:`TokenValidator` the API was given, and what each role may do.

An open API (``open=True``) asks for no token and serves every request as
:data:`~osed.domain.identity.ANONYMOUS`. Otherwise a request without ``Authorization:
Bearer …`` gets 401 with ``WWW-Authenticate: Bearer realm="osed"``, a malformed header 400
(``invalid_request``), a token the validator refuses 401 (``invalid_token``), and a principal
without the role an operation needs 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from osed.api.problems import BearerError
from osed.domain.access import permit
from osed.domain.errors import AuthenticationError, ConfigurationError
from osed.domain.identity import ANONYMOUS, Principal, Role
from osed.ports.identity import TokenValidator

_SCOPE_KEY = "osed.principal"
_bearer = HTTPBearer(
    auto_error=False, description="an access token of OSED's identity provider (docs/api.md)"
)

Caller = Callable[..., Awaitable[Principal]]
"""A FastAPI dependency that yields the request's principal."""


class Authenticator:
    def __init__(self, validator: TokenValidator | None, *, open: bool = False) -> None:
        if validator is None and not open:
            raise ConfigurationError("the API needs a token validator unless it is open")
        self.validator = validator
        self.open = open

    async def principal(self, request: Request) -> Principal:
        """The principal of ``request``, validated once per request."""
        known = request.scope.get(_SCOPE_KEY)
        if isinstance(known, Principal):
            return known
        found = await self._validate(request.headers.get("authorization"))
        request.scope[_SCOPE_KEY] = found
        return found

    async def _validate(self, header: str | None) -> Principal:
        if self.open:
            return ANONYMOUS
        assert self.validator is not None
        if header is None:
            raise BearerError("this request needs an access token (Authorization: Bearer)", None)
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise BearerError(f"the {scheme or 'empty'} scheme is not taken: use Bearer", None)
        token = token.strip()
        if not token or " " in token:
            raise BearerError(
                "the Authorization header holds no single bearer token", "invalid_request"
            )
        try:
            return await self.validator.principal(token)
        except BearerError:
            raise
        except AuthenticationError as exc:
            raise BearerError(str(exc), "invalid_token") from None

    def dependency(self) -> Caller:
        """The dependency routes take: the principal, and the bearer scheme in OpenAPI."""

        async def caller(
            request: Request,
            _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        ) -> Principal:
            return await self.principal(request)

        return caller


def requires(caller: Caller, *roles: Role, to: str) -> Caller:
    """A dependency: the principal, once it holds one of ``roles``."""

    async def allowed(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        return permit(principal, *roles, to=to)

    return allowed
