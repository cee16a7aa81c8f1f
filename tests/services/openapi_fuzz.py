"""An API against its own OpenAPI document, for the schemathesis tests: every check
schemathesis has, on generated requests of one operation."""

from __future__ import annotations

import time

import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()
EVERY_CHECK = CHECKS.get_all()


def wait_started(server: uvicorn.Server, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)


def check_operation(
    schema: schemathesis.BaseSchema,
    label: str,
    mode: GenerationMode,
    *,
    examples: int,
    path_parameters: dict[str, str] | None = None,
) -> None:
    """``examples`` generated requests of the operation ``label``, each with every check;
    ``path_parameters`` fixes some (a resource that exists, so its body is what is tried)."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        if path_parameters:
            case.path_parameters = {**(case.path_parameters or {}), **path_parameters}
        case.call_and_validate(checks=EVERY_CHECK)

    check()
