"""A real Home Assistant core for tests and benchmarks, never the machine's own.

Home Assistant runs from a cached virtual environment outside the repository, made by
``scripts/install-homeassistant`` (the test command runs it; so does :func:`hass_binary` when
the environment is missing, and a failed install fails the test, it never skips). The server
listens on a free 127.0.0.1 port with a temporary configuration folder whose
``configuration.yaml`` declares the test house: a generic thermostat over a template sensor,
template sensors, numbers and switches over input helpers, and the demo water heaters. A user
is created through the onboarding API and a long-lived access token taken over the
WebSocket API. ``stop()`` and ``start()`` restart it on the same port and folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.services.brokers import free_port

VERSION = "2025.4.4"
ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "scripts" / "install-homeassistant"
START_TIMEOUT_S = 180.0
"""A first start writes its storage and loads every integration: about 16 s on two cores."""

CONFIGURATION = """\
homeassistant:
  name: OSED test house
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL

http:
  server_host: 127.0.0.1
  server_port: {port}

api:
onboarding:
demo:  # its water heaters, thermostats, switches and sensors, as many installations have
logger:
  default: warning

input_number:
  living_room_temperature:
    {{min: -20, max: 40, step: 0.1, initial: 19.5, unit_of_measurement: "°C", mode: box}}
  ev_charge_limit: {{min: 0, max: 11, step: 0.1, initial: 7.4, unit_of_measurement: kW, mode: box}}
  battery_power: {{min: -5, max: 5, step: 0.01, initial: 0, unit_of_measurement: kW, mode: box}}
  battery_soc: {{min: 0, max: 100, step: 0.1, initial: 55, unit_of_measurement: "%", mode: box}}
  house_power: {{min: 0, max: 30000, step: 1, initial: 850, unit_of_measurement: W, mode: box}}
  outdoor_temperature:
    {{min: -30, max: 45, step: 0.1, initial: 4.5, unit_of_measurement: "°C", mode: box}}

  misconfigured_limit:
    {{min: 0, max: 11, step: 0.1, initial: 1, unit_of_measurement: kW, mode: box}}

input_boolean:
  heater:
  ev_charger:

counter:
  ev_limit_applied: {{initial: 0, step: 1}}
  setpoint_calls: {{initial: 0, step: 1}}

automation:
  - alias: Count thermostat setpoint calls
    id: osed_count_setpoint_calls
    mode: queued
    max: 1000
    triggers:
      - trigger: event
        event_type: call_service
        event_data: {{domain: climate, service: set_temperature}}
    actions:
      - action: counter.increment
        target: {{entity_id: counter.setpoint_calls}}

template:
  - sensor:
      - name: Living room temperature
        unique_id: osed_living_room_temperature
        unit_of_measurement: "°C"
        device_class: temperature
        state: "{{{{ states('input_number.living_room_temperature') }}}}"
      - name: Outdoor temperature
        unique_id: osed_outdoor_temperature
        unit_of_measurement: "°C"
        device_class: temperature
        state: "{{{{ states('input_number.outdoor_temperature') }}}}"
      - name: House power
        unique_id: osed_house_power
        unit_of_measurement: W
        device_class: power
        state: "{{{{ states('input_number.house_power') }}}}"
      - name: Battery state of charge
        unique_id: osed_battery_soc
        unit_of_measurement: "%"
        device_class: battery
        state: "{{{{ states('input_number.battery_soc') }}}}"
    number:
      - name: EV charge limit
        unique_id: osed_ev_charge_limit
        unit_of_measurement: kW
        min: 0
        max: 11
        step: 0.1
        state: "{{{{ states('input_number.ev_charge_limit') }}}}"
        set_value:
          - action: input_number.set_value
            target: {{entity_id: input_number.ev_charge_limit}}
            data: {{value: "{{{{ value }}}}"}}
          - action: counter.increment
            target: {{entity_id: counter.ev_limit_applied}}
      # Wider than the helper behind it: Home Assistant refuses what the helper cannot hold.
      - name: Misconfigured limit
        unique_id: osed_misconfigured_limit
        unit_of_measurement: kW
        min: 0
        max: 22
        step: 0.1
        state: "{{{{ states('input_number.misconfigured_limit') }}}}"
        set_value:
          - action: input_number.set_value
            target: {{entity_id: input_number.misconfigured_limit}}
            data: {{value: "{{{{ value }}}}"}}
      - name: Battery power setpoint
        unique_id: osed_battery_power
        unit_of_measurement: kW
        min: -5
        max: 5
        step: 0.01
        state: "{{{{ states('input_number.battery_power') }}}}"
        set_value:
          - action: input_number.set_value
            target: {{entity_id: input_number.battery_power}}
            data: {{value: "{{{{ value }}}}"}}
    switch:
      - name: EV charger
        unique_id: osed_ev_charger
        state: "{{{{ is_state('input_boolean.ev_charger', 'on') }}}}"
        turn_on:
          - action: input_boolean.turn_on
            target: {{entity_id: input_boolean.ev_charger}}
        turn_off:
          - action: input_boolean.turn_off
            target: {{entity_id: input_boolean.ev_charger}}

