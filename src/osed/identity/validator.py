"""Bearer access tokens checked as RFC 9068 and RFC 8725 ask, turned into a :class:`Principal`.

The order of the checks: the token's shape; its ``typ`` (``at+jwt``: an ID token or any other
JWT of the same issuer is not an access token); its algorithm against the allow-list; its key
by ``kid`` among the issuer's published keys (``jku``, ``x5u`` and ``jwk`` headers are never
followed: a token does not choose the key that checks it); the signature; then the claims:
issuer exactly, audience, expiry, not-before and issued-at with the leeway, subject, and the
claims that only ID tokens carry. Each refusal is a :class:`TokenRefusedError` with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from osed.domain.identity import Principal
from osed.domain.time import Clock, SystemClock
from osed.identity.claims import principal_from_claims
from osed.identity.compact import parse
from osed.identity.errors import TokenRefusedError
from osed.identity.key_cache import KeyCache
from osed.identity.keys import SUPPORTED_ALGORITHMS

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
"""RFC 9068 §2.1: the ``typ`` header of a JWT access token (media types compare caselessly)."""

ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash", "s_hash")
"""Claims that bind an ID token to a sign-in (the nonce) or to a code or access token (the
hashes); no access token needs them. An RFC 9068 access token with a ``client_id`` may still
carry a ``nonce`` (Keycloak's backwards-compatible nonce mapper), so that one alone is not
held against a token that has a ``client_id``."""


@dataclass(frozen=True)
class AccessTokenRules:
    """What a token must state to be accepted by this API."""

    issuer: str
    audience: str
    algorithms: frozenset[str] = frozenset(SUPPORTED_ALGORITHMS)
    leeway: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        unsupported = sorted(self.algorithms - set(SUPPORTED_ALGORITHMS))
        if unsupported or not self.algorithms:
            raise ValueError(
                f"algorithms must be among {', '.join(SUPPORTED_ALGORITHMS)}: {unsupported}"
            )


@dataclass(frozen=True)
class Verified:
    """A token's principal, until when the token may be taken (its expiry plus the leeway),
    and the key set it was verified with (:attr:`KeyCache.generation`)."""

    principal: Principal
    valid_until: float
    key_generation: int


class AccessTokenValidator:
    """The :class:`osed.ports.identity.TokenValidator` for JWT access tokens of one issuer."""

    def __init__(self, rules: AccessTokenRules, keys: KeyCache, clock: Clock | None = None):
        self.rules = rules
        self.keys = keys
        self._clock = clock or SystemClock()

    async def principal(self, token: str) -> Principal:
        return (await self.verify(token)).principal

    async def verify(self, token: str) -> Verified:
        """The token checked in full, or :class:`TokenRefusedError`."""
        parts = parse(token)
        header, claims = parts.header, parts.claims
        self._check_type(header, claims)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.rules.algorithms:
            allowed = ", ".join(sorted(self.rules.algorithms))
            raise TokenRefusedError(
                "alg_not_allowed", f"alg {algorithm!r} is not one of the allowed {allowed}"
            )
        if "crit" in header:
            raise TokenRefusedError("malformed", "critical header extensions are not supported")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefusedError("missing_kid", "the header names no key (kid)")
        candidates = await self.keys.keys_for(kid)
        generation = self.keys.generation
        if not candidates:
            raise TokenRefusedError(
                "unknown_kid",
                f"key {kid!r} is not among the issuer's published keys (unknown, or rotated out)",
            )
        fitting = [key for key in candidates if algorithm in key.algorithms]
        if not fitting:
            raise TokenRefusedError("alg_key_mismatch", f"key {kid!r} is not a key for {algorithm}")
        if not any(key.verify(algorithm, parts.signing_input, parts.signature) for key in fitting):
            raise TokenRefusedError("bad_signature", f"the signature does not verify with {kid!r}")
        expires = self._check_claims(claims)
        principal = principal_from_claims(claims, audience=self.rules.audience)
        return Verified(principal, expires + self.rules.leeway.total_seconds(), generation)

    def _check_type(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
        kind = header.get("typ")
        id_marks = _id_token_marks(claims)
        if not isinstance(kind, str) or kind.lower() not in ACCESS_TOKEN_TYPES:
            if id_marks:
                raise TokenRefusedError(
                    "id_token",
                    f"an ID token (typ {kind!r}, {', '.join(id_marks)}) is not an access token",
                )
            raise TokenRefusedError("wrong_typ", f"typ is {kind!r}, an access token has at+jwt")
        if id_marks:
            raise TokenRefusedError(
                "id_token", f"the token carries ID-token claims ({', '.join(id_marks)})"
            )

    def _check_claims(self, claims: Mapping[str, Any]) -> float:
        """The token's expiry, once its claims hold."""
        rules = self.rules
        issuer = claims.get("iss")
        if issuer != rules.issuer:
            raise TokenRefusedError(
                "wrong_issuer", f"issuer {issuer!r} is not the expected {rules.issuer!r}"
            )
        audience = claims.get("aud")
        if audience is None or audience == []:
            raise TokenRefusedError("missing_audience", "the token names no audience (aud)")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or rules.audience not in audiences:
            raise TokenRefusedError(
                "wrong_audience", f"audience {audience!r} does not include {rules.audience!r}"
            )
        now = self._clock.now().timestamp()
        leeway = rules.leeway.total_seconds()
        expires = _time(claims, "exp")
        if expires is None:
            raise TokenRefusedError("missing_exp", "the token has no expiry (exp)")
        if now >= expires + leeway:
            raise TokenRefusedError("expired", f"expired {now - expires:.0f} s ago")
        not_before = _time(claims, "nbf")
        if not_before is not None and now + leeway < not_before:
            raise TokenRefusedError(
                "not_yet_valid", f"valid only in {not_before - now:.0f} s (nbf)"
            )
        issued = _time(claims, "iat")
        if issued is None:
            raise TokenRefusedError("missing_iat", "the token has no issue time (iat)")
        if now + leeway < issued:
            raise TokenRefusedError("issued_in_future", f"issued {issued - now:.0f} s from now")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRefusedError("missing_subject", "the token names no subject (sub)")
        return expires


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRefusedError("bad_claim", f"$.{name} must be a number of seconds")
    return float(value)


def _id_token_marks(claims: Mapping[str, Any]) -> list[str]:
    marks = [name for name in ID_TOKEN_CLAIMS if name in claims]
    if marks == ["nonce"] and "client_id" in claims:
        marks = []
    if claims.get("typ") == "ID":  # Keycloak names the kind of token in a claim too
        marks.append("typ ID")
    return marks
