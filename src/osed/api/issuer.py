"""OSED's local issuer published by the API: its OpenID discovery document and its JWKS, open
to everyone (they hold public keys only), so that another OSED, a gateway or any RFC 9068
resource server given the API's URL as its issuer checks the same tokens.

    GET /.well-known/openid-configuration   names the issuer and the JWKS URL
    GET /.well-known/jwks.json              the keys that verify its tokens (rotation shows)
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from fastapi import APIRouter, Request

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
PATHS = frozenset({DISCOVERY_PATH, JWKS_PATH})


class IssuerDocuments(Protocol):
    """What an issuer publishes (``osed.identity.local_issuer.LocalIssuer``)."""

    issuer: str

    def jwks(self) -> dict[str, Any]: ...

    def openid_configuration(self, jwks_uri: str) -> dict[str, Any]: ...


def create_router(issuer: IssuerDocuments) -> APIRouter:
    router = APIRouter(tags=["identity"])

    @router.get(
        DISCOVERY_PATH,
        responses={200: {"description": "the local issuer's OpenID discovery document"}},
    )
    async def discovery(request: Request) -> dict[str, Any]:
        uri = _jwks_uri(issuer.issuer, request)
        return await asyncio.to_thread(issuer.openid_configuration, uri)

    @router.get(JWKS_PATH, responses={200: {"description": "the local issuer's public keys"}})
    async def jwks() -> dict[str, Any]:
        return await asyncio.to_thread(issuer.jwks)  # reads the key file

    return router


def _jwks_uri(issuer: str, request: Request) -> str:
    """Under the issuer when it is a URL (how others reach the API), else where asked."""
    if issuer.startswith(("http://", "https://")):
        return issuer.rstrip("/") + JWKS_PATH
    return str(request.base_url).rstrip("/") + JWKS_PATH
