"""The platform API through a real uvicorn: an authenticated request over TCP, and live
events as server-sent events, each party seeing only its own transactions."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx2 as httpx

from tests.unit.api.conftest import bearer, tender_body
from tests.unit.api.served import Served, served


class Listener:
    """Reads one SSE stream in a thread: the events as (name, data) pairs."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []
        self.opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()
        assert self.opened.wait(5), "the stream did not open"

    def _read(self, url: str, token: str) -> None:
        name = ""
        with httpx.stream("GET", f"{url}/api/v1/events", headers=bearer(token), timeout=10) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                self.opened.set()
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.append((name, json.loads(line.removeprefix("data: "))))
                    if name == "grid.estimate":
                        return

    def wait(self, timeout: float = 5) -> list[tuple[str, dict[str, object]]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"no end of stream: {self.events}"
        return self.events


def tender(server: Served, token: str, body: dict[str, object], key: str) -> httpx.Response:
    headers = {**bearer(token), "Idempotency-Key": key}
    return httpx.post(f"{server.url}/api/v1/markets/m1/tenders", json=body, headers=headers)


def test_events_reach_only_their_party_over_a_real_server(tmp_path: Path) -> None:
    started = time.monotonic()
    with served(tmp_path) as server:
        refused = httpx.get(f"{server.url}/api/v1/network")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="osed"'
        ok = httpx.get(f"{server.url}/api/v1/network", headers=bearer("viewer-token"))
        assert ok.status_code == 200

        alice = Listener(server.url, "alice-token")
        bob = Listener(server.url, "bob-token")
        viewer = Listener(server.url, "viewer-token")
        assert (
            tender(server, "bob-token", tender_body("s1", "SELL", 1000, 4000), "s").status_code
            == 201
        )
        assert (
            tender(server, "alice-token", tender_body("b1", "BUY", 2000, 3000), "b").status_code
            == 201
        )
        again = tender(server, "alice-token", tender_body("b1", "BUY", 2000, 3000), "b")
        assert again.headers["idempotent-replayed"] == "true"
        hub = server.platform.app.state.events
        deadline = time.monotonic() + 5
        while hub.last_id < 2:  # one transaction for each side, delivered by the bus
            assert time.monotonic() < deadline, "no transaction events"
            time.sleep(0.01)
        server.call(hub.publish, "grid.estimate", "se/summary", b'{"status":"ok"}', None)

        for listener, party in ((alice, "alice"), (bob, "bob")):
            events = listener.wait()
            assert [name for name, _ in events] == ["market.transaction", "grid.estimate"]
            assert events[0][1]["topic"] == f"cts/m1/transactions/{party}"
            body = events[0][1]["body"]
            assert isinstance(body, dict)
            assert body["partyId"] == party
        assert [name for name, _ in viewer.wait()] == ["grid.estimate"]
    assert time.monotonic() - started < 15
