"""What a principal may do, checked where a request is served: every API's handlers ask
:func:`permit` before they read or change rows, whatever a user interface shows."""

from __future__ import annotations

from osed.domain.errors import PermissionDeniedError
from osed.domain.identity import ANONYMOUS, Principal, Role

READERS = (Role.VIEWER, Role.PARTICIPANT, Role.GRID_MANAGER, Role.OPERATOR)
"""Every role reads what is no party's own (the network, estimates, prices, EDCs, jobs)."""


def permit(principal: Principal, *roles: Role, to: str) -> Principal:
    """``principal`` when it holds one of ``roles`` (admin holds them all); otherwise
    :class:`PermissionDeniedError` naming what it may not do and the roles that may."""
    if not principal.has(*roles):
        names = ", ".join(role.value for role in roles)
        raise PermissionDeniedError(f"{principal.subject} may not {to}: that needs {names}")
    return principal


async def anonymous() -> Principal:
    """The caller of a service that asks for no token (each service on its own, as before
    the platform API): :data:`ANONYMOUS`, which may do everything."""
    return ANONYMOUS
