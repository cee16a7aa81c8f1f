"""The balancer API against its own OpenAPI document: schemathesis generates valid and
invalid requests for every operation (bodies included) and applies every check it has: no
server error, every status code, media type, header and body as documented, invalid data
rejected, valid data accepted. A real uvicorn serves the API with a real SQLite job store
and a worker process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from schemathesis import GenerationMode

from osed.optimizer_service.app import create_app
from osed.optimizer_service.workers import WorkerPool
from osed.storage.jobs_sqlite import SqliteJobStore
from tests.services.brokers import free_port
from tests.services.openapi_fuzz import check_operation, wait_started

EXAMPLES = 60
# A request body valid by the schema may still break a rule across fields that JSON Schema
# cannot state (one value per step, the prices a cost objective needs, one battery for the
# rules): that body is answered 422 with the problems, which counts as accepting valid data.
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-name": "POST /optimizations",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "409", "422"]}
                },
            },
            {
                # A cursor is opaque: any text fits the schema, only one the API gave is taken.
                "include-name": "GET /optimizations",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422"]}},
            },
        ]
    }
)


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("api") / "jobs.sqlite"

    def open_store() -> SqliteJobStore:
        return SqliteJobStore(path)

    pool = WorkerPool(open_store, workers=1, poll_s=0.05)
    pool.start()
    port = free_port()
    app = create_app(open_store, max_time_limit_s=5.0, max_request_bytes=64 * 1024)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_started(server)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        pool.stop()


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json", config=CONFIG)


OPERATIONS = [
    "POST /optimizations",
    "GET /optimizations",
    "GET /optimizations/{job_id}",
    "GET /optimizations/{job_id}/result",
    "POST /optimizations/{job_id}/cancel",
    "GET /healthz",
]


def test_the_schema_lists_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    found = {result.ok().label for result in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


CASES = [
    (label, mode)
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if label != "GET /healthz" or mode is GenerationMode.POSITIVE  # nothing there to break
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_operation_meets_every_check(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    check_operation(api_schema, label, mode, examples=EXAMPLES)
