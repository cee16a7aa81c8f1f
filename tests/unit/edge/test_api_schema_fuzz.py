"""The EDC API against its own OpenAPI document: schemathesis generates valid and invalid
requests for every operation and applies every check it has (no server error, status codes,
media types and bodies as documented, invalid data rejected). A real uvicorn serves the API
over a manager on a memory bus with an SQLite state store and the test function, and a grid
intelligence's decision log with a few decisions in it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
import schemathesis
import uvicorn
from schemathesis import GenerationMode

from osed.bus.memory import MemoryBus
from osed.edge.api import create_app
from osed.edge.manager import EdcManager
from osed.storage.edc_sqlite import SqliteEdcStateStore
from osed.storage.intelligence_sqlite import SqliteDecisionStore
from tests.services.brokers import free_port
from tests.services.openapi_fuzz import check_operation
from tests.unit.edge import probe

EXAMPLES = 25
# Valid by the schema but refused by state the schema cannot state: an EDC or function that
# does not exist (404), one that exists already (409), parameters the manifest refuses (422).
# Invalid data may also be refused as too large (413) before it is read: the test app takes
# bodies up to 64 KiB, and a list beyond its maxItems is that large.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422"]},
            "negative_data_rejection": {"expected-statuses": REJECTIONS},
        }
    }
)


class _StartedMemoryBus(MemoryBus):
    """A memory bus that is up from the start: the app's lifespan starts only the manager."""

    def __init__(self) -> None:
        super().__init__()
        self._started = True


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("edc") / "edc.sqlite"
    port = free_port()
    servers: list[uvicorn.Server] = []

    def serve() -> None:  # the store's connection belongs to the server's thread
        with SqliteEdcStateStore(path) as store, SqliteDecisionStore(path) as decisions:
            for k in range(3):
                document = f'{{"action":"ignore","area":"l{k}","reason":"test"}}'.encode()
                decisions.append(datetime(2026, 1, 1, tzinfo=UTC), f"l{k}", "ignore", document)
            manager = EdcManager(
                _StartedMemoryBus(),
                store,
                control_cycle=timedelta(hours=1),
                load_function=probe.load_function,
                function_names=probe.function_names,
            )
            app = create_app(
                manager, max_request_bytes=64 * 1024, run_manager=True, decisions=decisions
            )
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
            servers.append(uvicorn.Server(config))
            asyncio.run(servers[0].serve())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (servers and servers[0].started):
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        servers[0].should_exit = True
        thread.join()


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json", config=CONFIG)


def operations(schema: schemathesis.BaseSchema) -> list[str]:
    return sorted(result.ok().label for result in schema.get_all_operations())


OPERATIONS = [
    "DELETE /api/v1/edcs/{edc_id}",
    "DELETE /api/v1/edcs/{edc_id}/buildings/{building_id}",
    "DELETE /api/v1/edcs/{edc_id}/functions/{name}",
    "GET /api/v1/edcs",
    "GET /api/v1/edcs/{edc_id}",
    "GET /api/v1/edcs/{edc_id}/aggregate",
    "GET /api/v1/edcs/{edc_id}/functions/{name}",
    "GET /api/v1/edcs/{edc_id}/grid-state",
    "GET /api/v1/grid-functions",
    "GET /api/v1/grid-intelligence/decisions",
    "GET /healthz",
    "POST /api/v1/edcs",
    "POST /api/v1/edcs/{edc_id}/buildings",
    "POST /api/v1/edcs/{edc_id}/buildings/batch",
    "POST /api/v1/edcs/{edc_id}/functions/{name}",
    "PUT /api/v1/edcs/{edc_id}/grid-state",
]


def test_the_schema_lists_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    assert operations(api_schema) == OPERATIONS


CASES = [
    (label, mode)
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not label.startswith("GET")
    or mode is GenerationMode.POSITIVE
    or "{" in label
    or label.endswith("/decisions")  # its query can be invalid
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_operation_meets_every_check(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    check_operation(api_schema, label, mode, examples=EXAMPLES)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_a_put_grid_state_on_an_existing_edc_meets_every_check(
    api_url: str, api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    """The body is what varies: the EDC exists, so its checks (not a 404) answer."""
    created = httpx.post(
        f"{api_url}/api/v1/edcs",
        json={"id": "fuzz", "element": "trafo-1"},
        headers={"Idempotency-Key": "fuzz-grid-state"},
    )
    assert created.status_code in (200, 201), created.text
    check_operation(
        api_schema,
        "PUT /api/v1/edcs/{edc_id}/grid-state",
        mode,
        examples=4 * EXAMPLES,
        path_parameters={"edc_id": "fuzz"},
    )
