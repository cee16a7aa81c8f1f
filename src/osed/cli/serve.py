"""``osed serve`` (every configured service in one process), ``osed run SERVICE`` (one service,
for a cluster), ``osed config show`` (the effective settings, secrets masked)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from osed.cli._output import document_text, emit
from osed.runtime.container import build_services
from osed.runtime.health import HealthServer
from osed.runtime.lifecycle import Runner
from osed.runtime.logs import configure_logging, deployment, with_fields
from osed.runtime.settings import (
    SERVICES,
    ServiceName,
    Settings,
    load_settings,
    masked_settings,
)

log = logging.getLogger("osed.serve")


def register(groups: Any) -> None:
    serve: argparse.ArgumentParser = groups.add_parser(
        "serve",
        help="run every configured service in one process until SIGINT or SIGTERM",
        description="Backends and services come from OSED_* environment variables over the "
        "optional YAML file; /healthz and /readyz answer on the health port. Logs go to "
        "standard error (log.level, log.format: text or json).",
    )
    _common(serve)
    serve.set_defaults(handler=_serve)

    run: argparse.ArgumentParser = groups.add_parser(
        "run", help="run one service alone (with its bus connection), for separate deployment"
    )
    run.add_argument("service", choices=SERVICES, help="the service to run")
    _common(run)
    run.set_defaults(handler=_run_one)

    config: argparse.ArgumentParser = groups.add_parser("config", help="inspect settings")
    commands = config.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    show: argparse.ArgumentParser = commands.add_parser(
        "show", help="print the effective settings, secrets masked"
    )
    show.add_argument("--config", type=Path, default=None, help="YAML settings file")
    show.set_defaults(handler=_show)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (else $OSED_CONFIG)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("osed-state"),
        help="folder for outboxes and consumer positions (default: %(default)s)",
    )


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    return _start(settings, list(settings.services), args.state_dir)


def _run_one(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    service: ServiceName = args.service
    return _start(settings, [service], args.state_dir)


def _start(settings: Settings, names: list[ServiceName], state_dir: Path) -> int:
    configure_logging(settings.log)
    plan = deployment(settings, names)
    log.info(
        "starting %s; bus %s (%s); storage %s (%s); health %s%s",
        ", ".join(names) or "no services",
        plan["bus"]["backend"],
        plan["bus"]["at"],
        plan["storage"]["backend"],
        plan["storage"]["at"],
        plan["health"],
        "".join(
            f"; {key.replace('_', ' ')} {plan[key]}"
            for key in ("balancer_api", "edc_api", "platform_api", "field_broker")
            if key in plan
        ),
        extra=with_fields(**plan, state_dir=str(state_dir)),
    )
    services = build_services(settings, names, state_dir=state_dir)
    health = HealthServer(settings.health.host, settings.health.port)
    asyncio.run(Runner(services, health=health).run())
    return 0


def _show(args: argparse.Namespace) -> int:
    emit(masked_settings(load_settings(args.config)), document_text, args)
    return 0
