"""An inverter's apparent power rating shared between reactive and active power (IEEE 1547-2018).

Volt-var asks for a reactive power Q and volt-watt for an active power limit; an inverter can
deliver both only while P² + Q² ≤ S². Which one gives way is the priority:

- reactive power priority (the standard's default with volt-var): Q as the curve asks, capped at
  ±S, and the active power limit lowered to √(S² − Q²);
- active power priority: the active power the inverter may produce, P = min(available, limit,
  S), is kept and Q is cut to ±√(S² − P²).

Volt-watt's limit comes first: it is part of the active power limit either priority starts from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]

REACTIVE = "reactive"
ACTIVE = "active"
PRIORITIES = (REACTIVE, ACTIVE)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What each inverter is sent: its reactive power and its active power limit."""

    q_kvar: Vector
    p_limit_kw: Vector


def within_rating(
    q_kvar: Vector,
    p_limit_kw: Vector,
    s_rated_kva: Vector,
    p_available_kw: Vector,
    priority: str,
) -> Dispatch:
    """Setpoints that keep min(available, limit)² + Q² ≤ S² for every inverter."""
    q = np.clip(q_kvar, -s_rated_kva, s_rated_kva)
    limit = np.minimum(p_limit_kw, s_rated_kva)
    if priority == REACTIVE:
        room = np.sqrt(np.maximum(s_rated_kva**2 - q**2, 0.0))
        return Dispatch(q, np.minimum(limit, room))
    if priority != ACTIVE:
        raise ValueError(f"unknown priority {priority!r}; known: {', '.join(PRIORITIES)}")
    produced = np.clip(np.minimum(p_available_kw, limit), 0.0, None)
    room = np.sqrt(np.maximum(s_rated_kva**2 - produced**2, 0.0))
    return Dispatch(np.clip(q, -room, room), limit)
