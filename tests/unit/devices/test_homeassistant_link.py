"""Home Assistant out of reach: errors that name the URL, from both APIs and from start()."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from osed.devices.homeassistant import HomeAssistantGateway, parse_config
from osed.devices.homeassistant.link import WebSocketLink, rest_get
from osed.domain.devices import Action, Command
from osed.domain.errors import UnavailableError
from tests.services.brokers import free_port


@pytest.fixture
def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


async def test_the_websocket_api_out_of_reach_is_unavailable(nowhere: str) -> None:
    with pytest.raises(UnavailableError, match=f"Home Assistant at {nowhere} cannot be reached"):
        await WebSocketLink.open(parse_config({"url": nowhere, "token": "t", "timeout_s": 2}))


async def test_the_rest_api_out_of_reach_is_unavailable(nowhere: str) -> None:
    with pytest.raises(UnavailableError, match=f"Home Assistant at {nowhere} cannot be reached"):
        await rest_get(parse_config({"url": nowhere, "token": "t", "timeout_s": 2}), "states")


async def test_a_gateway_that_cannot_start_says_where_and_takes_no_command(nowhere: str) -> None:
    gateway = HomeAssistantGateway(
        parse_config({"url": nowhere, "token": "secret-token-1234", "timeout_s": 2})
    )
    with pytest.raises(UnavailableError) as caught:
        await gateway.start()
    assert nowhere in str(caught.value)
    assert "secret-token-1234" not in str(caught.value)
    with pytest.raises(UnavailableError, match="not started"):
        await gateway.send(Command("c-1", "d", Action.TURN_ON, None, datetime.now(UTC)))
