"""An issuer's keys, decoded once and kept by kid; fetched again when a token names a new one.

Key rotation needs no restart: a token whose ``kid`` is not in the cached set triggers one
fetch of the JWKS, at most once per ``min_refresh`` for the issuer, so a stream of tokens with
made-up kids cannot turn the validator into a load generator against the identity provider.
The set is also fetched again once older than ``max_age`` (keys an issuer withdrew stop
verifying); should that fetch fail, the keys held are used until a fetch succeeds. A source
that can tell cheaply that its keys changed (the local issuer's key file, by its modification)
is read again as soon as it does, whatever the rate limit: a rotation is seen at the next
request, and a key dropped from the file stops verifying at once.
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

    def version(self) -> object | None:
        """Something that changes whenever the keys may have (None: no way to tell short
        of fetching them)."""


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
        self._version: object | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the JWKS was fetched (successfully or not)."""
        self.generation = 0
        """Counts the key sets fetched: what was verified with an older one may not hold."""

    async def keys_for(self, kid: str) -> tuple[VerificationKey, ...]:
        """The issuer's keys named ``kid`` (empty when the issuer does not list it)."""
        keys = self._keys
        if keys is not None and not self._stale():
            found = keys.get(kid)
            if found:
                return found
        await self._refresh(kid)
        return (self._keys or {}).get(kid, ())

    def fresh(self) -> bool:
        """Whether the keys held may be used without fetching them again."""
        return self._keys is not None and not self._stale()

    def _stale(self) -> bool:
        fetched = self._fetched_at
        return fetched is None or self._clock.now() - fetched >= self._max_age or self._changed()

    def _changed(self) -> bool:
        """The source says its keys changed since they were fetched."""
        version = self._version
        return version is not None and version != self.source.version()

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            keys = self._keys
            if keys is not None and kid in keys and not self._stale():
                return  # another request fetched the set while this one waited
            attempted = self._attempted_at
            limited = attempted is not None and self._clock.now() - attempted < self._min_refresh
            if limited and not self._changed():
                if keys is None:
                    raise UnavailableError(
                        f"the signing keys of {self.source.description} could not be "
                        f"fetched; next try in at most {self._min_refresh.total_seconds():g} s"
                    )
                return
            self._attempted_at = self._clock.now()
            self.fetches += 1
            version = self.source.version()
            try:
                document = await self.source.fetch()
            except OsedError as exc:
                if keys is None:
                    raise
                log.warning("keeping the keys held: %s", exc)
                return
            self._keys = key_set(document, source=self.source.description)
            self._fetched_at = self._clock.now()
            self._version = version
            self.generation += 1
            log.info("fetched %d signing keys of %s", len(self._keys), self.source.description)
