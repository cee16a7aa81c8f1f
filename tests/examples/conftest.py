"""The examples are run as a user runs them: from the repository root, with real brokers."""

from tests.services.brokers import mosquitto

__all__ = ["mosquitto"]
