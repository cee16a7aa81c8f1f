"""The bridge configuration: pipelines in YAML, validated all at once with paths and codes.

Loading builds every step, so a bad step option is reported at load time with its full path
(``$.pipelines[1].steps[0].options.ranges.frequency.min``), never at the first message.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from osed.bridge.formats import FORMAT_NAMES
from osed.bridge.sogno import SOGNO_UNITS
from osed.bridge.steps import Step, StepRegistry
from osed.bridge.units import factor, is_known
from osed.codec.json_text import decode_utf8
from osed.domain.errors import ConfigurationError, Problem, ValidationError
from osed.domain.problems import Problems

Ingress = Literal["raw", "bus"]

SERIES_FIELDS = frozenset({"device", "component", "measurand", "phase", "source"})
TOPIC_FIELDS = frozenset({"device", "source", "topic"})


@dataclass(frozen=True, slots=True)
class StepConfig:
    name: str
    options: Mapping[str, Any]
    step: Step


@dataclass(frozen=True, slots=True)
class StoreConfig:
    series: str  # a template over SERIES_FIELDS


@dataclass(frozen=True, slots=True)
class RepublishConfig:
    host: str
    topic: str  # a template over TOPIC_FIELDS; ``{topic}`` is the processed topic
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    client_id: str = "osed-bridge"
    qos: int = 1


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    name: str
    subscribe: tuple[str, ...]
    format: str
    publish: str  # a template over TOPIC_FIELDS
    steps: tuple[StepConfig, ...] = ()
    ingress: Ingress = "raw"
    input_units: Mapping[str, str] = field(default_factory=dict)
    store: StoreConfig | None = None
    republish: RepublishConfig | None = None


@dataclass(frozen=True, slots=True)
class BatchConfig:
    max_points: int = 500
    max_delay_s: float = 0.1


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    pipelines: tuple[PipelineConfig, ...]
    dead_letter_prefix: str = "dead-letter"
    batch: BatchConfig = BatchConfig()


def load_config_file(path: str | Path, registry: StepRegistry | None = None) -> BridgeConfig:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"bridge configuration {path} unreadable: {exc}") from exc
    text = decode_utf8(data, where=str(path), subject="bridge configuration")
    return load_config(text, registry)


def load_config(text: str, registry: StepRegistry | None = None) -> BridgeConfig:
    """Parse and check the YAML ``text``; ValidationError names every problem found."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(
            [Problem("$", "bad_yaml", f"not YAML: {exc}")], subject="bridge configuration"
        ) from None
    except RecursionError:
        raise ValidationError(
            [Problem("$", "too_deep", "nested too deeply")], subject="bridge configuration"
        ) from None
    return parse_config(document, registry or StepRegistry.discover())


def parse_config(document: object, registry: StepRegistry) -> BridgeConfig:
    problems = Problems("bridge configuration")
    if not isinstance(document, Mapping):
        problems.add("$", "wrong_type", "must be a mapping with `pipelines`")
        problems.check()
    assert isinstance(document, Mapping)
    _only(document, {"pipelines", "dead_letter_prefix", "batch"}, "$", problems)
    prefix = _topic(
        document.get("dead_letter_prefix", "dead-letter"), "$.dead_letter_prefix", problems
    )
    batch = _batch(document.get("batch", {}), problems)
    raw_pipelines = document.get("pipelines")
    pipelines: list[PipelineConfig] = []
    if not isinstance(raw_pipelines, list) or not raw_pipelines:
        problems.add("$.pipelines", "missing_field", "needs a non-empty list of pipelines")
    else:
        names: set[str] = set()
        for index, raw in enumerate(raw_pipelines):
            path = f"$.pipelines[{index}]"
            pipeline = _pipeline(raw, path, registry, problems)
            if pipeline is None:
                continue
            if pipeline.name in names:
                problems.add(f"{path}.name", "duplicate_name", f"{pipeline.name!r} used twice")
            names.add(pipeline.name)
            pipelines.append(pipeline)
    problems.check()
    assert prefix is not None
    return BridgeConfig(tuple(pipelines), prefix, batch)


