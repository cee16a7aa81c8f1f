"""Access-token validations per second with the issuer's key cached, per signing algorithm.

Prints one JSON object: for ES256 and RS256 tokens of OSED's local issuer (2048-bit RSA),
the best of 3 rounds of N validations on one core through ``AccessTokenValidator.principal``
(strict parsing, key by kid from the cache, signature, claims, principal). The API serves
about 1,000 requests a second; each validates one token.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cryptography
import jwt

from osed.domain.identity import Role
from osed.identity.key_cache import KeyCache
from osed.identity.local_issuer import LocalIssuer, LocalJwksSource
from osed.identity.local_keys import KeyFile, SigningAlgorithm
from osed.identity.validator import AccessTokenRules, AccessTokenValidator

ROUNDS = 3


async def per_second(algorithm: SigningAlgorithm, folder: Path, count: int) -> dict[str, float]:
    keys = KeyFile(folder / f"{algorithm}.json", algorithm=algorithm)
    issuer = LocalIssuer("urn:osed:local", keys)
    token = issuer.issue(
        subject="participant-17",
        audience="osed",
        roles=[Role.PARTICIPANT, Role.VIEWER],
        party="p-17",
    ).access_token
    validator = AccessTokenValidator(
        AccessTokenRules("urn:osed:local", "osed"), KeyCache(LocalJwksSource(issuer))
    )
    await validator.principal(token)  # the key is fetched and decoded once
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            await validator.principal(token)
        best = min(best, time.perf_counter() - start)
    return {
        "validations_per_s": round(count / best),
        "us_per_validation": round(best / count * 1e6, 1),
        "token_chars": len(token),
        "key_fetches": validator.keys.fetches,
    }


async def measure(count: int) -> dict[str, object]:
    figures: dict[str, object] = {
        "cpus": os.cpu_count(),
        "pyjwt": jwt.__version__,
        "cryptography": cryptography.__version__,
        "validations": count,
    }
    with tempfile.TemporaryDirectory() as folder:
        for algorithm in ("ES256", "RS256"):
            figures[algorithm] = await per_second(algorithm, Path(folder), count)
    return figures


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    print(json.dumps(asyncio.run(measure(count))))


if __name__ == "__main__":
    main()
