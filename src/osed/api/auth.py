"""Who calls: the bearer token of every request, turned into a :class:`Principal` by the
:class:`TokenValidator` the API was given, and what each role may do.

An open API (``open=True``) asks for no token and serves every request as
:data:`~osed.domain.identity.ANONYMOUS`. Otherwise a request without ``Authorization:
Bearer …`` gets 401 with ``WWW-Authenticate: Bearer realm="osed"``, a malformed header 400
(``invalid_request``), a token the validator refuses 401 (``invalid_token``), a validator that
cannot reach its issuer's keys 503, and a principal without the role an operation needs 403.

:class:`BearerGate` puts the same check in front of a whole app (the EDC manager's and the
balancer's own services): no request but health reaches it without a valid token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from osed.api.problems import BearerError, refused_credentials, unavailable_problem
from osed.domain.access import permit
from osed.domain.errors import AuthenticationError, ConfigurationError, UnavailableError
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
        return await self.principal_of(request.scope)

    async def principal_of(self, scope: Scope) -> Principal:
        """The principal of the request ``scope``, kept in it once validated."""
        known = scope.get(_SCOPE_KEY)
        if isinstance(known, Principal):
            return known
        found = await self._validate(Headers(scope=scope).get("authorization"))
        scope[_SCOPE_KEY] = found
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


class BearerGate:
    """Every request to ``app`` but to ``open_paths`` must carry a valid bearer token; the
    refusals are the platform API's (RFC 6750, problem+json). The principal is kept in the
    request, where the app's ``caller`` dependency finds it. Plain ASGI: no extra task."""

    def __init__(
        self, app: ASGIApp, *, authenticator: Authenticator, open_paths: frozenset[str]
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"] not in self.open_paths:
            try:
                await self.authenticator.principal_of(scope)
            except AuthenticationError as exc:
                await refused_credentials(exc, scope["path"])(scope, receive, send)
                return
            except UnavailableError as exc:
                await unavailable_problem(exc, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def requires(caller: Caller, *roles: Role, to: str) -> Caller:
    """A dependency: the principal, once it holds one of ``roles``."""

    async def allowed(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        return permit(principal, *roles, to=to)

    return allowed
