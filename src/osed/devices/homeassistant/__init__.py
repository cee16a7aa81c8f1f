"""Home Assistant as a device gateway: its entities are OSED's devices, reached over its REST
and WebSocket APIs with a long-lived access token (docs/devices-homeassistant.md)."""

from osed.devices.homeassistant.config import DeviceMapping, HomeAssistantConfig, parse_config
from osed.devices.homeassistant.gateway import HomeAssistantGateway, MappingError
from osed.devices.homeassistant.link import TokenRefusedError

__all__ = [
    "DeviceMapping",
    "HomeAssistantConfig",
    "HomeAssistantGateway",
    "MappingError",
    "TokenRefusedError",
    "parse_config",
]