def _pipeline(
    raw: object, path: str, registry: StepRegistry, problems: Problems
) -> PipelineConfig | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "wrong_type", "a pipeline is a mapping")
        return None
    found = len(problems)
    allowed = {
        "name",
        "subscribe",
        "format",
        "steps",
        "publish",
        "store",
        "republish",
        "ingress",
        "input_units",
    }
    _only(raw, allowed, path, problems)
    name = _name(raw.get("name"), f"{path}.name", problems)
    subscribe = _patterns(raw.get("subscribe"), f"{path}.subscribe", problems)
    fmt = raw.get("format")
    if fmt not in FORMAT_NAMES:
        problems.add(
            f"{path}.format", "unknown_format", f"{fmt!r}; known: {', '.join(FORMAT_NAMES)}"
        )
    ingress = raw.get("ingress", "raw")
    if ingress not in ("raw", "bus"):
        problems.add(f"{path}.ingress", "unknown_ingress", f"{ingress!r}; known: bus, raw")
    publish = _template(raw.get("publish"), TOPIC_FIELDS, f"{path}.publish", problems)
    steps = _steps(raw.get("steps", []), f"{path}.steps", registry, problems)
    input_units = _input_units(raw.get("input_units", {}), f"{path}.input_units", problems)
    store = _store(raw["store"], f"{path}.store", problems) if "store" in raw else None
    republish = (
        _republish(raw["republish"], f"{path}.republish", problems) if "republish" in raw else None
    )
    if len(problems) > found:
        return None
    assert name is not None
    assert subscribe is not None
    assert publish is not None
    return PipelineConfig(
        name, subscribe, str(fmt), publish, steps, ingress, input_units, store, republish
    )


def _steps(
    raw: object, path: str, registry: StepRegistry, problems: Problems
) -> tuple[StepConfig, ...]:
    if not isinstance(raw, list):
        problems.add(path, "wrong_type", "must be a list of steps")
        return ()
    steps = []
    for index, entry in enumerate(raw):
        here = f"{path}[{index}]"
        item = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(item, Mapping):
            problems.add(here, "wrong_type", "a step is a name or {name, options}")
            continue
        _only(item, {"name", "options"}, here, problems)
        name = item.get("name")
        if not isinstance(name, str) or name not in registry:
            problems.add(
                f"{here}.name", "unknown_step", f"{name!r}; known: {', '.join(registry.names())}"
            )
            continue
        options = item.get("options", {}) or {}
        if not isinstance(options, Mapping):
            problems.add(f"{here}.options", "wrong_type", "must be a mapping")
            continue
        try:
            step = registry.create(name, options)
        except ValidationError as exc:
            for problem in exc.problems:
                problems.add(f"{here}.options{problem.path[1:]}", problem.code, problem.message)
            continue
        except ConfigurationError as exc:
            problems.add(f"{here}.name", "broken_step", str(exc))
            continue
        steps.append(StepConfig(name, dict(options), step))
    return tuple(steps)


def _store(raw: object, path: str, problems: Problems) -> StoreConfig | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "wrong_type", "must be {series: <template>}")
        return None
    _only(raw, {"series"}, path, problems)
    series = _template(
        raw.get("series", "{device}/{component}/{measurand}/{phase}"),
        SERIES_FIELDS,
        f"{path}.series",
        problems,
    )
    return StoreConfig(series) if series is not None else None


