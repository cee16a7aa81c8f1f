"""Reading scenario files: every problem named with its JSON path, nothing materialised."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from osed.domain.errors import ValidationError
from osed.sim.scenario import bundled_scenario, load_scenario, load_study
from tests.unit.sim.scenario_documents import small_document


def problems_of(document: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        load_scenario(document)  # type: ignore[arg-type]
    return {p.path: p.code for p in caught.value.problems}


def test_the_bundled_scenarios_read() -> None:
    default = load_scenario(bundled_scenario("default"))
    small = load_scenario(bundled_scenario("small"))
    assert len(default.household_buses) == 100
    assert len(small.household_buses) == 10
    assert (default.steps, default.step_h) == (96, 0.25)
    assert default.market is not None
    assert default.market.interval_steps == 1
    assert [f.name for f in default.functions] == ["dac", "capacity-limit"]
    (event,) = default.events
    # 17:00 to 21:00 local (CEST) is 15:00 to 19:00 UTC, steps 68 to 84 from local midnight.
    assert (event.kind, event.element, event.start_step, event.end_step) == (
        "capacity_limit",
        "trafo",
        68,
        84,
    )


def test_a_bad_scenario_names_every_problem_with_its_path() -> None:
    document = small_document(
        resolution_min=7,  # 24 h is not a whole number of 7-minute steps, nor 15 min
        colour="blue",
        timezone="Mars/Olympus",
        market={"mechanism": "haggling", "interval_min": 15},
        functions=[{"name": "dac", "parameters": {"max_iterations": -3}}, {"name": "teleport"}],
        rules={"loading_trigger": 0.8, "loading_clear": 0.9},
        events=[
            {"kind": "capacity_limit", "element": "nowhere", "start_step": 10, "end_step": 5},
            {"kind": "meteor", "start_step": 1, "end_step": 2},
            {"kind": "xor_request", "start": "yesterday", "end_step": 50},
        ],
    )
    households = document["households"]
    households["shares"]["ev"] = 1.5
    households["shares"]["jacuzzi"] = 0.1
    households["battery"]["capacity_kwh"] = {"uniform": [10, 5]}
    households["ev"]["arrival_h"] = {"normal": {"mean": 18}}
    households["pv"]["kwp"] = {"poisson": 3}
    document["weather"]["clouds"]["cloudiness"] = 2
    document["tariffs"]["time_of_use"] = [0.2] * 23
    found = problems_of(document)
    assert found == {
        "$.colour": "unknown_field",
        "$.horizon_h": "not_aligned",
        "$.timezone": "unknown_timezone",
        "$.households.shares.jacuzzi": "unknown_field",
        "$.households.shares.ev": "too_large",
        "$.households.pv.kwp.poisson": "unknown_distribution",
        "$.households.battery.capacity_kwh.uniform": "inverted",
        "$.households.ev.arrival_h.normal.std": "missing",
        "$.weather.clouds.cloudiness": "too_large",
        "$.tariffs.time_of_use": "wrong_length",
        "$.market.mechanism": "unknown_mechanism",
        "$.market.interval_min": "not_aligned",
        "$.functions[0].parameters.max_iterations": "too_small",
        "$.functions[1].name": "unknown_function",
        "$.rules.overload": "no_hysteresis",
        "$.events[0].end_step": "before_start",
        "$.events[0].element": "unknown_element",
        "$.events[0].limit_kw": "missing",
        "$.events[1].kind": "unknown_kind",
        "$.events[2].start": "not_a_time",
        "$.events[2].request_kw": "missing",
        "$.events[2].prices": "missing",
    }


def test_event_times_must_fall_on_steps_within_the_horizon() -> None:
    document = small_document(
        events=[
            {"kind": "outage", "start": "2026-04-14T10:07:00Z", "end_step": 50},
            {"kind": "outage", "start_step": 3, "end": "2026-04-20T00:00:00Z"},
            {"kind": "outage", "start": "2026-04-14T10:00:00", "end_step": 50},
        ]
    )
    assert problems_of(document) == {
        "$.events[0].start": "not_aligned",
        "$.events[1].end": "out_of_range",
        "$.events[2].start": "not_a_time",  # no time zone
    }


def test_missing_fields_are_named() -> None:
    found = problems_of({"households": {"count": 3}})
    assert found == {
        "$.name": "missing",
        "$.seed": "missing",
        "$.start": "missing",
        "$.network": "missing",
        # without a generated network's coordinates the site must be given
        "$.weather.latitude": "missing",
        "$.weather.longitude": "missing",
    }


def test_a_household_count_must_match_the_generated_network() -> None:
    document = small_document()
    document["households"]["count"] = 11
    assert problems_of(document) == {"$.households.count": "conflict"}


def test_an_event_in_time_or_in_steps_is_the_same_event() -> None:
    by_time = small_document(
        events=[
            {
                "kind": "xor_request",
                "start": "2026-04-14T16:00:00Z",
                "end": "2026-04-14T17:00:00+00:00",
                "request_kw": 5,
                "prices": [0.1, 0.2],
            }
        ]
    )
    by_step = small_document(
        events=[
            {
                "kind": "xor_request",
                "start_step": 72,
                "end_step": 76,
                "request_kw": 5,
                "prices": [0.1, 0.2],
            }
        ]
    )
    assert load_scenario(by_time).events == load_scenario(by_step).events
    (event,) = load_scenario(by_step).events
    assert event.prices_per_kwh == (0.1, 0.2)
    assert event.element is None


def test_not_yaml_and_not_a_mapping_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    assert problems_of(broken) == {"$": "bad_yaml"}
    assert problems_of("- a list\n- not a scenario\n") == {"$": "not_object"}
    with pytest.raises(ValidationError) as caught:
        load_study(tmp_path / "absent.yaml")
    assert caught.value.problems[0].code == "not_found"


def test_an_imported_network_takes_households_at_its_load_buses() -> None:
    document = small_document(network={"pandapower": "create_cigre_network_lv"})
    document["households"].pop("count", None)
    document["events"] = []
    scenario = load_scenario(document)
    network = scenario.network
    loads = network.table("sym_load")
    load_buses = {network.external_ids[n] for n in loads["node"]}
    assert set(scenario.household_buses) == load_buses
    assert len(scenario.household_buses) == len(load_buses)
    # The network's own loads are out of service: the households replace them.
    assert (loads["status"] == 0).all()


def test_an_unknown_pandapower_network_is_named_at_its_path() -> None:
    document = small_document(network={"pandapower": "create_cigre_network_xx"})
    found = problems_of(document)
    assert found["$.network.pandapower"] == "unknown_constructor"


def test_a_network_file_is_found_beside_the_scenario_file(tmp_path: Path) -> None:
    import pandapower as pp
    from pandapower import networks

    pp.to_json(networks.create_cigre_network_lv(), str(tmp_path / "cigre-lv.json"))
    document = small_document(network={"pandapower": "cigre-lv.json"}, events=[])
    document["households"].pop("count", None)
    (tmp_path / "area.yaml").write_text(yaml.safe_dump(document))
    scenario = load_scenario(tmp_path / "area.yaml")
    assert scenario.network.source.endswith("cigre-lv.json")
    assert len(scenario.household_buses) > 0


def test_a_cgmes_model_takes_households_at_its_loads() -> None:
    from importlib.resources import files

    import cimpy

    model = Path(str(files(cimpy))) / "examples" / "sampledata" / "CIGRE_MV"
    document = small_document(network={"cgmes": str(model)}, events=[])
    document["households"]["count"] = 30
    study = load_study(document)
    buses = {h.bus for h in study.households}
    assert len(study.households) == 30
    assert all(study.network.kind(bus) == "node" for bus in buses)


def test_bad_areas_mv_feeders_and_edc_mode_are_named_with_their_paths() -> None:
    document = small_document(edge={"edcs": "everywhere"})
    document["network"]["generated"].update(areas=11, mv_feeders=0)
    assert problems_of(document) == {
        "$.network.generated.mv_feeders": "too_small",
        "$.edge.edcs": "unknown_mode",
    }
    document["network"]["generated"].update(areas=11, mv_feeders=2)
    assert problems_of(document) == {
        "$.network.generated.areas": "too_many",  # 11 areas for 10 households
        "$.edge.edcs": "unknown_mode",
    }
    document = small_document(edge={"edcs": "areas", "forecast_h": -1})
    assert problems_of(document) == {"$.edge.forecast_h": "too_small"}
    document = small_document(edge={"edcs": "areas", "brokers": 3})
    document["network"]["generated"].update(areas=5, mv_feeders=6)
    assert problems_of(document) == {
        "$.network.generated.mv_feeders": "too_many",
        "$.edge.brokers": "unknown_field",
    }
    document = small_document()
    document["network"]["generated"].update(areas=2.5)
    assert problems_of(document) == {"$.network.generated.areas": "not_an_integer"}


def test_the_edc_mode_reaches_the_study() -> None:
    assert load_study(small_document()).edcs == "areas"
    document = small_document(edge={"edcs": "intelligence"})
    document["network"]["generated"].update(areas=2)
    document["events"][0]["element"] = "a2-trafo"
    study = load_study(document)
    assert study.edcs == "intelligence"
    assert study.forecast_h == 0.0
    document["edge"]["forecast_h"] = 1.5
    assert load_study(document).forecast_h == 1.5
    assert {h.bus.split("-")[0] for h in study.households} == {"a1", "a2"}
