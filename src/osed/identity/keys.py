"""Public keys from a JWKS, each with the algorithms it may verify (RFC 8725 §3.1).

A key verifies only the algorithms that fit its type: RSA keys of at least 2048 bits RS256 and
PS256, P-256 keys ES256, Ed25519 and Ed448 keys EdDSA; a key's own ``alg`` narrows that to
one. HMAC and ``none`` are never among them, so an HS256 token "signed" with a public key as
its secret has no key to be checked against. Keys that cannot sign (``use`` other than
``sig``), that carry private parts or that OSED does not support are left out of the set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import Algorithm, ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.exceptions import InvalidKeyError

log = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = ("RS256", "ES256", "PS256", "EdDSA")
"""Asymmetric signature algorithms OSED verifies; the allow-list setting picks among them."""

MIN_RSA_BITS = 2048

_VERIFIERS: dict[str, Algorithm] = {
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
}

PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One decoded public key of an issuer, kept for as long as its JWKS lists it."""

    kid: str
    key: PublicKey
    algorithms: frozenset[str]

    def verify(self, algorithm: str, signing_input: bytes, signature: bytes) -> bool:
        """Is ``signature`` this key's ``algorithm`` signature of ``signing_input``?"""
        if algorithm not in self.algorithms:
            return False
        return _VERIFIERS[algorithm].verify(signing_input, self.key, signature)


def key_set(document: Mapping[str, Any], *, source: str) -> dict[str, tuple[VerificationKey, ...]]:
    """The usable signature keys of a JWKS document by ``kid`` (a kid may name several keys,
    e.g. one RSA key listed for RS256 and again for PS256)."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        log.warning("%s: the JWKS has no 'keys' array", source)
        return {}
    found: dict[str, list[VerificationKey]] = {}
    for index, entry in enumerate(entries):
        key = _verification_key(entry, where=f"{source} $.keys[{index}]")
        if key is not None:
            found.setdefault(key.kid, []).append(key)
    return {kid: tuple(keys) for kid, keys in found.items()}


def _verification_key(entry: Any, *, where: str) -> VerificationKey | None:
    if not isinstance(entry, dict):
        log.warning("%s: not a JSON object, skipped", where)
        return None
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid:
        log.warning("%s: no kid, skipped (tokens name their key by kid)", where)
        return None
    if entry.get("use", "sig") != "sig":
        return None  # an encryption key (Keycloak lists one beside its signing keys)
    operations = entry.get("key_ops")
    if isinstance(operations, list) and "verify" not in operations:
        return None
    if any(part in entry for part in ("d", "p", "q", "k")):
        log.warning("%s (kid %s): holds private or secret key material, skipped", where, kid)
        return None
    algorithm = entry.get("alg")
    if algorithm is not None and algorithm not in SUPPORTED_ALGORITHMS:
        return None
    public_key = _public_key(entry, where=f"{where} (kid {kid})")
    if public_key is None:
        return None
    fitting = _algorithms_for(public_key)
    allowed = fitting if algorithm is None else fitting & {algorithm}
    if not allowed:
        log.warning("%s (kid %s): alg %s does not fit its key", where, kid, algorithm)
        return None
    return VerificationKey(kid, public_key, frozenset(allowed))


def _public_key(entry: dict[str, Any], *, where: str) -> PublicKey | None:
    kty = entry.get("kty")
    parsers: dict[str, type[Algorithm]] = {
        "RSA": RSAAlgorithm,
        "EC": ECAlgorithm,
        "OKP": OKPAlgorithm,
    }
    parser = parsers.get(str(kty))
    if parser is None:
        return None
    try:
        key = parser.from_jwk(entry)
    except (InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        log.warning("%s: not a valid %s key: %s", where, kty, exc)
        return None
    if isinstance(key, PublicKey):
        return key
    return None


def _algorithms_for(key: PublicKey) -> set[str]:
    if isinstance(key, RSAPublicKey):
        return {"RS256", "PS256"} if key.key_size >= MIN_RSA_BITS else set()
    if isinstance(key, EllipticCurvePublicKey):
        return {"ES256"} if isinstance(key.curve, SECP256R1) else set()
    return {"EdDSA"}
