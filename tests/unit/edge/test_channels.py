"""Each function's user manager lets through only enrolled buildings with their own token,
declared message types within their size; everything else is dead-lettered with its reasons
and never reaches the function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.edge.manager import EdcManager
from tests.unit.edge.conftest import Field, Site, eventually
from tests.unit.edge.probe import RESPONSE_MAX_BYTES

IN = "edc/area-1/probe/in"


async def area_with_two_buildings(site: Site) -> tuple[EdcManager, dict[str, str]]:
    manager = await site.manager()
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k1")
    await edc.assign("probe", {"limit_kw": 50})
    tokens = {b: await edc.enrol(b, None) for b in ("b1", "b2")}
    return manager, tokens


def responses(manager: EdcManager) -> dict[str, Any]:
    status = manager.get("area-1").function_status("probe")
    return dict(status["status"]["responses"])


async def test_an_enrolled_building_with_its_token_reaches_the_function(
    site: Site, field: Field
) -> None:
    manager, tokens = await area_with_two_buildings(site)
    message = {"building": "b1", "token": tokens["b1"], "type": "response", "body": {"kw": 4.5}}
    await field.send(IN, message)
    await eventually(lambda: responses(manager) == {"b1": 4.5})
    assert field.on("dead-letter/") == []


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"building": "b1", "token": "forged", "type": "response", "body": {}}, "wrong_token"),
        ({"building": "b9", "token": "x", "type": "response", "body": {}}, "not_enrolled"),
        ({"building": "b1", "token": "<b1>", "type": "bid", "body": {}}, "undeclared_type"),
        (
            {"building": "b1", "token": "<b1>", "type": "response", "body": {"pad": "x" * 400}},
            "too_large",
        ),
        ({"building": "b1", "type": "response"}, "missing"),
    ],
)
async def test_a_rejected_message_is_dead_lettered_and_never_reaches_the_function(
    site: Site, field: Field, message: dict[str, Any], code: str
) -> None:
    manager, tokens = await area_with_two_buildings(site)
    if message.get("token") == "<b1>":
        message["token"] = tokens["b1"]
    await field.send(IN, message)
    await eventually(lambda: len(field.on("dead-letter/")) == 1)
    letter = field.on("dead-letter/edc/area-1/probe/in")[0]
    assert code in {p["code"] for p in letter["problems"]}
    assert tokens["b1"] not in str(letter)  # the dead letter never carries a token
    assert responses(manager) == {}
    assert manager.get("area-1").function_status("probe")["messages"] == {
        "accepted": 0,
        "rejected": 1,
    }


async def test_every_reason_is_named_at_once(site: Site, field: Field) -> None:
    await area_with_two_buildings(site)
    await field.send(IN, {"building": "b1", "token": "forged", "type": "bid", "body": {}})
    await eventually(lambda: len(field.on("dead-letter/")) == 1)
    codes = {p["code"] for p in field.on("dead-letter/")[0]["problems"]}
    assert codes == {"wrong_token", "undeclared_type"}


async def test_an_oversized_message_is_refused_unread(site: Site, field: Field) -> None:
    await area_with_two_buildings(site)
    await field.send(IN, b"{" + b" " * (RESPONSE_MAX_BYTES * 20) + b"}")
    await eventually(lambda: len(field.on("dead-letter/")) == 1)
    assert [p["code"] for p in field.on("dead-letter/")[0]["problems"]] == ["too_large"]


async def test_a_building_on_another_functions_channel_is_not_enrolled_there(
    site: Site, field: Field
) -> None:
    manager, tokens = await area_with_two_buildings(site)
    other, _ = await manager.create("area-2", "trafo-8", idempotency_key="k2")
    await other.assign("probe", {"limit_kw": 10})
    await field.send(
        "edc/area-2/probe/in",
        {"building": "b1", "token": tokens["b1"], "type": "response", "body": {"kw": 1}},
    )
    await eventually(lambda: len(field.on("dead-letter/")) == 1)
    assert field.on("dead-letter/edc/area-2/probe/in")[0]["problems"][0]["code"] == ("not_enrolled")
    assert other.function_status("probe")["status"]["responses"] == {}


async def test_reports_make_the_area_aggregate(site: Site, field: Field) -> None:
    manager, tokens = await area_with_two_buildings(site)
    for building, demand, production in (("b1", 5.0, 1.5), ("b2", 3.0, 0.0)):
        body = {"demand_kw": demand, "production_kw": production, "flexibility_down_kw": 1.0}
        await field.send(
            IN, {"building": building, "token": tokens[building], "type": "report", "body": body}
        )
    await eventually(lambda: manager.get("area-1").aggregate()["reporting"] == 2)
    aggregate = manager.get("area-1").aggregate()
    assert aggregate["demand_kw"] == pytest.approx(8.0)
    assert aggregate["production_kw"] == pytest.approx(1.5)
    assert aggregate["net_kw"] == pytest.approx(6.5)
    assert aggregate["flexibility_down_kw"] == pytest.approx(2.0)
    assert aggregate["buildings"] == 2


async def test_a_report_with_a_bad_value_is_rejected(site: Site, field: Field) -> None:
    manager, tokens = await area_with_two_buildings(site)
    body = {"demand_kw": -1, "watts": 3}
    await field.send(IN, {"building": "b1", "token": tokens["b1"], "type": "report", "body": body})
    await eventually(lambda: len(field.on("dead-letter/")) == 1)
    paths = {p["path"] for p in field.on("dead-letter/")[0]["problems"]}
    assert paths == {"$.body.demand_kw", "$.body.watts"}
    assert manager.get("area-1").aggregate()["reporting"] == 0


async def test_requests_go_to_each_enrolled_building_and_overdue_ones_are_asked_again(
    site: Site, field: Field
) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    manager = await site.manager(clock=clock, response_deadline=timedelta(seconds=30))
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k1")
    await edc.assign("probe", {"limit_kw": 50})
    tokens = {b: await edc.enrol(b, ["probe"]) for b in ("b1", "b2")}
    await edc.tick()  # the first tick asks the buildings enrolled after the start
    await eventually(lambda: len(field.on("edc/area-1/probe/out/")) == 2)
    await field.send(
        IN, {"building": "b1", "token": tokens["b1"], "type": "response", "body": {"kw": 2}}
    )
    await eventually(lambda: responses(manager) == {"b1": 2})
    clock.advance(timedelta(seconds=31))
    before = len(field.on("edc/area-1/probe/out/b2"))
    await edc.tick()
    await eventually(lambda: len(field.on("edc/area-1/probe/out/b2")) == before + 1)
    assert len(field.on("edc/area-1/probe/out/b1")) == 1  # it answered: not asked again
    assert field.on("edc/area-1/probe/out/b2")[-1]["type"] == "request"


async def test_a_building_enrolled_first_takes_part_from_the_start_of_its_functions(
    site: Site, field: Field
) -> None:
    manager = await site.manager()
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k1")
    await edc.enrol("b1", None)
    await edc.enrol("b2", ["dlc"])
    await edc.assign("probe", {"limit_kw": 50})
    await eventually(lambda: len(field.on("edc/area-1/probe/out/")) == 1)
    assert field.on("edc/area-1/probe/out/b1")[0]["body"] == {"limit_kw": 50.0}
    assert edc.function_status("probe")["buildings"] == ["b1"]
    assert manager.get("area-1").enrolment() == {"b1": None, "b2": ["dlc"]}


async def test_a_bad_enrolment_names_every_problem_and_changes_nothing(site: Site) -> None:
    manager = await site.manager()
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k1")
    with pytest.raises(ValidationError) as caught:
        await edc.enrol("b/1", ["probe", "no such/function"])
    assert [p.path for p in caught.value.problems] == ["$.building_id", "$.functions[1]"]
    assert edc.enrolment() == {}


async def test_a_failing_function_is_reported_and_the_edc_goes_on(site: Site, field: Field) -> None:
    manager, tokens = await area_with_two_buildings(site)
    await field.send(
        IN, {"building": "b1", "token": tokens["b1"], "type": "response", "body": {"boom": 1}}
    )
    await field.send(
        IN, {"building": "b2", "token": tokens["b2"], "type": "response", "body": {"kw": 1}}
    )
    await eventually(lambda: responses(manager) == {"b2": 1})
    status = manager.get("area-1").function_status("probe")
    assert status["last_error"] == "RuntimeError: the probe broke"


async def test_an_unreadable_stored_edc_is_left_and_the_others_resume(site: Site) -> None:
    manager = await site.manager()
    await manager.create("area-1", "trafo-7", idempotency_key="k1")
    await site.stop(manager)
    from osed.storage.edc_sqlite import SqliteEdcStateStore

    with SqliteEdcStateStore(site.path) as store:
        store.put("area-0", b"{not json")
    restarted = await site.manager()
    assert [edc.edc_id for edc in restarted.edcs()] == ["area-1"]


async def test_the_control_cycle_ticks_every_session_on_its_own(site: Site) -> None:
    manager = await site.manager(control_cycle=timedelta(milliseconds=20))
    edc, _ = await manager.create("area-1", "trafo-7", idempotency_key="k1")
    await edc.assign("probe", {"limit_kw": 5})
    await eventually(lambda: edc.function_status("probe")["status"]["ticks"] >= 3)
