"""Find grid functions by name through the ``osed.grid_functions`` entry points.

A package registers ``name = "module:attribute"`` in that group; the attribute is a grid
function object or a class (or any callable) that makes one with no arguments. Built-ins are
declared in OSED's own ``pyproject.toml`` and found the same way.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from osed.domain.errors import ConfigurationError, NotFoundError
from osed.gridfunctions.spec import GridFunction

ENTRY_POINT_GROUP = "osed.grid_functions"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_name)}


def _name(entry_point: EntryPoint) -> str:
    return entry_point.name


def function_names() -> list[str]:
    """The registered function names, sorted."""
    return list(_entry_points())


def load_function(name: str) -> GridFunction:
    """The grid function registered as ``name``."""
    found = _entry_points()
    entry_point = found.get(name)
    if entry_point is None:
        known = ", ".join(found) or "none"
        raise NotFoundError(f"unknown grid function {name!r}; installed: {known}")
    try:
        target = entry_point.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"grid function {name!r} ({entry_point.value}) cannot be loaded: {exc}"
        ) from exc
    function = target() if isinstance(target, type) else target
    if not isinstance(function, GridFunction):
        raise ConfigurationError(
            f"grid function {name!r} ({entry_point.value}) lacks manifest, run or open"
        )
    if function.manifest.name != name:
        raise ConfigurationError(
            f"grid function registered as {name!r} calls itself {function.manifest.name!r}"
        )
    return function


def load_all() -> dict[str, GridFunction]:
    """Every registered function that loads, by name."""
    return {name: load_function(name) for name in function_names()}
