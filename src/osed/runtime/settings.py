"""Settings: environment variables (``OSED_`` prefix, ``__`` between levels) over an optional
YAML file, validated at start. They pick the backends; nothing else does.

``OSED_BUS__BACKEND=mqtt`` sets ``bus.backend``; ``OSED_CONFIG=/etc/osed.yaml`` names the file.
Every problem is reported at once with its path (``$.bus.mqtt.port``), as a ValidationError.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from osed.codec.json_text import decode_utf8
from osed.domain.errors import Problem, ValidationError
from osed.edge.intelligence_rules import Rules
from osed.grid.estimation import BadDataOptions
from osed.grid.stats import DEFAULT_STATS
from osed.grid_services.estimation_config import DEFAULT_SIGMA, EstimationConfig
from osed.grid_services.estimation_sensors import SensorSpec
from osed.grid_services.stats_service import (
    field_problem,
    pattern_problem,
    series_template_problem,
    topic_template_problem,
)
from osed.optimizer.budget import MAX_REQUEST_BYTES

SUBJECT = "settings"


class _Section(BaseModel):
    # Infinity and NaN (``inf``, ``1e400``) are refused in every float setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    # None: the mechanism's default (cancel-resting in the book, net in the auction).
    self_trade: Literal["cancel-resting", "cancel-incoming", "net", "off"] | None = None


class HealthSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=0, le=65535)


class LogSettings(_Section):
    """What ``osed serve`` and ``osed run`` log on standard error: from which level, and as
    text for people or as one JSON object per line for log collectors."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class JobsSettings(_Section):
    """Where long-running requests (balancer jobs) are queued: in the storage backend
    (the SQLite file ``sqlite_path`` or PostgreSQL) or in Redis."""

    backend: Literal["sqlite", "postgres", "redis"] = "sqlite"
    sqlite_path: Path = Path("osed-jobs.sqlite")
    redis_url: SecretStr | None = None
    redis_prefix: str = "osed:jobs:"


class BalancerSettings(_Section):
    """The balancer optimizer's REST job API (docs/optimizer-service.md) and its workers."""

    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    workers: int = Field(2, ge=1, le=256)
    processes: bool = True
    """Solve in worker processes (parallel on several cores); threads otherwise."""
    max_time_limit_s: float = Field(600.0, gt=0)
    lease_s: float = Field(30.0, gt=0)
    queue_timeout_s: float | None = Field(None, gt=0)
    max_request_bytes: int = Field(MAX_REQUEST_BYTES, ge=1024, le=2**31)
    """Larger request bodies are refused (413) before they are parsed: this bounds the memory
    of a solve (about a hundred times the request's size)."""


class StudiesSettings(_Section):
    """Scenario runs (docs/api.md, "Scenario runs"): the ``studies`` service's worker
    processes, queued on the job store (``jobs.*``), their outputs under ``runs_dir``."""

    workers: int = Field(1, ge=1, le=64)
    """Runs played at once, each in a process of its own (a run keeps about two cores busy:
    its managed run and, beside it, its baseline)."""
    lease_s: float = Field(30.0, gt=0)
    max_run_s: float = Field(3600.0, gt=0)
    """A run still playing after this long is stopped and fails (time_limit)."""
    runs_dir: Path | None = None
    """Where each run's report and tables go (``<id>/``); default ``<state folder>/studies``."""


class EdcSettings(_Section):
    """The EDC manager (docs/edge.md): its REST API, control cycle and state store
    (``backend`` sqlite: the file ``sqlite_path``; postgres: ``storage.postgres_dsn``)."""

    host: str = "127.0.0.1"
    port: int = Field(8083, ge=0, le=65535)
    control_cycle_s: float = Field(5.0, ge=0.01, le=86400)
    response_deadline_s: float = Field(60.0, gt=0, le=86400)
    backend: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path = Path("osed-edc.sqlite")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """FULL: every commit (an enrolment, a control cycle's state) survives a power loss;
    NORMAL: a crash of the process only, for a commit without its fsync."""
    network: str | None = None
    """A network file (or ``pandapower:<name>``): an EDC's element must be one of its ids."""
    dead_letter_prefix: str = Field("dead-letter", pattern=r"^[^+#\x00]+$")
    max_request_bytes: int = Field(1024 * 1024, ge=1024, le=2**31)
    estimation_prefix: str = Field("se", pattern=r"^([^+#\x00]*[^+#\x00/])?$")
    """The state estimation's ``output_prefix``: with a network model the manager gives every
    EDC its area's part of each estimate published there (empty: it follows none)."""
    grid_state_max_age_s: float = Field(180.0, gt=0, le=7 * 86400)
    """A grid state older than this is marked stale in the functions' ``area.state``."""


