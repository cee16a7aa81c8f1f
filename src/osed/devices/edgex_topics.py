"""The EdgeX message bus topics (EdgeX 3 and 4), under a base topic (``edgex`` by default):

- events: ``<base>/events/device/<service>/<profile>/<device>/<source>``;
- command requests to a device service:
  ``<base>/device/command/request/<service>/<device>/<command>/<get|set>``;
- the device service's responses: ``<base>/response/<service>/<requestId>``.

With EdgeX's ``EnableNameFieldEscape`` the name levels are URL path-escaped (Go's
``url.PathEscape``), so that a name may hold a '/'.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

_PATH_SAFE = "$&+:=@"  # what Go's url.PathEscape leaves as it is, besides letters, digits, -._~


@dataclass(frozen=True, slots=True)
class EventTopic:
    service: str
    profile: str
    device: str
    source: str


@dataclass(frozen=True, slots=True)
class Topics:
    base: str = "edgex"
    escape: bool = False

    def name(self, value: str) -> str:
        return quote(value, safe=_PATH_SAFE) if self.escape else value

    def unname(self, level: str) -> str:
        return unquote(level, errors="strict") if self.escape else level

    @property
    def events_filter(self) -> str:
        return f"{self.base}/events/device/#"

    def event(self, service: str, profile: str, device: str, source: str) -> str:
        names = "/".join(self.name(n) for n in (service, profile, device, source))
        return f"{self.base}/events/device/{names}"

    def parse_event(self, topic: str) -> EventTopic | None:
        """The names in an event topic; None when the topic is not one."""
        prefix = f"{self.base}/events/device/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix) :].split("/")
        if len(levels) != 4 or not all(levels):
            return None
        try:
            service, profile, device, source = (self.unname(level) for level in levels)
        except UnicodeDecodeError:
            return None
        return EventTopic(service, profile, device, source)

    def request(self, service: str, device: str, command: str, method: str) -> str:
        names = "/".join(self.name(n) for n in (service, device, command))
        return f"{self.base}/device/command/request/{names}/{method}"

    def requests_filter(self, service: str) -> str:
        return f"{self.base}/device/command/request/{self.name(service)}/#"

    def response(self, service: str, request_id: str) -> str:
        return f"{self.base}/response/{self.name(service)}/{request_id}"

    def responses_filter(self, service: str) -> str:
        return f"{self.base}/response/{self.name(service)}/+"

    def parse_response(self, topic: str) -> tuple[str, str] | None:
        """(service, request id) of a response topic; None when it is not one."""
        prefix = f"{self.base}/response/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix) :].split("/")
        if len(levels) != 2 or not all(levels):
            return None
        try:
            return self.unname(levels[0]), levels[1]
        except UnicodeDecodeError:
            return None

    def parse_request(self, topic: str) -> tuple[str, str, str, str] | None:
        """(service, device, command, method) of a command request topic."""
        prefix = f"{self.base}/device/command/request/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix) :].split("/")
        if len(levels) != 4 or not all(levels):
            return None
        try:
            service, device, command = (self.unname(level) for level in levels[:3])
        except UnicodeDecodeError:
            return None
        return service, device, command, levels[3]
