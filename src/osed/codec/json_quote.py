"""JSON string literals as ``json.dumps`` writes them, for encoders that write JSON text
directly: ``quote`` escapes every non-ASCII character, and ``QuoteMemo`` remembers the literals
of texts a stream repeats (devices, measurands, topics, sources)."""

from __future__ import annotations

from json.encoder import encode_basestring_ascii

quote = encode_basestring_ascii


class QuoteMemo:
    """``quote`` of texts seen before, remembered up to ``limit`` texts and then forgotten all
    at once, so that a stream of ever-new texts cannot grow it without bound."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._quoted: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        quoted = self._quoted.get(text)
        if quoted is None:
            quoted = quote(text)
            if len(self._quoted) >= self._limit:
                self._quoted.clear()
            self._quoted[text] = quoted
        return quoted