class RemoteMarketSettings(_Section):
    """A market whose Market Agent runs in another process, reached over the bus (``bus.*``);
    its transactions and positions are read from the shared ledger store (``storage.*``)."""

    market_id: str = Field(pattern=r"^[^/+#\x00-\x1f]{1,128}$")
    timeout_s: float = Field(5.0, gt=0, le=300)
    """How long to wait for each answer of the Market Agent (a request is sent twice before
    the API answers 503)."""


class ApiSettings(_Section):
    """The platform API (docs/api.md): one app under ``/api/v1`` over every service the same
    process runs. Who may call it: ``identity.*``."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        """``api.open`` became ``identity.open``: said so rather than "not permitted"."""
        if isinstance(data, dict) and "open" in data:
            raise PydanticValidationError.from_exception_data(
                "ApiSettings",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "moved",
                            "api.open is now identity.open, which opens every service's API",
                        ),
                        loc=("open",),
                        input=data["open"],
                    )
                ],
            )
        return data

    idempotency_path: Path = Path("osed-api.sqlite")
    """Where Idempotency-Keys and their answers are kept (SQLite)."""
    idempotency_ttl_s: float = Field(86400.0, ge=60, le=30 * 86400)
    max_request_bytes: int = Field(MAX_REQUEST_BYTES, ge=1024, le=2**31)
    dashboard: bool = True
    """Serve the operator dashboard under ``/dashboard/`` (docs/dashboard.md)."""
    dashboard_client_id: str = Field("osed-dashboard", pattern=r"^[!-~]{1,200}$")
    """The dashboard's public client at ``identity.issuer``, to sign in with PKCE."""
    markets: list[RemoteMarketSettings] = []
    """Markets served by Market Agents in other processes (a ``market-agent`` service of
    this process is served without being named here)."""


class IntelligenceSettings(_Section):
    """The grid intelligence (docs/edge.md, "Grid intelligence"), run beside the EDC manager
    when ``enabled``: it follows the estimates under ``estimation_prefix`` (and forecasts on
    ``forecast_topic``) on the network ``network`` (default: ``edc.network``) and creates and
    destroys EDCs by its rules; decisions go to ``decision_topic`` and the EDC store's
    backend."""

    enabled: bool = False
    network: str | None = None
    estimation_prefix: str = Field("se", pattern=r"^[^+#\x00]*[^+#\x00/]$")
    forecast_topic: str | None = Field(None, pattern=r"^[^\x00]+$")
    decision_topic: str = Field("osed/intelligence/decisions", pattern=r"^[^+#\x00]+$")
    edc_prefix: str = Field("gi-", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    loading_trigger: float = Field(1.0, gt=0, le=10)
    loading_clear: float = Field(0.9, gt=0, le=10)
    voltage_high_trigger: float = Field(1.05, gt=0, le=2)
    voltage_high_clear: float = Field(1.04, gt=0, le=2)
    voltage_low_trigger: float = Field(0.95, gt=0, le=2)
    voltage_low_clear: float = Field(0.96, gt=0, le=2)
    hold_off_s: float = Field(30.0, ge=0, le=86400)
    clear_hold_off_s: float = Field(300.0, ge=0, le=86400)
    import_limit_share: float = Field(0.9, gt=0, le=10)
    functions: dict[Literal["overload", "voltage_high", "voltage_low"], list[str]] = {
        "overload": ["capacity-limit"],
        "voltage_high": ["volt-var"],
        "voltage_low": ["capacity-limit"],
    }
    parameters: dict[str, dict[str, Any]] = {}

    def rules(self) -> Rules:
        return Rules(
            loading_trigger=self.loading_trigger,
            loading_clear=self.loading_clear,
            voltage_high_trigger=self.voltage_high_trigger,
            voltage_high_clear=self.voltage_high_clear,
            voltage_low_trigger=self.voltage_low_trigger,
            voltage_low_clear=self.voltage_low_clear,
            hold_off_s=self.hold_off_s,
            clear_hold_off_s=self.clear_hold_off_s,
        )

    @model_validator(mode="after")
    def _check(self) -> IntelligenceSettings:
        """A clear threshold on the wrong side of its trigger, at the trigger's path."""
        problems = self.rules().problems()
        if problems:
            trigger = {
                "$.overload": "loading_clear",
                "$.voltage_high": "voltage_high_clear",
                "$.voltage_low": "voltage_low_clear",
            }
            raise PydanticValidationError.from_exception_data(
                "IntelligenceSettings",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(p.code, "{message}", {"message": p.message}),
                        loc=(trigger.get(p.path, p.path.removeprefix("$.")),),
                        input=None,
                    )
                    for p in problems
                ],
            ) from None
        return self


