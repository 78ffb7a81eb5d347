"""Fuzzing every operation of every service with schemathesis, from its OpenAPI document.

For each operation, hypothesis generates valid requests (positive mode) and requests that
break the schema (negative mode) with a fixed seed and a bounded number of cases, sent with
the secretariat's token to the running services. Checks: no 5xx, and every response
conforms to the schema the document declares for it (status, content type, body).
"""

import os
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import Role
from tests.support.stack import SERVICE_NAMES, Services, token

pytestmark = pytest.mark.integration

# Cases per operation and mode; ACCORD_FUZZ_CASES raises it for a longer run by hand.
CASES = int(os.environ.get("ACCORD_FUZZ_CASES", "30"))
SEED = 20200915
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# The live stream never ends; its authorisation is covered by the matrix.
SKIPPED = {"GET /stream"}


def _fuzz_operation(
    operation: Any, mode: GenerationMode, call: Callable[[Any], None], failures: list[str]
) -> int:
    ran = 0

    @seed(SEED)
    @settings(
        max_examples=CASES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        call(case)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to send wrong
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is the latter
        failures.append(f"{operation.label} ({mode.value}): {str(exc)[:2000]}")
    return ran


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_fuzzing_finds_no_server_error_and_no_response_off_its_schema(
    services: Services, service: str
) -> None:
    base = services.url(service)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token(Role.SECRETARIAT)}"

    def call(case: Any) -> None:
        case.call_and_validate(base_url=base, session=session, checks=CHECKS, timeout=30)

    failures: list[str] = []
    cases = operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if f"{operation.method.upper()} {operation.path}" in SKIPPED:
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases += _fuzz_operation(operation, mode, call, failures)
    print(f"schemathesis, {service}: {cases} cases over {operations} operations")
    assert not failures, "\n\n".join(failures)
