"""Enrolments are answered once stored: concurrent ones share commits, in the order they came;
one the store refuses leaves the EDC as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from osed.bus.memory import MemoryBus
from osed.domain.errors import NotFoundError
from osed.edge.manager import EdcManager
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.unit.edge import probe
from tests.unit.edge.conftest import Site


class CountingStore(SqliteEdcStateStore):
    """The SQLite store, counting its enrolment commits."""

    commits: list[int]

    def put_enrolments(self, edc_id: str, enrolments: Sequence[tuple[str, bytes]]) -> None:
        super().put_enrolments(edc_id, enrolments)
        self.commits.append(len(enrolments))


async def test_concurrent_enrolments_share_commits_and_all_resume(site: Site) -> None:
    bus = MemoryBus(site.broker)
    await bus.start()
    store = CountingStore(site.path)
    store.commits = []
    manager = EdcManager(
        bus,
        store,
        control_cycle=timedelta(hours=1),
        load_function=probe.load_function,
        function_names=probe.function_names,
    )
    await manager.start()
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k")
    await edc.assign("probe", {"limit_kw": 5})
    tokens = await asyncio.gather(*(edc.enrol(f"b{k}", None) for k in range(200)))
    # the same building twice at once: the later one wins in memory and in the store alike
    again = await asyncio.gather(edc.enrol("b0", ["probe"]), edc.enrol("b0", ["other"]))
    assert len(store.commits) < 100  # shared commits, not one each
    assert 201 <= sum(store.commits) <= 202  # b0's two may share one row in one commit
    assert edc.enrolment()["b0"] == ["other"]
    await manager.stop()
    await bus.stop()
    store.close()

    resumed = (await site.manager()).get("area-1")
    assert resumed.enrolment()["b0"] == ["other"]
    assert len(resumed.enrolment()) == 200
    users = resumed._functions["probe"].users
    assert users.is_enrolled("b1")
    assert not users.is_enrolled("b0")
    assert len(set(tokens) | set(again)) == 202


async def test_an_enrolment_the_store_refuses_leaves_the_edc_as_it_was(site: Site) -> None:
    manager = await site.manager()
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k")
    await edc.enrol("b1", None)
    with SqliteEdcStateStore(site.path) as behind:  # the EDC's record gone behind its back
        behind.remove("area-1")
    with pytest.raises(NotFoundError, match="no stored EDC 'area-1'"):
        await edc.enrol_many([("b2", None), ("b3", None)])
    assert edc.enrolment() == {"b1": None}
    await edc.unenrol("b1")  # a removal of what the store no longer has still applies
    assert edc.enrolment() == {}
