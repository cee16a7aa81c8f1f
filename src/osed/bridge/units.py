"""Unit conversions the bridge understands: SI prefixes of the electrical units, and angles.

Each unit maps to its base unit and the factor to it; two units convert when they share a
base. Kept as a table (not a units library) because the vocabulary of field devices is small.
"""

from __future__ import annotations

import math

from osed.domain.errors import Problem, ValidationError

_PREFIXES = {"": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
_SI_BASES = ("V", "A", "W", "var", "VA", "Wh", "varh", "Hz")

# unit -> (base unit, factor to the base)
_TABLE: dict[str, tuple[str, float]] = {
    prefix + base: (base, factor) for base in _SI_BASES for prefix, factor in _PREFIXES.items()
}
_TABLE |= {"rad": ("rad", 1.0), "deg": ("rad", math.pi / 180.0), "°": ("rad", math.pi / 180.0)}
_TABLE |= {"pu": ("pu", 1.0), "%": ("pu", 0.01)}


def known_units() -> list[str]:
    return sorted(_TABLE)


def is_known(unit: str) -> bool:
    return unit in _TABLE


def base_of(unit: str) -> str | None:
    entry = _TABLE.get(unit)
    return entry[0] if entry is not None else None


def factor(source: str, target: str, *, path: str = "$") -> float:
    """The factor that turns a value in ``source`` into one in ``target``."""
    have, want = _TABLE.get(source), _TABLE.get(target)
    if have is None or want is None or have[0] != want[0]:
        raise ValidationError(
            [Problem(path, "incompatible_units", f"cannot convert {source!r} to {target!r}")],
            subject="unit conversion",
        )
    return have[1] / want[1]