climate:
  - platform: generic_thermostat
    name: Living room
    unique_id: osed_living_room
    heater: input_boolean.heater
    target_sensor: sensor.living_room_temperature
    min_temp: 12
    max_temp: 26
    target_temp: 20
    target_temp_step: 0.5
    precision: 0.1
    initial_hvac_mode: heat
"""


class HomeAssistantError(RuntimeError):
    """Home Assistant could not be installed, started or set up."""


def hass_binary() -> Path:
    """The cached environment's ``hass``, installed first if it is missing."""
    done = subprocess.run(
        [str(INSTALLER)], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise HomeAssistantError(
            f"installing Home Assistant {VERSION} failed ({INSTALLER}):\n{done.stderr[-3000:]}"
        )
    return Path(done.stdout.strip().splitlines()[-1]) / "bin" / "hass"


@dataclass
class HomeAssistant:
    """One Home Assistant core; ``token`` is a long-lived access token of its owner."""

    binary: Path
    folder: Path
    port: int
    token: str = field(default="", repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "hass.out"

    def start(self) -> None:
        """Start and wait until it runs (and, the first time, take a token)."""
        if self.process is not None and self.process.poll() is None:
            raise HomeAssistantError("Home Assistant is already running")
        (self.folder / "configuration.yaml").write_text(CONFIGURATION.format(port=self.port))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.binary), "--config", str(self.folder), "--skip-pip"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        self._wait(lambda: self._get("/api/onboarding", token=None) is not None, deadline)
        if not self.token:
            self.token = asyncio.run(self._onboard())
        self._wait(lambda: (self._get("/api/config") or {}).get("state") == "RUNNING", deadline)

    def stop(self) -> None:
        """SIGTERM (Home Assistant saves its state), SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def state(self, entity_id: str) -> dict[str, Any]:
        found = self._get(f"/api/states/{entity_id}")
        if found is None:
            raise HomeAssistantError(f"no state for {entity_id}")
        return dict(found)

    def call(self, domain: str, service: str, data: dict[str, Any]) -> None:
        """Call a service over REST, as another client of this Home Assistant would."""
        self._request("POST", f"/api/services/{domain}/{service}", data)

    def _get(self, path: str, *, token: str | bool | None = True) -> Any:
        try:
            return self._request("GET", path, None, token=token)
        except (OSError, urllib.error.URLError, HomeAssistantError):
            return None

    def _request(
        self, method: str, path: str, body: Any, *, token: str | bool | None = True
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        bearer = self.token if token is True else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read()[:2000]
            raise HomeAssistantError(f"{method} {path}: HTTP {error.code} {detail!r}") from None

    def _wait(self, ready: Any, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise HomeAssistantError(f"hass exited:\n{self.log.read_text()[-4000:]}")
            if ready():
                return
            time.sleep(0.25)  # polling a server that is starting; nothing to await
        self.stop()
        tail = self.log.read_text()[-4000:]
        raise HomeAssistantError(f"hass not ready in {START_TIMEOUT_S} s:\n{tail}")

    async def _onboard(self) -> str:
        """Owner user through the onboarding API, then a long-lived token over WebSocket."""
        client_id = f"{self.url}/"
        created = self._request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": "OSED",
                "username": "osed",
                "password": "osed-test-password",
                "language": "en",
            },
            token=None,
        )
        form = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": client_id,
            }
        ).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", form, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            access = json.loads(answer.read())["access_token"]
        async with connect(f"ws://127.0.0.1:{self.port}/api/websocket") as socket:
            await socket.recv()
            await socket.send(json.dumps({"type": "auth", "access_token": access}))
            if json.loads(await socket.recv()).get("type") != "auth_ok":
                raise HomeAssistantError("the onboarding access token was refused")
            await socket.send(
                json.dumps(
                    {
                        "id": 1,
                        "type": "auth/long_lived_access_token",
                        "client_name": "osed-tests",
                        "lifespan": 30,
                    }
                )
            )
            reply = json.loads(await socket.recv())
        if not reply.get("success"):
            raise HomeAssistantError(f"no long-lived token: {reply}")
        return str(reply["result"])


def start_home_assistant() -> HomeAssistant:
    server = HomeAssistant(
        hass_binary(), Path(tempfile.mkdtemp(prefix="osed-homeassistant-")), free_port()
    )
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def remove(server: HomeAssistant) -> None:
    server.stop()
    if os.environ.get("OSED_KEEP_HOMEASSISTANT") is None:
        shutil.rmtree(server.folder, ignore_errors=True)


@dataclass
class _Shared:
    server: HomeAssistant | None = None
    users: int = 0


_SHARED = _Shared()


@pytest.fixture(scope="session")
def home_assistant() -> Iterator[HomeAssistant]:
    """One Home Assistant for the whole session (it takes about 20 s to start), also when
    several test folders import this fixture (each import is a fixture of its own)."""
    if _SHARED.server is None:
        try:
            _SHARED.server = start_home_assistant()
        except HomeAssistantError as error:
            pytest.fail(str(error), pytrace=False)
    server = _SHARED.server
    _SHARED.users += 1
    try:
        if server.process is None or server.process.poll() is not None:
            server.start()  # a test stopped it and failed before starting it again
        yield server
    finally:
        _SHARED.users -= 1
        if _SHARED.users == 0:
            remove(server)
            _SHARED.server = None
