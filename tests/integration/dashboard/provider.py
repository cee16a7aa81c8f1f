"""A real OpenID provider for the dashboard's sign-in: oidc-provider-mock (discovery, JWKS, an
authorisation page with a login form for any subject, a token endpoint that issues each code
once) on a free loopback port, configured as a deployment configures its provider for OSED's
dashboard, a public client:

- the code grant takes public clients (no secret) and requires PKCE: the authorisation
  request's S256 challenge is kept with the code and the token request's verifier must match
  it (authlib's RFC 7636 extension). oidc-provider-mock 0.3 does neither by itself;
- access tokens are RFC 9068 JWTs (``typ: at+jwt``, authlib's generator) signed with the
  provider's published key, naming OSED's audience and carrying the user's ``roles``,
  ``party`` and ``areas`` claims (its default is an opaque token that a resource server
  cannot check by itself);
- the dashboard's origin may read its discovery document and token answers (CORS, as
  Keycloak's "Web origins").

A user's claims are set through the provider's ``PUT /users/{sub}``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import flask
import httpx2 as httpx
import oidc_provider_mock
import werkzeug.serving
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from oidc_provider_mock import _app as provider_app

OSED_CLAIMS = ("roles", "party", "areas")

Challenges = dict[str, tuple[str | None, str | None]]
"""Each code's challenge and method, as its authorisation request sent them."""


class _AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens for one audience, with the user's OSED claims."""

    def __init__(self, audience: str) -> None:
        super().__init__(issuer="")  # set once the server's port is known
        self.audience = audience

    def access_token_generator(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        # authlib asks the user for its id; the provider's users are known by their subject.
        return str(super().access_token_generator(client, grant_type, _Subject(user), scope))

    def get_jwks(self) -> dict[str, Any]:
        # The provider's own signing key, the one its /jwks publishes (set per request); as a
        # key set, so that the token's header names it (kid).
        key = flask.g.oidc_provider_mock_storage.jwk
        return {"keys": [key.as_dict(is_private=True)]}

    def get_audiences(self, client: Any, user: Any, scope: str) -> list[str]:
        return [self.audience]

    def get_extra_claims(
        self, client: Any, grant_type: str, user: Any, scope: str
    ) -> dict[str, Any]:
        return {name: user.claims[name] for name in OSED_CLAIMS if name in user.claims}


@dataclass(frozen=True)
class _Subject:
    user: Any

    def get_user_id(self) -> str:
        return str(self.user.sub)

    @property
    def claims(self) -> dict[str, Any]:
        return dict(self.user.claims)


class _HeldChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE required, the challenge looked up by code (the provider's codes cannot hold it)."""

    def __init__(self, held: Challenges) -> None:
        super().__init__(required=True)
        self.held = held

    def get_authorization_code_challenge(self, authorization_code: Any) -> str | None:
        return self.held.get(authorization_code.code, (None, None))[0]

    def get_authorization_code_challenge_method(self, authorization_code: Any) -> str | None:
        return self.held.get(authorization_code.code, (None, None))[1]


def _code_grant(held: Challenges) -> type:
    base = provider_app.AuthorizationCodeGrant

    class PublicClientCodeGrant(base):  # type: ignore[misc, valid-type]
        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
            "none",
            *base.TOKEN_ENDPOINT_AUTH_METHODS,
        ]

        def __init__(self, request: Any, server: Any) -> None:
            super().__init__(request, server)
            _HeldChallenge(held)(self)

        def save_authorization_code(self, code: str, request: Any) -> None:
            super().save_authorization_code(code, request)
            data = request.payload.data
            held[code] = (data.get("code_challenge"), data.get("code_challenge_method"))

    return PublicClientCodeGrant


@dataclass(frozen=True)
class Provider:
    issuer: str
    origins: set[str] = field(default_factory=set)
    """The origins whose pages may read the provider's answers (the dashboard's)."""

    def set_user(self, subject: str, **claims: Any) -> None:
        answer = httpx.put(f"{self.issuer}/users/{quote(subject, safe='')}", json=claims)
        assert answer.status_code == 204, answer.text

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth2/token"


def _app(audience: str, held: Challenges) -> tuple[flask.Flask, _AccessTokens]:
    tokens = _AccessTokens(audience)
    pages = Path(oidc_provider_mock.__file__).parent / "templates"  # its login form
    app = flask.Flask("osed-test-provider", template_folder=str(pages))
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = tokens.access_token_generator
    # The provider registers its module's code grant when it is set up: ours for that moment.
    original = provider_app.AuthorizationCodeGrant
    provider_app.AuthorizationCodeGrant = _code_grant(held)  # type: ignore[misc]
    try:
        oidc_provider_mock.init_app(app, issue_refresh_token=False)
    finally:
        provider_app.AuthorizationCodeGrant = original  # type: ignore[misc]
    return app, tokens


@contextmanager
def provider(*, audience: str) -> Iterator[Provider]:
    """The provider on ``http://localhost:<free port>`` (its issuer), stopped on leaving."""
    app, tokens = _app(audience, {})
    server = werkzeug.serving.make_server("localhost", 0, app, threaded=True)
    running = Provider(f"http://localhost:{server.server_port}")
    tokens.issuer = running.issuer

    @app.after_request
    def cors(response: flask.Response) -> flask.Response:
        origin = flask.request.headers.get("Origin")
        if origin in running.origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield running
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
