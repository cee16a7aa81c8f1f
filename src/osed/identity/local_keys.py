"""The signing keys of OSED's own issuer, kept in one file readable by its owner only.

The file is created on first use with one key (ES256 by default, RS256 on request). Rotation
adds a new key that signs from then on and keeps the previous ones in the JWKS for a grace
period, so tokens they signed stay valid until they expire; past it they are dropped and their
tokens refused. Writers take a lock file, write a temporary file (0600) and rename it, so a
reader never sees half a file and two processes never create two first keys.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from osed.domain.errors import ConfigurationError
from osed.domain.time import Clock, SystemClock

FORMAT = "osed-signing-keys/1"
SigningAlgorithm = Literal["ES256", "RS256"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
RSA_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: SigningAlgorithm
    private_key: PrivateKey
    created_at: datetime
    drop_after: datetime | None = None
    """Set when a newer key took over: the end of this key's grace period."""

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, with its kid, algorithm and use."""
        return {**_public_members(self.private_key), "kid": self.kid, "alg": self.algorithm}


class KeyFile:
    def __init__(
        self, path: Path, *, algorithm: SigningAlgorithm = "ES256", clock: Clock | None = None
    ) -> None:
        self.path = path
        self.algorithm: SigningAlgorithm = algorithm
        self._clock = clock or SystemClock()
        self._cache: tuple[tuple[int, int, int], tuple[SigningKey, ...]] | None = None

    def live_keys(self) -> tuple[SigningKey, ...]:
        """The keys within their grace period, the signing key first; the file is created
        with a first key when there is none."""
        stored = self._stored()
        if not stored:
            with self._locked():
                stored = self._read()
                if not stored:
                    stored = (self._new_key(),)
                    self._write(stored)
        now = self._clock.now()
        return tuple(key for key in stored if key.drop_after is None or key.drop_after > now)

    def version(self) -> tuple[int, int, int] | None:
        """The file's identity and modification (None: no file yet): a rotation changes it."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def signing_key(self) -> SigningKey:
        return self.live_keys()[0]

    def rotate(self, grace: timedelta) -> SigningKey:
        """A new signing key; the previous one verifies for ``grace`` more, the keys whose
        grace has ended leave the file."""
        with self._locked():
            now = self._clock.now()
            fresh = self._new_key()
            retired = [
                key if key.drop_after is not None else _retired(key, now + grace)
                for key in self._read()
            ]
            kept = [key for key in retired if key.drop_after is not None and key.drop_after > now]
            self._write((fresh, *kept))
        return fresh

    # ------------------------------------------------------------------ the file

    def _stored(self) -> tuple[SigningKey, ...]:
        """The keys in the file, decoded again only when the file changed."""
        signature = self.version()
        if signature is None:
            return ()
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        keys = self._read()
        self._cache = (signature, keys)
        return keys

    def _read(self) -> tuple[SigningKey, ...]:
        try:
            handle = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return ()
        with os.fdopen(handle, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if stat.S_IMODE(mode) & 0o077:
                raise ConfigurationError(
                    f"{self.path}: the signing keys are readable by others "
                    f"(mode {stat.S_IMODE(mode):o}); chmod 600 it"
                )
            raw = file.read()
        try:
            document = json.loads(raw)
            if document.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            return tuple(_decode(entry) for entry in document["keys"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"{self.path}: not a signing key file: {exc}") from None

    def _write(self, keys: tuple[SigningKey, ...]) -> None:
        document = {"format": FORMAT, "keys": [_encode(key) for key in keys]}
        data = json.dumps(document, indent=1).encode("utf-8")
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = self.path.with_name(self.path.name + ".lock")
        handle = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # closing releases the lock

    def _new_key(self) -> SigningKey:
        private: PrivateKey
        if self.algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        return SigningKey(thumbprint(private), self.algorithm, private, self._clock.now())


def thumbprint(key: PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint of ``key``'s public half: a kid that names the key."""
    members = _public_members(key)
    required = ("crv", "kty", "x", "y") if members["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({name: members[name] for name in required}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _public_members(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {name: jwk[name] for name in ("kty", "crv", "x", "y")} | {"use": "sig"}
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {name: jwk[name] for name in ("kty", "n", "e")} | {"use": "sig"}


def _retired(key: SigningKey, drop_after: datetime) -> SigningKey:
    return SigningKey(key.kid, key.algorithm, key.private_key, key.created_at, drop_after)


def _encode(key: SigningKey) -> dict[str, Any]:
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "kid": key.kid,
        "alg": key.algorithm,
        "created_at": key.created_at.isoformat(),
        "drop_after": None if key.drop_after is None else key.drop_after.isoformat(),
        "private_key": pem.decode("ascii"),
    }


def _decode(entry: dict[str, Any]) -> SigningKey:
    algorithm = entry["alg"]
    if algorithm not in ("ES256", "RS256"):
        raise ValueError(f"alg {algorithm!r} is not ES256 or RS256")
    private = serialization.load_pem_private_key(entry["private_key"].encode("ascii"), None)
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"key {entry['kid']!r} is not an EC or RSA key")
    drop_after = entry.get("drop_after")
    return SigningKey(
        kid=str(entry["kid"]),
        algorithm=algorithm,
        private_key=private,
        created_at=datetime.fromisoformat(entry["created_at"]),
        drop_after=None if drop_after is None else datetime.fromisoformat(drop_after),
    )
