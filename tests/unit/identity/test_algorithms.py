"""Each allowed algorithm verifies with the key type it fits, and with no other."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from osed.domain.time import ManualClock
from osed.identity.errors import TokenRefusedError
from osed.identity.key_cache import KeyCache
from osed.identity.validator import AccessTokenRules, AccessTokenValidator

CLOCK = ManualClock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
ISSUER = "https://sso.example/realms/grid"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS: dict[str, Any] = {
    "RS256": RSA_KEY,
    "PS256": RSA_KEY,
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
}


class StaticJwks:
    """A JWKS held in memory: the keys of a provider that never rotates."""

    description = "a fixed JWKS"

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    async def fetch(self) -> dict[str, Any]:
        return self.document

    def version(self) -> None:
        return None


def _jwk(kid: str, key: Any, alg: str | None) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"} | ({} if alg is None else {"alg": alg})


def _token(alg: str, kid: str) -> str:
    now = int(CLOCK.now().timestamp())
    claims = {"iss": ISSUER, "aud": "osed", "sub": "s", "exp": now + 60, "iat": now}
    return jwt.encode(claims, KEYS[alg], algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})


def _validator(document: dict[str, Any]) -> AccessTokenValidator:
    keys = KeyCache(StaticJwks(document), clock=CLOCK)
    return AccessTokenValidator(AccessTokenRules(ISSUER, "osed"), keys, CLOCK)


@pytest.mark.parametrize("alg", list(KEYS))
async def test_every_supported_algorithm_verifies(alg: str) -> None:
    validator = _validator({"keys": [_jwk("k", KEYS[alg], alg)]})
    assert (await validator.principal(_token(alg, "k"))).subject == "s"


async def test_an_rsa_key_without_alg_serves_rs256_and_ps256_only() -> None:
    validator = _validator({"keys": [_jwk("k", RSA_KEY, None)]})
    for alg in ("RS256", "PS256"):
        assert await validator.principal(_token(alg, "k"))
    with pytest.raises(TokenRefusedError, match="alg_key_mismatch"):
        await validator.principal(_token("ES256", "k"))


async def test_a_key_listed_for_one_algorithm_refuses_the_other() -> None:
    validator = _validator({"keys": [_jwk("k", RSA_KEY, "PS256")]})
    with pytest.raises(TokenRefusedError, match="alg_key_mismatch"):
        await validator.principal(_token("RS256", "k"))


async def test_a_token_signed_by_another_key_of_the_same_kid_fails() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    validator = _validator({"keys": [_jwk("k", other, "ES256")]})
    with pytest.raises(TokenRefusedError, match="bad_signature"):
        await validator.principal(_token("ES256", "k"))