def _republish(raw: object, path: str, problems: Problems) -> RepublishConfig | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "wrong_type", "must be a mapping")
        return None
    found = len(problems)
    allowed = {"host", "port", "username", "password", "tls_ca", "client_id", "topic", "qos"}
    _only(raw, allowed, path, problems)
    host = raw.get("host")
    if not isinstance(host, str) or not host:
        problems.add(f"{path}.host", "missing_field", "the external broker's host name")
    port = raw.get("port", 1883)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.add(f"{path}.port", "out_of_range", "must be a TCP port, 1 to 65535")
    texts = {}
    for name in ("username", "password", "tls_ca", "client_id"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            problems.add(f"{path}.{name}", "wrong_type", "must be non-empty text")
        texts[name] = value if isinstance(value, str) and value else None
    if (texts["username"] is None) != (texts["password"] is None):
        problems.add(
            f"{path}.password", "incomplete_credentials", "give username and password together"
        )
    client_id = texts["client_id"] or "osed-bridge"
    if any(c in client_id for c in "/+# "):
        problems.add(f"{path}.client_id", "bad_name", f"not an MQTT client id: {client_id!r}")
    qos = raw.get("qos", 1)
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        problems.add(f"{path}.qos", "out_of_range", "must be 0, 1 or 2")
    topic = _template(raw.get("topic", "{topic}"), TOPIC_FIELDS, f"{path}.topic", problems)
    if len(problems) > found:
        return None
    assert isinstance(host, str)
    assert topic is not None
    ca = Path(texts["tls_ca"]) if texts["tls_ca"] else None
    return RepublishConfig(
        host, topic, port, texts["username"], texts["password"], ca, client_id, int(qos)
    )


def _batch(raw: object, problems: Problems) -> BatchConfig:
    if not isinstance(raw, Mapping):
        problems.add("$.batch", "wrong_type", "must be {max_points, max_delay_ms}")
        return BatchConfig()
    _only(raw, {"max_points", "max_delay_ms"}, "$.batch", problems)
    points = raw.get("max_points", 500)
    delay = raw.get("max_delay_ms", 100)
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        problems.add("$.batch.max_points", "out_of_range", "must be a positive integer")
        points = 500
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 < delay <= 60_000:
        problems.add("$.batch.max_delay_ms", "out_of_range", "must be in (0, 60000] ms")
        delay = 100
    return BatchConfig(points, delay / 1000.0)


def _input_units(raw: object, path: str, problems: Problems) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        problems.add(path, "wrong_type", "must map SOGNO measurands to the unit the device sends")
        return {}
    result = {}
    for key, unit in raw.items():
        here = f"{path}.{key}"
        if key not in SOGNO_UNITS:
            problems.add(here, "unknown_measurand", f"known: {', '.join(SOGNO_UNITS)}")
        elif not isinstance(unit, str) or not is_known(unit):
            problems.add(here, "unknown_unit", f"{unit!r} is not a known unit")
        else:
            try:
                factor(unit, SOGNO_UNITS[key], path=here)
            except ValidationError as exc:
                problems.extend(list(exc.problems))
                continue
            result[str(key)] = unit
    return result


def _only(raw: Mapping[Any, Any], allowed: set[str], path: str, problems: Problems) -> None:
    for name in sorted(set(map(str, raw)) - allowed):
        problems.add(f"{path}.{name}", "unknown_field", f"allowed: {', '.join(sorted(allowed))}")


def _name(value: object, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not value or any(c in value for c in "/+# \t\n"):
        problems.add(path, "bad_name", "must be non-empty text without '/', '+', '#' or spaces")
        return None
    return value


def _patterns(value: object, path: str, problems: Problems) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        problems.add(path, "missing_field", "needs one or more topic patterns")
        return None
    found = len(problems)
    for index, pattern in enumerate(items):
        if not isinstance(pattern, str) or not _is_pattern(pattern):
            problems.add(
                f"{path}[{index}]", "bad_pattern", f"not an MQTT topic filter: {pattern!r}"
            )
    return tuple(items) if len(problems) == found else None


def _is_pattern(pattern: str) -> bool:
    levels = pattern.split("/")
    return (
        bool(pattern)
        and "\x00" not in pattern
        and not any(("+" in level or "#" in level) and len(level) > 1 for level in levels)
        and "#" not in levels[:-1]
    )


def _topic(value: object, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not value or any(c in value for c in "+#\x00"):
        problems.add(path, "bad_topic", f"not a publish topic: {value!r}")
        return None
    return value.rstrip("/")


def _template(value: object, fields: frozenset[str], path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not value or any(c in value for c in "+#\x00"):
        problems.add(path, "bad_topic", f"not a topic or series template: {value!r}")
        return None
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        problems.add(path, "bad_template", str(exc))
        return None
    unknown = sorted(names - fields)
    if unknown:
        problems.add(path, "unknown_placeholder", f"{unknown}; allowed: {sorted(fields)}")
        return None
    return value
