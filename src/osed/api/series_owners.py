"""Whose a time series is, from the first levels of its id (docs/api.md, "Series of a party"):

- ``party/<party>/…``: that party's;
- ``building/<building>/…``: the party's the building belongs to (as the API's building
  agents say); a building the API does not know, or one of no party, is the operators' only;
- any other id: the network's, read by every role.

A party's series is read by that party's participants, operators and admins; to anybody else
it does not exist (it is neither listed nor found).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from osed.domain.identity import Principal

PARTY_ROOT = "party"
BUILDING_ROOT = "building"


@dataclass(frozen=True, slots=True)
class Owned:
    """A series that is a party's; ``party`` None: nobody's but the operators'."""

    party: str | None


class SeriesOwners:
    def __init__(self, buildings: Mapping[str, str | None]) -> None:
        """``buildings``: building id -> the party it belongs to (None: none)."""
        self.buildings = dict(buildings)

    def owner(self, series_id: str) -> Owned | None:
        """Whose ``series_id`` is; None for the network's."""
        root, _, rest = series_id.partition("/")
        name = rest.partition("/")[0]
        if root == PARTY_ROOT:
            return Owned(name or None)
        if root == BUILDING_ROOT:
            return Owned(self.buildings.get(name) if name else None)
        return None

    def readable(self, principal: Principal, series_id: str) -> bool:
        """May ``principal`` (a reader of series) read ``series_id``?"""
        owned = self.owner(series_id)
        if owned is None:
            return True
        if owned.party is None:
            return principal.sees_every_party
        return principal.owns_party(owned.party)
