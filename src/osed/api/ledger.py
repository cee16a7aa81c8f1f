"""The ledger's head (the anchor to keep elsewhere) and its verification: the hash chains of
entries and trace, the head and the positions against the entries (docs/ledger.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from osed.api.auth import Caller
from osed.domain.access import READERS, permit
from osed.domain.identity import Principal, Role
from osed.ledger.verify import verify_store
from osed.ports.ledger import LedgerStore


def create_router(ledger: LedgerStore, *, caller: Caller, described: Any) -> APIRouter:
    router = APIRouter(tags=["ledger"])
    who = Depends(caller)

    @router.get(
        "/ledger", responses=described({200: "the head: entry count and the last entry's hash"})
    )
    async def head(principal: Principal = who) -> dict[str, Any]:
        permit(principal, *READERS, to="read the ledger's head")
        found = ledger.head()
        return {
            "entries": found.count,
            "last_hash": found.last_hash.hex(),
            "head": found.to_text(),
            "links": {"verification": "/api/v1/ledger/verification"},
        }

    @router.get(
        "/ledger/verification",
        responses=described({200: "the verification: ok, or the first entry found altered"}),
    )
    async def verification(principal: Principal = who) -> dict[str, Any]:
        permit(principal, Role.OPERATOR, to="verify the ledger")
        return verify_store(ledger).to_dict()

    return router
