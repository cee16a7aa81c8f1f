"""Per-building tokens: issued once, kept only as a salted HMAC-SHA-256, compared in constant
time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenHash:
    salt: bytes
    digest: bytes

    def to_dict(self) -> dict[str, str]:
        return {"salt": self.salt.hex(), "digest": self.digest.hex()}

    @classmethod
    def from_dict(cls, stored: dict[str, str]) -> TokenHash:
        return cls(bytes.fromhex(stored["salt"]), bytes.fromhex(stored["digest"]))

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(_digest(self.salt, token), self.digest)


def issue_token() -> tuple[str, TokenHash]:
    """A new token (to hand out once) and what is stored of it."""
    token = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    return token, TokenHash(salt, _digest(salt, token))


def _digest(salt: bytes, token: str) -> bytes:
    return hmac.new(salt, token.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
