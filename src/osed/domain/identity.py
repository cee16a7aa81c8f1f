"""Who is calling: the principal an access token names, and the roles OSED knows.

A token's validator (``osed.identity``) turns a bearer token into a :class:`Principal`; every
API decides what the principal may read or change from its roles and the rows it owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a principal may do, broadest first."""

    ADMIN = "admin"
    """Everything, every party's and every area's rows."""
    OPERATOR = "operator"
    """The grid operator: runs EDCs, optimisations and studies everywhere, reads everything."""
    GRID_MANAGER = "grid-manager"
    """An ADMS, DERMS, aggregator or VPP: the EDCs of its own areas only."""
    PARTICIPANT = "participant"
    """A market party: its own tenders, transactions, positions, buildings and devices."""
    VIEWER = "viewer"
    """Reads what is not a party's own (network, estimates, prices); changes nothing."""


@dataclass(frozen=True)
class Principal:
    """The caller an access token names.

    ``party`` is the market party a participant acts for (its tenders, positions, buildings);
    ``areas`` the electric areas a grid manager runs. Both are empty for roles that do not
    own rows.
    """

    subject: str
    roles: frozenset[Role]
    party: str | None = None
    areas: frozenset[str] = field(default_factory=frozenset)
    issuer: str = ""

    def has(self, *roles: Role) -> bool:
        """Does the principal hold any of ``roles`` (admin holds them all)?"""
        return Role.ADMIN in self.roles or any(role in self.roles for role in roles)

    @property
    def sees_every_party(self) -> bool:
        """May it read other parties' market rows (tenders, positions, buildings)?"""
        return self.has(Role.OPERATOR)

    def owns_party(self, party: str) -> bool:
        """May it read and change ``party``'s rows?"""
        return self.sees_every_party or (self.party is not None and self.party == party)

    def runs_area(self, area: str) -> bool:
        """May it change the EDCs of ``area``?"""
        return self.has(Role.OPERATOR) or (Role.GRID_MANAGER in self.roles and area in self.areas)


ANONYMOUS = Principal(subject="anonymous", roles=frozenset({Role.ADMIN}))
"""The principal of a request when a setting opens the API (no token asked for)."""