class FieldMqttSettings(MqttSettings):
    """The field devices' broker: its own client id, kept when other fields are set."""

    client_id: str = "osed-bridge-field"


class BridgeSettings(_Section):
    """The MQTT bridge: its pipelines file, and the broker the field devices publish to."""

    pipelines_file: Path | None = None
    field: FieldMqttSettings = FieldMqttSettings()


class IdentitySettings(_Section):
    """Who may call OSED's APIs (docs/identity.md): bearer access tokens of the OpenID
    provider ``issuer`` (Keycloak: ``https://host/realms/NAME``), or, without one, of OSED's
    own local issuer, whose keys live in ``key_file`` (default: ``identity/signing-keys.json``
    in the state folder). ``open`` lets every request to every API in without a token, as an
    admin: a laptop or a closed network only."""

    issuer: str | None = Field(None, pattern=r"^https?://[^\s#?]+$")
    audience: str = Field("osed", min_length=1)
    leeway_s: float = Field(30.0, ge=0, le=600)
    """How far ``exp``, ``nbf`` and ``iat`` may be off against this host's clock."""
    open: bool = False
    algorithms: Annotated[
        list[Literal["RS256", "ES256", "PS256", "EdDSA"]], Field(min_length=1)
    ] = ["RS256", "ES256", "PS256", "EdDSA"]
    jwks_min_refresh_s: float = Field(10.0, ge=0, le=3600)
    """An unknown kid fetches the issuer's keys again, at most once per this many seconds."""
    jwks_max_age_s: float = Field(300.0, gt=0, le=7 * 86400)
    http_timeout_s: float = Field(5.0, gt=0, le=120)
    local_issuer: str | None = Field(None, min_length=1)
    """The ``iss`` of the local issuer's tokens (none: the platform API's URL,
    ``http://<api.host>:<api.port>``); the API's public URL lets others discover its keys."""
    key_file: Path | None = None
    key_algorithm: Literal["ES256", "RS256"] = "ES256"
    key_grace_s: float = Field(86400.0, ge=0, le=366 * 86400)
    """How long a rotated-out key still verifies (longer than the tokens it signed live)."""


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


class SensorSettings(_Section):
    """One listed sensor of the estimation service: a reading and what it measures."""

    component: str
    measurand: str
    phase: str = "ABC"
    element: str | None = None
    side: str = ""
    sigma: float | None = None


class BadDataSettings(_Section):
    enabled: bool = True
    confidence: float = 0.99
    threshold: float = 3.0
    max_removals: int = 10


class EstimationSettings(_Section):
    """The state-estimation service (docs/grid-estimation-service.md): the SOGNO measurements
    on ``inputs`` mapped by ``sensors`` (or ``default_sigma``) onto ``network``, estimated on
    the ``trigger`` and published under ``output_prefix``."""

    name: str = "estimation"
    network: str | None = None
    inputs: list[str] = ["bal/processed"]
    sensors: list[SensorSettings] = []
    default_sigma: dict[str, float] = dict(DEFAULT_SIGMA)
    min_sigma: dict[str, float] = {}
    trigger: str = "cadence"
    period_s: float = 60.0
    max_age_s: float | None = None
    wait_s: float = 60.0
    method: str = "newton_raphson"
    symmetric: bool | None = None
    bad_data: BadDataSettings = BadDataSettings()
    pseudo: bool = True
    output_prefix: str = "se"
    store: bool = True
    graph: bool = True
    dead_letter_prefix: str = "dead-letter"

    @model_validator(mode="after")
    def _check(self) -> EstimationSettings:
        """Every problem of the service's own checks, at the path of its field."""
        try:
            self.to_config(network=self.network or "unset")
        except ValidationError as exc:
            raise PydanticValidationError.from_exception_data(
                "EstimationSettings",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(p.code, "{message}", {"message": p.message}),
                        loc=_location(p.path),
                        input=None,
                    )
                    for p in exc.problems
                ],
            ) from None
        return self

    def to_config(self, *, network: str | None = None) -> EstimationConfig:
        """The service's configuration (``network`` overrides the setting)."""
        return EstimationConfig(
            network=network if network is not None else (self.network or ""),
            inputs=tuple(self.inputs),
            sensors=tuple(
                SensorSpec(s.component, s.measurand, s.phase, s.element, s.side, s.sigma)
                for s in self.sensors
            ),
            default_sigma=dict(self.default_sigma),
            min_sigma=dict(self.min_sigma),
            trigger=self.trigger,
            period=timedelta(seconds=self.period_s),
            max_age=None if self.max_age_s is None else timedelta(seconds=self.max_age_s),
            wait=timedelta(seconds=self.wait_s),
            method=self.method,
            symmetric=self.symmetric,
            bad_data=BadDataOptions(**self.bad_data.model_dump()),
            pseudo=self.pseudo,
            output_prefix=self.output_prefix,
            store=self.store,
            graph=self.graph,
            name=self.name,
            dead_letter_prefix=self.dead_letter_prefix,
        )


