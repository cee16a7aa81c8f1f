"""Bus topics as NATS subjects: ``a/b`` is ``<prefix>.a.b``; ``+`` is ``*`` and ``#`` is ``>``.

A topic level holding ``.``, ``*``, ``>`` or whitespace would change meaning on the way, so it
is rejected rather than escaped (escaping would make subjects unreadable in NATS tools).
"""

from __future__ import annotations

from osed.domain.errors import Problem, ValidationError

_FORBIDDEN = frozenset(".*>")


def require_token(token: str, path: str, what: str) -> None:
    """One NATS subject token (or stream/consumer name): non-empty, no ``.``, ``*``, ``>``,
    no whitespace."""
    if not token or any(c in _FORBIDDEN or c.isspace() for c in token):
        raise ValidationError(
            [
                Problem(
                    path,
                    "bad_nats_token",
                    f"{what} {token!r} is empty or holds '.', '*', '>' or whitespace",
                )
            ],
            subject="nats subject",
        )


def subject_for_topic(prefix: str, topic: str) -> str:
    levels = topic.split("/")
    for level in levels:
        require_token(level, "$.topic", f"topic level of {topic!r}")
    return ".".join([prefix, *levels])


def subject_for_pattern(prefix: str, pattern: str) -> str:
    levels = pattern.split("/")
    tokens = []
    for k, level in enumerate(levels):
        if level == "+":
            tokens.append("*")
        elif level == "#" and k == len(levels) - 1:
            tokens.append(">")
        elif "+" in level or "#" in level:
            raise ValidationError(
                [Problem("$.pattern", "bad_pattern", f"not a topic pattern: {pattern!r}")],
                subject="nats subject",
            )
        else:
            require_token(level, "$.pattern", f"pattern level of {pattern!r}")
            tokens.append(level)
    return ".".join([prefix, *tokens])


def filter_for_pattern(prefix: str, pattern: str) -> str:
    """The consumer filter for ``pattern``. MQTT's ``a/b/#`` also matches ``a/b`` itself, which
    ``a.b.>`` does not, and NATS 2.9 allows one filter per consumer: so the filter widens to
    ``a.>`` and the bus drops the extra messages with ``topic_matches``."""
    subject = subject_for_pattern(prefix, pattern)
    if pattern.endswith("/#"):
        return subject.removesuffix(".>").rpartition(".")[0] + ".>"
    return subject


def topic_for_subject(prefix: str, subject: str) -> str:
    return subject.removeprefix(prefix + ".").replace(".", "/")
