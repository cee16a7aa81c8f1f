"""The caller as the API sees it: subject, roles, party and areas of the bearer token. A user
interface asks this once after sign-in to show who is signed in and what to offer; what a
principal may do is still checked by every operation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from osed.api.auth import Caller
from osed.domain.identity import Principal


def create_router(*, caller: Caller, described: Any) -> APIRouter:
    router = APIRouter(tags=["identity"])
    who = Depends(caller)

    @router.get("/me", responses=described({200: "the caller: subject, roles, party, areas"}))
    async def me(principal: Principal = who) -> dict[str, Any]:
        return {
            "subject": principal.subject,
            "issuer": principal.issuer,
            "roles": sorted(role.value for role in principal.roles),
            "party": principal.party,
            "areas": sorted(principal.areas),
        }

    return router
