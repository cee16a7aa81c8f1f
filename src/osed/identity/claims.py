"""The principal a verified access token names, read from its claims.

Roles come from three places, merged: a plain ``roles`` claim (OSED's local issuer, most
providers' role mappers), Keycloak's realm roles (``realm_access.roles``) and Keycloak's
client roles of OSED's audience (``resource_access.<audience>.roles``). Names that are not an
OSED role (``offline_access``, ``default-roles-…``) are ignored. A participant's market party
is the ``party`` claim, a grid manager's electric areas the ``areas`` claim (an array, or one
string). A claim of the wrong shape refuses the token rather than guess what it meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osed.domain.identity import Principal, Role
from osed.identity.errors import TokenRefusedError

_ROLES = {role.value: role for role in Role}


def principal_from_claims(claims: Mapping[str, Any], *, audience: str) -> Principal:
    """The principal of verified ``claims`` (``sub`` and ``iss`` already checked)."""
    names = _strings(claims.get("roles"), "$.roles", allow_single=True)
    realm = _member(claims, "realm_access", "$.realm_access")
    names += _strings(realm.get("roles"), "$.realm_access.roles")
    clients = _member(claims, "resource_access", "$.resource_access")
    path = f"$.resource_access[{audience!r}]"
    client = _member(clients, audience, path)
    names += _strings(client.get("roles"), f"{path}.roles")
    party = claims.get("party")
    if party is not None and (not isinstance(party, str) or not party):
        raise TokenRefusedError("bad_claim", "$.party must be a non-empty string")
    areas = _strings(claims.get("areas"), "$.areas", allow_single=True)
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(_ROLES[name] for name in names if name in _ROLES),
        party=party,
        areas=frozenset(areas),
        issuer=str(claims["iss"]),
    )


def _member(claims: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
    value = claims.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TokenRefusedError("bad_claim", f"{path} must be a JSON object")
    return value


def _strings(value: Any, path: str, *, allow_single: bool = False) -> list[str]:
    if value is None:
        return []
    if allow_single and isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        shape = "an array of non-empty strings" + (" or one string" if allow_single else "")
        raise TokenRefusedError("bad_claim", f"{path} must be {shape}")
    return list(value)
