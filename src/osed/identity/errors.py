"""The refusal of an access token, with a stable reason code beside its message."""

from __future__ import annotations

from osed.domain.errors import AuthenticationError


class TokenRefusedError(AuthenticationError):
    """A bearer token that is not a valid access token for this API (HTTP 401).

    ``reason`` is a stable code (``expired``, ``wrong_audience``, … listed in docs/identity.md)
    for logs and tests; the message says what was wrong in words.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"access token refused ({reason}): {message}")
