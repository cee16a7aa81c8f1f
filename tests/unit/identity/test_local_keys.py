"""The local issuer's key file: created once, owner-only, rotated with a grace period."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from osed.domain.errors import ConfigurationError
from osed.domain.time import ManualClock
from osed.identity.keys import key_set
from osed.identity.local_issuer import LocalIssuer
from osed.identity.local_keys import KeyFile, thumbprint


def test_the_file_is_created_on_first_use_readable_by_its_owner_only(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "state" / "identity" / "keys.json"
    keys = KeyFile(path, clock=clock)
    assert not path.exists()
    first = keys.signing_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert first.algorithm == "ES256"
    assert first.kid == thumbprint(first.private_key)
    again = KeyFile(path, clock=clock).signing_key()  # another process reads the same key
    assert again.kid == first.kid


def test_processes_starting_together_share_one_first_key(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "keys.json"
    kids: list[str] = []
    threads = [
        threading.Thread(target=lambda: kids.append(KeyFile(path, clock=clock).signing_key().kid))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "keys.json"
    KeyFile(path, clock=clock).signing_key()
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        KeyFile(path, clock=clock).signing_key()


def test_a_broken_key_file_is_named(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"format": "something else", "keys": []}')
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="not a signing key file"):
        KeyFile(path, clock=clock).signing_key()


def test_rotation_keeps_the_old_key_for_its_grace_period(
    tmp_path: Path, clock: ManualClock
) -> None:
    issuer = LocalIssuer("urn:osed:local", KeyFile(tmp_path / "k.json", clock=clock), clock=clock)
    first = issuer.key_file.signing_key().kid
    second = issuer.rotate(timedelta(hours=2))
    assert issuer.key_file.signing_key().kid == second
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [second, first]
    clock.advance(timedelta(hours=1))
    third = issuer.rotate(timedelta(hours=2))
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [third, second, first]
    clock.advance(timedelta(hours=1, seconds=1))  # the first key's grace is over
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [third, second]
    fourth = issuer.rotate(timedelta(0))
    # No grace: the key just replaced goes at once; the second keeps the grace it was given.
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [fourth, second]
    stored = (tmp_path / "k.json").read_text()
    assert first not in stored
    assert third not in stored


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_the_jwks_holds_public_keys_only_and_verifies(
    algorithm: str, tmp_path: Path, clock: ManualClock
) -> None:
    keys = KeyFile(tmp_path / "k.json", algorithm=algorithm, clock=clock)  # type: ignore[arg-type]
    issuer = LocalIssuer("urn:osed:local", keys, clock=clock)
    document = issuer.jwks()
    (entry,) = document["keys"]
    assert entry["alg"] == algorithm
    assert entry["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(entry)
    parsed = key_set(document, source="test")
    assert set(parsed) == {entry["kid"]}
    assert parsed[entry["kid"]][0].algorithms == {algorithm}
    configuration = issuer.openid_configuration("https://osed.example/jwks")
    assert configuration["issuer"] == "urn:osed:local"
    assert configuration["jwks_uri"] == "https://osed.example/jwks"
    assert configuration["id_token_signing_alg_values_supported"] == [algorithm]


def test_jwks_entries_osed_cannot_use_are_left_out() -> None:
    rsa_1024 = {
        "kty": "RSA",
        "kid": "small",
        "n": "x" * 170,  # 1024 bits of modulus
        "e": "AQAB",
    }
    document = {
        "keys": [
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "private", "crv": "P-256", "x": "a", "y": "b", "d": "c"},
            {"kty": "RSA", "kid": "hs", "alg": "HS256", "n": "AQAB", "e": "AQAB"},
            rsa_1024,
            {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"},  # no kid
            "not an object",
        ]
    }
    assert key_set(document, source="test") == {}
    assert key_set({"no": "keys"}, source="test") == {}
