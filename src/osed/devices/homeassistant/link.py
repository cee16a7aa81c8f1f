"""Home Assistant's two APIs as OSED uses them.

- The WebSocket API (``/api/websocket``): one authenticated connection over which numbered
  requests get their results and subscribed events arrive. It ends on the first network
  error; the gateway opens a new one.
- The REST API (``/api/``): a few reads that need no connection state (the token check,
  discovery). Requests run in a worker thread; they are rare.

Errors are OSED's: a refused token is a :class:`TokenRefusedError` naming the URL (never the
token), a server that cannot be reached an :class:`UnavailableError`, a service that failed a
:class:`ServiceError` with Home Assistant's code and message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from osed.devices.homeassistant.config import HomeAssistantConfig
from osed.domain.errors import ConfigurationError, OsedError, UnavailableError

log = logging.getLogger(__name__)
frames_log = logging.getLogger(f"{__name__}.frames")
# websockets logs every frame at DEBUG, the one with the access token too: never below INFO.
frames_log.setLevel(logging.INFO)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""``get_states`` of a large installation is several megabytes."""

EventHandler = Callable[[dict[str, Any]], None]


class TokenRefusedError(ConfigurationError):
    """Home Assistant refused the access token."""


class ServiceError(OsedError):
    """Home Assistant answered a request with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LinkClosedError(UnavailableError):
    """The WebSocket connection ended before the answer came."""


def refused(config: HomeAssistantConfig, detail: str) -> TokenRefusedError:
    return TokenRefusedError(
        f"Home Assistant at {config.url} refused the access token ({detail}): "
        "give a valid long-lived access token (a user's profile page creates one)"
    )


class WebSocketLink:
    """One authenticated WebSocket connection; events go to ``on_event`` in arrival order."""

    def __init__(self, socket: ClientConnection, config: HomeAssistantConfig) -> None:
        self._socket = socket
        self._config = config
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._handlers: dict[int, EventHandler] = {}
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="homeassistant-reader")

    @classmethod
    async def open(cls, config: HomeAssistantConfig) -> WebSocketLink:
        """Connect and authenticate within the configuration's timeout."""
        try:
            socket = await connect(
                config.websocket_url,
                ssl=_tls(config) if config.websocket_url.startswith("wss") else None,
                open_timeout=config.timeout_s,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,
                logger=frames_log,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            raise UnavailableError(
                f"Home Assistant at {config.url} cannot be reached: {error}"
            ) from error
        try:
            await asyncio.wait_for(_authenticate(socket, config), config.timeout_s)
        except BaseException as error:
            await socket.close()
            if isinstance(error, TimeoutError | ConnectionClosed | ValueError):
                raise UnavailableError(
                    f"Home Assistant at {config.url} did not complete authentication: {error}"
                ) from error
            raise
        return cls(socket, config)

    async def request(self, message: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        """Send one command and return its result; ServiceError if it failed."""
        if self.closed.is_set():
            raise LinkClosedError(f"the connection to Home Assistant at {self._config.url} ended")
        number = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        try:
            await self._socket.send(json.dumps({"id": number, **message}))
            return await asyncio.wait_for(answer, timeout_s or self._config.timeout_s)
        except ConnectionClosed as error:
            raise LinkClosedError(
                f"the connection to Home Assistant at {self._config.url} ended"
            ) from error
        finally:
            self._waiting.pop(number, None)

    async def subscribe(self, event_type: str, handler: EventHandler) -> None:
        """Follow ``event_type``; its events go to ``handler`` from now on."""
        number = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        self._handlers[number] = handler
        try:
            await self._socket.send(
                json.dumps({"id": number, "type": "subscribe_events", "event_type": event_type})
            )
            await asyncio.wait_for(answer, self._config.timeout_s)
        except BaseException:
            self._handlers.pop(number, None)
            raise
        finally:
            self._waiting.pop(number, None)

    async def close(self) -> None:
        await self._socket.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self._socket:
                decoded = json.loads(raw)
                # Home Assistant may coalesce several messages into one array.
                for message in decoded if isinstance(decoded, list) else [decoded]:
                    self._take(message)
        except ConnectionClosed:
            pass
        except (ValueError, TypeError) as error:
            log.error(
                "Home Assistant at %s sent an unreadable message: %s", self._config.url, error
            )
            await self._socket.close()
        finally:
            self.closed.set()
            lost = LinkClosedError(f"the connection to Home Assistant at {self._config.url} ended")
            for answer in self._waiting.values():
                if not answer.done():
                    answer.set_exception(lost)

    def _take(self, message: dict[str, Any]) -> None:
        number = message.get("id")
        kind = message.get("type")
        if kind == "event" and isinstance(number, int) and number in self._handlers:
            try:
                self._handlers[number](message.get("event", {}))
            except Exception:
                log.exception("handling a Home Assistant event failed")
            return
        if kind != "result" or not isinstance(number, int):
            return
        answer = self._waiting.get(number)
        if answer is None or answer.done():
            return
        if message.get("success"):
            answer.set_result(message.get("result"))
        else:
            error = message.get("error") or {}
            answer.set_exception(
                ServiceError(str(error.get("code", "unknown_error")), str(error.get("message", "")))
            )


async def _authenticate(socket: ClientConnection, config: HomeAssistantConfig) -> None:
    hello = json.loads(await socket.recv())
    if hello.get("type") != "auth_required":
        raise ValueError(f"expected auth_required, got {hello.get('type')!r}")
    await socket.send(json.dumps({"type": "auth", "access_token": config.token}))
    reply = json.loads(await socket.recv())
    if reply.get("type") == "auth_invalid":
        raise refused(config, str(reply.get("message", "auth_invalid")))
    if reply.get("type") != "auth_ok":
        raise ValueError(f"expected auth_ok, got {reply.get('type')!r}")


async def rest_get(config: HomeAssistantConfig, path: str) -> Any:
    """GET ``/api/<path>`` with the token; its JSON body."""
    return await asyncio.to_thread(_rest_get, config, path)


def _rest_get(config: HomeAssistantConfig, path: str) -> Any:
    request = urllib.request.Request(
        config.rest_url + path,
        headers={"Authorization": f"Bearer {config.token}", "Accept": "application/json"},
    )
    context = _tls(config) if config.rest_url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_s, context=context) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise refused(config, f"HTTP {error.code}") from None
        raise UnavailableError(
            f"Home Assistant at {config.url} answered GET /api/{path} with HTTP {error.code}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise UnavailableError(
            f"Home Assistant at {config.url} cannot be reached: {reason}"
        ) from None
    except ValueError as error:
        raise UnavailableError(
            f"Home Assistant at {config.url} answered GET /api/{path} with no JSON: {error}"
        ) from None


def _tls(config: HomeAssistantConfig) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=config.tls_ca_file)
