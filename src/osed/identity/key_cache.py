"""An issuer's keys, decoded once and kept by kid; fetched again when a token names a new one.

Key rotation needs no restart: a token whose ``kid`` is not in the cached set triggers one
fetch of the JWKS, at most once per ``min_refresh`` for the issuer, so a stream of tokens with
made-up kids cannot turn the validator into a load generator against the identity provider.
The set is also fetched again once older than ``max_age`` (keys an issuer withdrew stop
verifying); should that fetch fail, the keys held are used until a fetch succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from osed.domain.errors import OsedError, UnavailableError
from osed.domain.time import Clock, SystemClock
from osed.identity.keys import VerificationKey, key_set

log = logging.getLogger(__name__)


class JwksSource(Protocol):
    """Where an issuer's JWKS document comes from (over HTTP, or OSED's own key file)."""

    @property
    def description(self) -> str: ...

    async def fetch(self) -> dict[str, Any]: ...


class KeyCache:
    def __init__(
        self,
        source: JwksSource,
        *,
        clock: Clock | None = None,
        min_refresh: timedelta = timedelta(seconds=10),
        max_age: timedelta = timedelta(minutes=5),
    ) -> None:
        self.source = source
        self._clock = clock or SystemClock()
        self._min_refresh = min_refresh
        self._max_age = max_age
        self._keys: dict[str, tuple[VerificationKey, ...]] | None = None
        self._fetched_at: datetime | None = None
        self._attempted_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the JWKS was fetched (successfully or not)."""

    async def keys_for(self, kid: str) -> tuple[VerificationKey, ...]:
        """The issuer's keys named ``kid`` (empty when the issuer does not list it)."""
        keys = self._keys
        if keys is not None and not self._stale():
            found = keys.get(kid)
            if found:
                return found
        await self._refresh(kid)
        return (self._keys or {}).get(kid, ())

    def _stale(self) -> bool:
        fetched = self._fetched_at
        return fetched is None or self._clock.now() - fetched >= self._max_age

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            keys = self._keys
            if keys is not None and kid in keys and not self._stale():
                return  # another request fetched the set while this one waited
            attempted = self._attempted_at
            if attempted is not None and self._clock.now() - attempted < self._min_refresh:
                if keys is None:
                    raise UnavailableError(
                        f"the signing keys of {self.source.description} could not be "
                        f"fetched; next try in at most {self._min_refresh.total_seconds():g} s"
                    )
                return
            self._attempted_at = self._clock.now()
            self.fetches += 1
            try:
                document = await self.source.fetch()
            except OsedError as exc:
                if keys is None:
                    raise
                log.warning("keeping the keys held: %s", exc)
                return
            self._keys = key_set(document, source=self.source.description)
            self._fetched_at = self._clock.now()
            log.info("fetched %d signing keys of %s", len(self._keys), self.source.description)
