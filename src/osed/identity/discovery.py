"""An OpenID provider's JWKS, found through its discovery document.

Only the issuer URL is configured: its ``/.well-known/openid-configuration`` names the
``jwks_uri`` (Keycloak: ``https://host/realms/NAME``). The document's ``issuer`` must be the
configured one exactly (OpenID Connect Discovery §4.3), or the keys could belong to another
issuer. The HTTP calls run in a thread with a timeout and a size limit; the event loop never
waits on the network.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from osed.codec.json_text import loads
from osed.domain.errors import ConfigurationError, UnavailableError, ValidationError

MAX_DOCUMENT_BYTES = 1024 * 1024
WELL_KNOWN = "/.well-known/openid-configuration"


def discovery_url(issuer: str) -> str:
    """Where ``issuer`` publishes its configuration (a trailing slash is not doubled)."""
    return issuer.rstrip("/") + WELL_KNOWN


def fetch_json(url: str, *, timeout_s: float) -> dict[str, Any]:
    """The JSON object at ``url`` (blocking; run it in a thread)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigurationError(f"{url}: only http and https URLs are fetched")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise UnavailableError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnavailableError(f"{url} could not be fetched: {reason}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ConfigurationError(f"{url}: the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = loads(body, subject=url)
    except ValidationError as exc:
        raise ConfigurationError(f"{url}: not a JSON document: {exc.problems[0]}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{url}: the document is not a JSON object")
    return document


class OidcJwksSource:
    """The JWKS of an OpenID provider, its URL taken from the discovery document once."""

    def __init__(self, issuer: str, *, timeout_s: float = 5.0) -> None:
        self.issuer = issuer
        self._timeout_s = timeout_s
        self._jwks_uri: str | None = None

    @property
    def description(self) -> str:
        return f"issuer {self.issuer}"

    def version(self) -> None:
        return None  # a provider's keys are seen only by fetching them

    async def fetch(self) -> dict[str, Any]:
        if self._jwks_uri is None:
            self._jwks_uri = await asyncio.to_thread(self._discover)
        return await asyncio.to_thread(fetch_json, self._jwks_uri, timeout_s=self._timeout_s)

    def _discover(self) -> str:
        url = discovery_url(self.issuer)
        document = fetch_json(url, timeout_s=self._timeout_s)
        if document.get("issuer") != self.issuer:
            raise ConfigurationError(
                f"{url} names the issuer {document.get('issuer')!r}, not {self.issuer!r} "
                "(identity.issuer must be the provider's issuer exactly)"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ("http", "https"):
            raise ConfigurationError(f"{url}: no http(s) jwks_uri in the discovery document")
        return jwks_uri
