"""Find market mechanisms by name through the ``osed.markets`` entry points.

Built-in mechanisms are declared in ``pyproject.toml`` and found the same way as third-party
ones: a package registers ``name = "module:Factory"`` in that group, and
``create_market(name, **options)`` calls ``Factory(**options)``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from osed.domain.errors import ConfigurationError
from osed.markets.protocol import Market

ENTRY_POINT_GROUP = "osed.markets"


def _entry_points() -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def available_markets() -> dict[str, str]:
    """Registered mechanism names, each with its ``module:attribute`` reference, sorted."""
    return {ep.name: ep.value for ep in sorted(_entry_points(), key=lambda ep: ep.name)}


def create_market(name: str, /, **options: Any) -> Market:
    """Build the mechanism registered as ``name`` with ``options`` as keyword arguments."""
    found = {ep.name: ep for ep in _entry_points()}
    entry_point = found.get(name)
    if entry_point is None:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigurationError(f"unknown market mechanism {name!r}; known: {known}")
    try:
        factory = entry_point.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"market mechanism {name!r} ({entry_point.value}) cannot be loaded: {exc}"
        ) from exc
    try:
        market = factory(**options)
    except TypeError as exc:
        raise ConfigurationError(f"market mechanism {name!r} rejects its options: {exc}") from exc
    if not isinstance(market, Market):
        raise ConfigurationError(
            f"market mechanism {name!r} ({entry_point.value}) does not implement Market"
        )
    return market
