"""Tokens already verified, remembered until they expire, so a client that sends the same
token with every request pays for its signature once.

A remembered token is answered without a check only while the key set it was verified with
is still the issuer's current one and fresh (:meth:`KeyCache.fresh`: not older than
``identity.jwks_max_age_s``, the local key file unchanged): a rotation, a key withdrawn or an
old key set makes every token go through the whole check again. Refusals are not remembered.
The memo is bounded; when full, expired entries go first, then the oldest.
"""

from __future__ import annotations

from osed.domain.identity import Principal
from osed.domain.time import Clock, SystemClock
from osed.identity.key_cache import KeyCache
from osed.identity.validator import AccessTokenRules, AccessTokenValidator, Verified

MAX_ENTRIES = 10_000


class RememberingValidator:
    """A :class:`~osed.ports.identity.TokenValidator`: ``validator`` with a memo in front."""

    def __init__(
        self,
        validator: AccessTokenValidator,
        *,
        clock: Clock | None = None,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        if max_entries < 1:
            raise ValueError("the memo must hold at least one token")
        self.validator = validator
        self._clock = clock or SystemClock()
        self._max_entries = max_entries
        self._memo: dict[str, Verified] = {}
        self.hits = 0

    @property
    def keys(self) -> KeyCache:
        return self.validator.keys

    @property
    def rules(self) -> AccessTokenRules:
        return self.validator.rules

    async def principal(self, token: str) -> Principal:
        known = self._memo.get(token)
        if known is not None:
            keys = self.validator.keys
            if (
                self._clock.now().timestamp() < known.valid_until
                and known.key_generation == keys.generation
                and keys.fresh()
            ):
                self.hits += 1
                return known.principal
            del self._memo[token]
        verified = await self.validator.verify(token)
        self._remember(token, verified)
        return verified.principal

    def _remember(self, token: str, verified: Verified) -> None:
        memo = self._memo
        if len(memo) >= self._max_entries:
            now = self._clock.now().timestamp()
            for old in [t for t, v in memo.items() if v.valid_until <= now]:
                del memo[old]
            while len(memo) >= self._max_entries:
                del memo[next(iter(memo))]  # the oldest entry
        memo[token] = verified
