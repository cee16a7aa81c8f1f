"""The platform API against its own OpenAPI document: schemathesis generates valid and
invalid requests for each new operation, with an administrator's token, and applies every
check it has: no server error, status codes, media types (problem+json for every error),
headers and bodies as documented, invalid data rejected. A real uvicorn serves the API over
real parts (tests/unit/api/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2 as httpx
import pytest
import schemathesis
from schemathesis import GenerationMode

from tests.services.openapi_fuzz import check_operation
from tests.unit.api.served import Served, served

EXAMPLES = 15
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
CONFIG = schemathesis.Config.from_dict(
    {
        # The token goes by the document's security scheme, so that a case without it (a
        # negative one) goes without it.
        "auth": {"openapi": {"HTTPBearer": {"bearer": "admin-token"}}},
        "checks": {
            # Valid by the schema, refused by state it cannot state: an unknown id (404), a
            # taken one (409), a tender the CTS codec or the market refuses (422).
            "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422"]},
            "negative_data_rejection": {"expected-statuses": REJECTIONS},
        },
    }
)

OPERATIONS = [
    "GET /api/v1/network",
    "GET /api/v1/network/graph",
    "GET /api/v1/network/nodes",
    "GET /api/v1/network/nodes/{node_id}",
    "GET /api/v1/network/branches",
    "GET /api/v1/network/branches/{branch_id}",
    "GET /api/v1/network/estimate",
    "GET /api/v1/areas",
    "GET /api/v1/areas/{element}",
    "GET /api/v1/markets",
    "GET /api/v1/markets/{market_id}",
    "GET /api/v1/markets/{market_id}/book",
    "POST /api/v1/markets/{market_id}/tenders",
    "GET /api/v1/markets/{market_id}/tenders",
    "GET /api/v1/markets/{market_id}/tenders/{tender_id}",
    "DELETE /api/v1/markets/{market_id}/tenders/{tender_id}",
    "GET /api/v1/markets/{market_id}/transactions",
    "GET /api/v1/markets/{market_id}/positions",
    "GET /api/v1/markets/{market_id}/quotes",
    "POST /api/v1/markets/{market_id}/rfqs",
    "POST /api/v1/markets/{market_id}/quotes",
    "GET /api/v1/markets/{market_id}/quotes/{quote_id}",
    "POST /api/v1/markets/{market_id}/quotes/{quote_id}/acceptances",
    "DELETE /api/v1/markets/{market_id}/quotes/{quote_id}",
    "GET /api/v1/ledger",
    "GET /api/v1/ledger/verification",
    "GET /api/v1/series",
    "GET /api/v1/series/data",
    "POST /api/v1/edcs",
    "GET /api/v1/optimizations",
    "GET /api/v1/buildings",
    "GET /api/v1/buildings/{building_id}",
    "GET /api/v1/buildings/{building_id}/plan",
    "GET /api/v1/buildings/{building_id}/report",
    "GET /api/v1/buildings/{building_id}/devices",
    "GET /api/v1/buildings/{building_id}/devices/{device_id}",
    "POST /api/v1/buildings/{building_id}/devices/{device_id}/commands",
    # Runs are checked and queued, never played: no worker serves this job store.
    "POST /api/v1/studies",
    "GET /api/v1/studies",
    "GET /api/v1/studies/{study_id}",
    "DELETE /api/v1/studies/{study_id}",
    "GET /api/v1/studies/{study_id}/report",
    "GET /api/v1/studies/{study_id}/data/{table}",
]
# Resources that exist (the one market, a building and its battery, a queued study and its
# table): their checks, not a 404, answer.
FIXED = {"market_id": "m1", "building_id": "b-alice", "device_id": "battery", "table": "grid"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("platform")) as server:
        yield server


@pytest.fixture(scope="module")
def queued_study(api: Served) -> str:
    """A study queued (never played: no worker serves the fuzz's job store)."""
    answer = httpx.post(
        f"{api.url}/api/v1/studies",
        json={"bundled": "small"},
        headers={"Authorization": "Bearer admin-token", "Idempotency-Key": "fuzz-study"},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


@pytest.fixture(scope="module")
def api_schema(api: Served) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api.url}/api/v1/openapi.json", config=CONFIG)


def test_the_schema_lists_the_new_operations(api_schema: schemathesis.BaseSchema) -> None:
    found = {result.ok().label for result in api_schema.get_all_operations()}
    assert set(OPERATIONS) <= found


CASES = [
    (label, mode)
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_operation_meets_every_check(
    api_schema: schemathesis.BaseSchema, queued_study: str, label: str, mode: GenerationMode
) -> None:
    positive = mode is GenerationMode.POSITIVE  # an invalid one may be the mutated part
    existing = {**FIXED, "study_id": queued_study}
    fixed = {k: v for k, v in existing.items() if "{" + k + "}" in label and positive}
    check_operation(api_schema, label, mode, examples=EXAMPLES, path_parameters=fixed or None)
