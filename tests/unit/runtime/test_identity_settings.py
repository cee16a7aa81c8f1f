"""The identity settings: checked at start, made into the validator of the right issuer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from osed.domain.errors import ValidationError
from osed.domain.identity import Role
from osed.identity.discovery import OidcJwksSource
from osed.identity.local_issuer import LocalJwksSource
from osed.runtime.identity import key_file_path, local_issuer, token_validator
from osed.runtime.settings import Settings, load_settings


def test_bad_identity_settings_are_named_with_their_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text(
        "identity:\n  issuer: keycloak.example/realms/grid\n  algorithms: [RS256, HS256]\n"
        "  leeway_s: -1\n  key_algorithm: none\n"
    )
    monkeypatch.delenv("OSED_CONFIG", raising=False)
    with pytest.raises(ValidationError) as info:
        load_settings(config)
    assert {(p.path, p.code) for p in info.value.problems} == {
        ("$.identity.issuer", "string_pattern_mismatch"),
        ("$.identity.algorithms[1]", "literal_error"),
        ("$.identity.leeway_s", "greater_than_equal"),
        ("$.identity.key_algorithm", "literal_error"),
    }


def test_without_an_issuer_the_local_issuer_vouches(tmp_path: Path) -> None:
    settings = Settings(identity={"leeway_s": 5, "audience": "grid-api"}, api={"port": 9090})
    path = key_file_path(settings.identity, tmp_path)
    assert path == tmp_path / "identity" / "signing-keys.json"
    validator = token_validator(settings, tmp_path)
    assert isinstance(validator.keys.source, LocalJwksSource)
    assert validator.rules.issuer == "http://127.0.0.1:9090"  # named after the API's URL
    assert validator.rules.leeway.total_seconds() == pytest.approx(5.0)
    token = local_issuer(settings, tmp_path).issue(
        subject="ops", audience="grid-api", roles=[Role.ADMIN]
    )
    assert asyncio.run(validator.principal(token.access_token)).has(Role.OPERATOR)


def test_an_issuer_url_selects_its_discovery(tmp_path: Path) -> None:
    settings = Settings(
        identity={
            "issuer": "https://keycloak.example/realms/grid",
            "algorithms": ["RS256"],
            "key_file": tmp_path / "k",
        }
    )
    validator = token_validator(settings, tmp_path)
    assert isinstance(validator.keys.source, OidcJwksSource)
    assert validator.rules.issuer == "https://keycloak.example/realms/grid"
    assert validator.rules.algorithms == {"RS256"}
    assert key_file_path(settings.identity, tmp_path) == tmp_path / "k"


def test_api_open_names_its_new_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "osed.yaml"
    config.write_text("api:\n  open: true\n")
    monkeypatch.delenv("OSED_CONFIG", raising=False)
    with pytest.raises(ValidationError) as info:
        load_settings(config)
    [problem] = info.value.problems
    assert (problem.path, problem.code) == ("$.api.open", "moved")
    assert "identity.open" in problem.message
