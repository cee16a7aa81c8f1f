from pathlib import Path

import pytest

from osed.domain.errors import ValidationError
from osed.runtime.settings import load_settings


def test_defaults_are_the_embedded_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSED_CONFIG", raising=False)
    settings = load_settings()
    assert (settings.bus.backend, settings.storage.backend) == ("memory", "sqlite")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text(
        "bus:\n  backend: nats\n  mqtt:\n    port: 1999\nstorage:\n  backend: postgres\n"
    )
    monkeypatch.setenv("OSED_CONFIG", str(config))
    monkeypatch.setenv("OSED_BUS__BACKEND", "mqtt")
    settings = load_settings()
    assert settings.bus.backend == "mqtt"
    assert settings.bus.mqtt.port == 1999
    assert settings.storage.backend == "postgres"


def test_every_problem_is_named_with_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text(
        "bus:\n  mqtt:\n    port: 70000\n    colour: blue\nmarket:\n  currency: euro\n"
    )
    monkeypatch.setenv("OSED_STORAGE__BACKEND", "oracle")
    with pytest.raises(ValidationError) as info:
        load_settings(config)
    paths = {(p.path, p.code) for p in info.value.problems}
    assert paths == {
        ("$.bus.mqtt.port", "less_than_equal"),
        ("$.bus.mqtt.colour", "extra_forbidden"),
        ("$.market.currency", "string_pattern_mismatch"),
        ("$.storage.backend", "literal_error"),
    }


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text("bus:\n  backend: [memory\nstorage: {}\n")
    with pytest.raises(ValidationError, match=r"line \d+ column \d+"):
        load_settings(config)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unreadable_file"):
        load_settings(tmp_path / "absent.yaml")


def test_the_field_broker_keeps_its_client_id_when_another_field_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSED_BRIDGE__FIELD__HOST", "field.example")
    field = load_settings(None).bridge.field
    assert (field.host, field.client_id) == ("field.example", "osed-bridge-field")