def _location(path: str) -> tuple[str | int, ...]:
    """``$.sensors[2].sigma`` as a pydantic location: ``("sensors", 2, "sigma")``."""
    parts: list[str | int] = []
    for piece in path.removeprefix("$").replace("[", ".[").split("."):
        if piece.startswith("[") and piece.endswith("]") and piece[1:-1].isdigit():
            parts.append(int(piece[1:-1]))
        elif piece:
            parts.append(piece)
    return tuple(parts)


ServiceName = Literal[
    "market-agent",
    "bridge",
    "stats",
    "estimation",
    "balancer",
    "edc-manager",
    "building",
    "buildings",
    "studies",
    "api",
]
SERVICES: tuple[ServiceName, ...] = (
    "market-agent",
    "bridge",
    "stats",
    "estimation",
    "balancer",
    "edc-manager",
    "building",
    "buildings",
    "studies",
    "api",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OSED_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    bus: BusSettings = BusSettings()
    storage: StorageSettings = StorageSettings()
    market: MarketSettings = MarketSettings()
    health: HealthSettings = HealthSettings()
    log: LogSettings = LogSettings()
    bridge: BridgeSettings = BridgeSettings()
    stats: StatsSettings = StatsSettings()
    estimation: EstimationSettings = EstimationSettings()
    jobs: JobsSettings = JobsSettings()
    balancer: BalancerSettings = BalancerSettings()
    studies: StudiesSettings = StudiesSettings()
    edc: EdcSettings = EdcSettings()
    intelligence: IntelligenceSettings = IntelligenceSettings()
    identity: IdentitySettings = IdentitySettings()
    api: ApiSettings = ApiSettings()
    buildings: dict[str, Any] = {}
    """The building agents' document (docs/building-agent.md), checked when they start."""
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
    except SettingsError:  # a list or mapping in the environment that is not JSON
        raise ValidationError(_environment_problems(), subject=SUBJECT) from None


def _environment_problems() -> list[Problem]:
    """Every ``OSED_…`` variable whose setting is a list or a mapping (given as JSON in the
    environment) and whose value is not JSON."""
    problems = []
    for name, value in sorted(os.environ.items()):
        if not name.upper().startswith("OSED_"):
            continue
        parts = name.lower().removeprefix("osed_").split("__")
        shape = _json_shape(parts)
        if shape is None:
            continue
        try:
            json.loads(value)
        except ValueError:
            message = f"{name}={value!r} is not JSON; this setting is given as a JSON {shape}"
            problems.append(Problem("$." + ".".join(parts), "not_json", message))
    return problems or [Problem("$", "bad_environment", "an OSED_ variable cannot be read")]


def _json_shape(parts: list[str]) -> str | None:
    """``"list"`` or ``"object"`` when the setting at ``parts`` is given as JSON in the
    environment, None for a single value."""
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts, start=1):
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        if depth < len(parts):
            return None
        origins = {get_origin(a) or a for a in (annotation, *get_args(annotation))}
        return "list" if list in origins else "object" if dict in origins else None
    return "object"  # a whole section


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            [Problem("$", "unreadable_file", f"{path}: {exc.strerror}")], subject=SUBJECT
        ) from exc
    text = decode_utf8(raw, where=str(path), subject=SUBJECT)
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ValidationError(
            [Problem("$", "too_deep", f"{path}: nested too deeply")], subject=SUBJECT
        ) from None
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


# user:password@ keeps the user; a lone userinfo may be a token (nats://token@host): masked.
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@:]*:)?)[^/?#@]+(?=@)")
MASK = "**********"  # what pydantic shows for a SecretStr


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON values for people to read: secrets, and the password (or token)
    inside any URL-valued setting (``nats://user:secret@host``), replaced by asterisks."""
    masked: dict[str, Any] = _mask_tokens(_mask_urls(settings.model_dump(mode="json")))
    return masked


def _mask_tokens(value: Any) -> Any:
    """Every ``token`` (a building's channel tokens in ``buildings``) replaced by asterisks."""
    if isinstance(value, dict):
        return {k: MASK if k == "token" else _mask_tokens(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tokens(item) for item in value]
    return value


def _mask_urls(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\g<head>{MASK}", value)
    if isinstance(value, dict):
        return {key: _mask_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_urls(item) for item in value]
    return value
