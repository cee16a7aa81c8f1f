"""Logs of the running services on standard error: text for people, JSON lines for machines.

``log.level`` picks the least severe level written; ``log.format`` picks ``text`` (one
readable line per event) or ``json`` (one object per line: time, level, logger, message, and
the event's fields). Standard output stays free for command results.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from osed.runtime.settings import LogSettings, ServiceName, Settings

ROOT = "osed"
FIELDS = "osed_fields"  # the LogRecord attribute that carries an event's fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    """Send OSED's logs (and warnings of the libraries it uses) to ``stream``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # other libraries: only what matters
    logging.getLogger(ROOT).setLevel(settings.level)


def with_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a log call whose fields a JSON log keeps as keys."""
    return {FIELDS: fields}


def deployment(settings: Settings, names: list[ServiceName]) -> dict[str, Any]:
    """What a start runs and where it listens and connects: logged before anything starts."""
    bus = settings.bus
    if bus.backend == "mqtt":
        bus_at: Any = f"mqtt://{bus.mqtt.host}:{bus.mqtt.port}"
    elif bus.backend == "nats":
        bus_at = list(bus.nats.servers)
    else:
        bus_at = "in this process"
    storage = settings.storage
    described: dict[str, Any] = {
        "services": list(names),
        "bus": {"backend": bus.backend, "at": bus_at},
        "storage": {
            "backend": storage.backend,
            "at": str(storage.sqlite_path) if storage.backend == "sqlite" else "postgres_dsn",
        },
        "health": f"http://{settings.health.host}:{settings.health.port}/healthz and /readyz",
    }
    if "balancer" in names:
        balancer = settings.balancer
        described["balancer_api"] = f"http://{balancer.host}:{balancer.port}/optimizations"
    if "edc-manager" in names:
        edc = settings.edc
        described["edc_api"] = f"http://{edc.host}:{edc.port}/api/v1/edcs"
    if "api" in names:
        api = settings.api
        described["platform_api"] = f"http://{api.host}:{api.port}/api/v1/docs"
    if "bridge" in names:
        field = settings.bridge.field
        described["field_broker"] = f"mqtt://{field.host}:{field.port}"
    return described
