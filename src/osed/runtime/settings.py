"""Settings: environment variables (``OSED_`` prefix, ``__`` between levels) over an optional
YAML file, validated at start. They pick the backends; nothing else does.

``OSED_BUS__BACKEND=mqtt`` sets ``bus.backend``; ``OSED_CONFIG=/etc/osed.yaml`` names the file.
Every problem is reported at once with its path (``$.bus.mqtt.port``), as a ValidationError.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from osed.domain.errors import Problem, ValidationError
from osed.grid.stats import DEFAULT_STATS
from osed.grid_services.stats_service import (
    field_problem,
    pattern_problem,
    series_template_problem,
    topic_template_problem,
)

SUBJECT = "settings"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str = "osed"
    username: str | None = None
    password: SecretStr | None = None
    tls_ca_file: Path | None = None


class NatsSettings(_Section):
    servers: list[str] = ["nats://127.0.0.1:4222"]
    stream: str = "OSED"


class BusSettings(_Section):
    backend: Literal["memory", "mqtt", "nats"] = "memory"
    mqtt: MqttSettings = MqttSettings()
    nats: NatsSettings = NatsSettings()


class StorageSettings(_Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path = Path("osed.sqlite")
    postgres_dsn: SecretStr | None = None


class MarketSettings(_Section):
    market_id: str = "market"
    mechanism: str = "double-auction"
    pricing: Literal["gridlabd", "pay-as-clear", "pay-as-bid"] = "gridlabd"
    price_cap: float | None = Field(1.0, gt=0)
    price_scale: int = Field(4, ge=-18, le=18)
    quantity_scale: int = Field(3, ge=-18, le=18)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    interval_minutes: int = Field(15, ge=1, le=1440)


class HealthSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=0, le=65535)


class BridgeSettings(_Section):
    """The MQTT bridge: its pipelines file, and the broker the field devices publish to."""

    pipelines_file: Path | None = None
    field: MqttSettings = MqttSettings(client_id="osed-bridge-field")


def _checked(problem: Callable[[str], str | None]) -> AfterValidator:
    """A pydantic validator from a function that says what is wrong with a value (or None)."""

    def check(value: str) -> str:
        message = problem(value)
        if message is not None:
            raise ValueError(message)
        return value

    return AfterValidator(check)


class StatsSettings(_Section):
    """The statistics service (docs/grid-stats.md): basicstats of the measurements on
    ``inputs`` per ``period_s`` window, published on ``output_topic`` and, with ``store``,
    written to the time-series store under ``series``."""

    name: str = Field("stats", pattern=r"^[^/+#\x00-\x1f]+$")
    period_s: float = Field(60.0, ge=1e-6, le=366 * 86400)
    lateness_s: float = Field(0.0, ge=0, le=366 * 86400)
    idle_s: float | None = Field(None, gt=0)
    inputs: Annotated[list[Annotated[str, _checked(pattern_problem)]], Field(min_length=1)] = [
        "bal/processed"
    ]
    output_topic: Annotated[str, _checked(topic_template_problem)] = "bal/stats/{device}"
    fields: Annotated[list[Annotated[str, _checked(field_problem)]], Field(min_length=1)] = list(
        DEFAULT_STATS
    )
    store: bool = True
    series: Annotated[str, _checked(series_template_problem)] = (
        "{device}/{component}/{measurand}/{phase}"
    )
    dead_letter_prefix: str = Field("dead-letter", pattern=r"^[^+#\x00]+$")


ServiceName = Literal["market-agent", "bridge", "stats"]
SERVICES: tuple[ServiceName, ...] = ("market-agent", "bridge", "stats")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OSED_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    bus: BusSettings = BusSettings()
    storage: StorageSettings = StorageSettings()
    market: MarketSettings = MarketSettings()
    health: HealthSettings = HealthSettings()
    bridge: BridgeSettings = BridgeSettings()
    stats: StatsSettings = StatsSettings()
    services: list[ServiceName] = ["market-agent"]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file comes in through init_settings (see load_settings); environment wins.
        return env_settings, init_settings


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from ``config_file`` (or ``$OSED_CONFIG``) overlaid by the environment."""
    named = os.environ.get("OSED_CONFIG")
    path = config_file or (Path(named) if named else None)
    from_file = _read_yaml(path) if path is not None else {}
    try:
        return Settings(**from_file)
    except PydanticValidationError as exc:
        raise ValidationError(_problems(exc), subject=SUBJECT) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            [Problem("$", "unreadable_file", f"{path}: {exc.strerror}")], subject=SUBJECT
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise ValidationError(
            [Problem("$", "bad_yaml", f"{path}: {where}{getattr(exc, 'problem', exc)}")],
            subject=SUBJECT,
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(
            [Problem("$", "wrong_type", f"{path}: the top level must be a mapping")],
            subject=SUBJECT,
        )
    return {str(key): value for key, value in data.items()}


def _problems(exc: PydanticValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        problems.append(Problem(path, error["type"], error["msg"]))
    return problems
