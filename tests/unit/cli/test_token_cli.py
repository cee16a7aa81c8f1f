"""``osed token create`` and ``osed token rotate`` run as a user runs them; the printed token is
then checked by the validator the API builds from the same settings."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from osed.domain.identity import Principal, Role
from osed.identity.errors import TokenRefusedError
from osed.runtime.identity import token_validator
from osed.runtime.settings import Settings
from tests.unit.cli.terminal import on_terminal, piped

ENV = {"OSED_CONFIG": "", "OSED_IDENTITY__AUDIENCE": "osed-test"}
API_URL = "http://127.0.0.1:8080"


def _validate(token: str, state_dir: Path) -> Principal:
    validator = token_validator(Settings(identity={"audience": "osed-test"}), state_dir)
    return asyncio.run(validator.principal(token))


def test_create_prints_one_json_token_response_the_api_accepts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = piped(
        "token", "create", "--role", "participant", "--role", "viewer", "--subject", "alice",
        "--party", "alice-energy", "--ttl", "600", "--state-dir", str(state), env=ENV,
    )  # fmt: skip
    assert run.code == 0, run.err
    answer = run.json()  # standard output parsed whole
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 600
    assert answer["audience"] == "osed-test"
    assert answer["issuer"] == API_URL  # the API's URL, as no local_issuer is set
    assert answer["roles"] == ["participant", "viewer"]
    key_file = state / "identity" / "signing-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    principal = _validate(answer["access_token"], state)
    assert principal == Principal(
        subject="alice",
        roles=frozenset({Role.PARTICIPANT, Role.VIEWER}),
        party="alice-energy",
        issuer=API_URL,
    )


def test_rotate_signs_with_a_new_key_and_keeps_the_old_one_verifying(tmp_path: Path) -> None:
    state = str(tmp_path)
    base = ("--subject", "op", "--role", "operator", "--state-dir", state)
    before = piped("token", "create", *base, env=ENV).json()
    rotated = piped("token", "rotate", "--state-dir", state, env=ENV)
    assert rotated.code == 0, rotated.err
    kids = rotated.json()
    assert kids["jwks"] == [kids["kid"], before["kid"]]
    after = piped("token", "create", *base, env=ENV).json()
    assert after["kid"] == kids["kid"] != before["kid"]
    for answer in (before, after):
        assert _validate(answer["access_token"], tmp_path).roles == {Role.OPERATOR}
    assert piped("token", "rotate", "--grace", "0", "--state-dir", state, env=ENV).code == 0
    with pytest.raises(TokenRefusedError, match="unknown_kid"):
        _validate(after["access_token"], tmp_path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--role", "participant", "--subject", "p"), "$.party: a participant needs --party"),
        (("--role", "grid-manager", "--subject", "g"), "$.areas: a grid manager needs"),
        (("--role", "viewer", "--subject", "v", "--ttl", "0"), "$.ttl: --ttl must be"),
    ],
)
def test_a_bad_request_prints_nothing_and_writes_no_key(
    arguments: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    run = piped("token", "create", *arguments, "--state-dir", str(tmp_path), env=ENV)
    assert run.code == 2
    assert run.out == ""
    assert message in run.err
    assert not (tmp_path / "identity").exists()


def test_an_external_issuer_refuses_local_tokens(tmp_path: Path) -> None:
    env = {**ENV, "OSED_IDENTITY__ISSUER": "https://keycloak.example/realms/grid"}
    arguments = ("--role", "admin", "--subject", "a", "--state-dir", str(tmp_path))
    run = piped("token", "create", *arguments, env=env)
    assert run.code == 1
    assert run.out == ""
    assert "identity.issuer is https://keycloak.example/realms/grid" in run.err


def test_on_a_terminal_the_fields_are_listed(tmp_path: Path) -> None:
    run = on_terminal(
        "token", "create", "--role", "admin", "--subject", "root", "--state-dir", str(tmp_path)
    )
    assert run.code == 0
    assert "access_token" in run.out
    assert "root" in run.out
