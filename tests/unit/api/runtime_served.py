"""The runtime's services, the ``api`` among them, started from a settings file in the test's
event loop, and ``osed token`` run as a subprocess on the same file and state folder: what a
user does with ``osed serve`` and ``osed token create``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from osed.identity.local_issuer import LocalIssuer
from osed.runtime.container import build_services
from osed.runtime.identity import local_issuer
from osed.runtime.lifecycle import Service
from osed.runtime.settings import Settings, load_settings
from tests.services.brokers import free_port
from tests.unit.api.conftest import NETWORK


@dataclass
class Running:
    settings: Settings
    config: Path
    state_dir: Path
    services: list[Service]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api.port}"

    def local_issuer(self) -> LocalIssuer:
        """The issuer over the key file the services read."""
        return local_issuer(self.settings, self.state_dir)

    def service(self, name: str) -> Any:
        return next(s for s in self.services if s.name == name)

    async def osed(self, *args: str) -> dict[str, Any]:
        """``osed ARGS --config FILE --state-dir DIR``, its standard output as JSON."""
        return await osed(*args, config=self.config, state_dir=self.state_dir)

    async def token(self, *args: str) -> str:
        """``osed token create ARGS``'s bare access token."""
        return str((await self.osed("token", "create", *args))["access_token"])


async def osed(*args: str, config: Path, state_dir: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "osed.cli", *args, "--config", str(config),
        "--state-dir", str(state_dir), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "OSED_CONFIG": ""},
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    answer: dict[str, Any] = json.loads(out)
    return answer


def settings_file(tmp_path: Path, services: list[str], **sections: Any) -> Path:
    """A settings file of a process serving ``services``, its files under ``tmp_path``."""
    document: dict[str, Any] = {
        "storage": {"sqlite_path": str(tmp_path / "osed.sqlite")},
        "jobs": {"sqlite_path": str(tmp_path / "jobs.sqlite")},
        "edc": {
            "sqlite_path": str(tmp_path / "edc.sqlite"),
            "port": free_port(),
            "network": str(NETWORK),
        },
        "balancer": {"port": free_port(), "workers": 1, "processes": False},
        "market": {"market_id": "m1", "mechanism": "bilateral"},
        "api": {"port": free_port(), "idempotency_path": str(tmp_path / "keys.sqlite")},
        "services": services,
    }
    for name, section in sections.items():
        document[name] = {**document.get(name, {}), **section}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "osed.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@asynccontextmanager
async def running(
    tmp_path: Path, services: list[str] | None = None, **sections: Any
) -> AsyncIterator[Running]:
    names = services or ["market-agent", "edc-manager", "balancer", "api"]
    config = settings_file(tmp_path, names, **sections)
    settings = load_settings(config)
    state_dir = tmp_path / "state"
    built = build_services(settings, list(settings.services), state_dir=state_dir)
    started: list[Service] = []
    try:
        for service in built:
            await service.start()
            started.append(service)
        yield Running(settings, config, state_dir, built)
    finally:
        for service in reversed(started):
            await service.stop()
