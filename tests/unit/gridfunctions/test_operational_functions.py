"""dlc, capacity-limit, volt-var and cold-load-pickup as plugins: found by name, documents
that are not objects or are empty rejected with their paths, and every message a session sends
or reads declared in its manifest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.registry import function_names, load_function
from osed.gridfunctions.spec import AreaView, Inbound, Session

NAMES = ("dlc", "capacity-limit", "volt-var", "cold-load-pickup")
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_functions_are_found_through_their_entry_points() -> None:
    assert set(NAMES) <= set(function_names())
    for name in NAMES:
        manifest = load_function(name).manifest
        assert manifest.name == name
        assert manifest.version == "1.0.0"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("document", [None, [], "text", 3])
def test_a_document_that_is_not_an_object_is_rejected_at_the_root(
    name: str, document: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        load_function(name).run(document)
    assert [(p.path, p.code) for p in caught.value.problems] == [("$", "not_object")]


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        (
            "dlc",
            {
                "$.steps",
                "$.step_h",
                "$.outdoor_c",
                "$.offset_k",
                "$.start_step",
                "$.end_step",
                "$.buildings",
            },
        ),
        ("capacity-limit", {"$.import_limit_kw", "$.buildings"}),
        ("volt-var", {"$.voltages_pu", "$.inverters"}),
        (
            "cold-load-pickup",
            {"$.outage_h", "$.horizon_h", "$.peak_limit_kw", "$.outdoor_c", "$.loads"},
        ),
    ],
)
def test_an_empty_document_names_every_required_field(name: str, missing: set[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        load_function(name).run({})
    assert {p.path for p in caught.value.problems} == missing


# The messages each session's tests see it exchange.
EXCHANGED = {
    "dlc": (("flexibility_request", "setpoint_offset", "restore"), ("flexibility", "consumption")),
    "capacity-limit": (("flexibility_request", "limit", "release"), ("flexibility",)),
    "volt-var": (("setpoint", "release"), ("inverter",)),
    "cold-load-pickup": (("hold", "enable"), ("load",)),
}


@pytest.mark.parametrize("name", NAMES)
def test_sessions_exchange_only_declared_messages(name: str) -> None:
    function = load_function(name)
    manifest = function.manifest
    outbound, inbound = EXCHANGED[name]
    for message_type in outbound:
        assert manifest.message(message_type, "outbound") is not None
    for message_type in inbound:
        assert manifest.message(message_type, "inbound") is not None
    declared = {(m.name, m.direction) for m in manifest.messages}
    assert declared == {(m, "outbound") for m in outbound} | {(m, "inbound") for m in inbound}
    required = {
        "capacity-limit": {"import_limit_kw": 10},
        "cold-load-pickup": {"peak_limit_kw": 10},
    }
    parameters = manifest.check_parameters(required.get(name, {}))
    area = AreaView("area", NOW, ("b1", "b2"), {"building_kw": {"b1": 4.0, "b2": 8.0}})
    session = function.open(parameters, area)
    for sent in session.start(area) + session.on_tick(area) + session.close(area):
        assert sent.message_type in outbound


@pytest.mark.parametrize("name", NAMES)
def test_status_and_snapshot_are_strict_json_and_resume_after_a_json_round_trip(name: str) -> None:
    function = load_function(name)
    required = {
        "capacity-limit": {"import_limit_kw": 10},
        "cold-load-pickup": {"peak_limit_kw": 10},
    }
    parameters = function.manifest.check_parameters(required.get(name, {}))
    state = {"building_kw": {"b1": 4.0, "b2": 8.0}, "voltages_pu": {"n1": 1.07}}
    area = AreaView("area", NOW, ("b1", "b2"), state)
    session = function.open(parameters, area)
    assert isinstance(session, Session)
    session.start(area)
    inbound = {
        "dlc": ("flexibility", {"available_kw": 1.0}),
        "capacity-limit": ("flexibility", {"min_kw": 1.0, "max_kw": 5.0}),
        "volt-var": ("inverter", {"inverter_id": "pv", "node": "n1", "s_rated_kva": 5}),
        "cold-load-pickup": ("load", {"power_kw": 3.0}),
    }[name]
    session.on_message(Inbound("b1", inbound[0], inbound[1], NOW), area)
    later = AreaView("area", NOW + timedelta(seconds=90), ("b1", "b2"), state)
    session.on_tick(later)
    stored = json.dumps(session.snapshot(), allow_nan=False)
    json.dumps(session.status(), allow_nan=False)
    resumed = function.open(parameters, later, resume=json.loads(stored))
    assert resumed.status() == session.status()
    assert resumed.snapshot() == json.loads(stored)
