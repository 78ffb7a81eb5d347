"""Fuzzing every operation of every service with schemathesis, from its OpenAPI document.

For each operation, hypothesis generates valid requests (positive mode) and requests that
break the schema (negative mode) with a fixed seed and a bounded number of cases, sent with
the secretariat's token to the running services. Then, for every caller role, each valid
request is sent again with a NUL in each of its path and query parameters in turn (hypothesis
seldom makes one, and schemathesis never sends lone surrogates, which have no UTF-8 form: the
byte-level cases are in test_security_bad_input.py). Last, schemathesis' stateful phase chains
operations through the links it infers (an id one answer returns used by the next call).
Checks: no 5xx, and every response conforms to the schema the document declares for it
(status, content type, body).
"""

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import Role
from tests.support.api import add_action_line, create_plan
from tests.support.meetings import meeting_body, schedule
from tests.support.notifications import new_delegation, register_endpoint, subscribe
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
ROLES = {
    "secretariat": lambda: token(Role.SECRETARIAT),
    "delegation": lambda: token(Role.DELEGATION, "VNM"),
    "viewer": lambda: token(Role.VIEWER),
}
# Valid requests per operation that get their NUL variants, per role.
NUL_CASES = int(os.environ.get("ACCORD_FUZZ_NUL_CASES", "5"))
# Stateful phase: scenarios, and steps per scenario.
STATEFUL_SCENARIOS = int(os.environ.get("ACCORD_FUZZ_SCENARIOS", "30"))
STATEFUL_STEPS = 8


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    call: Callable[[Any], None],
    failures: list[str],
    cases: int = CASES,
) -> int:
    ran = 0

    @seed(SEED)
    @settings(
        max_examples=cases,
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


def _with_a_nul(case: Any) -> Iterator[Any]:
    """The case again with a NUL inside each of its path and query parameters in turn."""
    for name, value in case.path_parameters.items():
        variant = case.derive()
        variant.path_parameters[name] = f"{value}\x00"
        yield variant
    for name, value in case.query.items():
        yield case.derive(query={**case.query, name: f"{value}\x00"})


def _schema_as(base: str, role: str) -> Any:
    """The service's schema whose cases carry the role's token (schemathesis' own auth: the
    stateful phase does not send a session's headers)."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")

    @schema.auth()
    class Bearer:
        def get(self, case: Any, context: Any) -> str:
            return ROLES[role]()

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers["Authorization"] = f"Bearer {data}"

    return schema


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_nul_in_any_path_or_query_parameter_is_no_server_error_for_any_role(
    services: Services, service: str, role: str
) -> None:
    base = services.url(service)
    schema = _schema_as(base, role)
    session = requests.Session()
    sent = 0

    def call(case: Any) -> None:
        nonlocal sent
        for variant in _with_a_nul(case):
            variant.call_and_validate(base_url=base, session=session, checks=CHECKS, timeout=30)
            sent += 1

    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if f"{operation.method.upper()} {operation.path}" not in SKIPPED:
            _fuzz_operation(operation, GenerationMode.POSITIVE, call, failures, NUL_CASES)
    print(f"schemathesis, {service} as {role}: {sent} requests with a NUL in a parameter")
    assert sent > 0
    assert not failures, "\n\n".join(failures)


async def _seed(services: Services, service: str) -> None:
    """A few objects for the lists to return, so that links from a list to its items apply."""
    secretariat = {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}
    base = services.url(service)
    async with httpx.AsyncClient(timeout=30) as http:
        if service == "plans":
            plan = await create_plan(http, base, secretariat)
            await add_action_line(http, base, secretariat, plan["id"])
        elif service == "meetings":
            await schedule(http, base, secretariat, meeting_body("Seed", "2030-09-15T09:00:00Z"))
        else:
            code = await new_delegation(http, base, secretariat)
            await register_endpoint(http, base, code, "http://127.0.0.1:9/hook")
            await subscribe(http, base, code, "tag", "seed")  # any tag; a plan must exist


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_stateful_phase_finds_no_server_error(services: Services, service: str) -> None:
    asyncio.run(_seed(services, service))
    base = services.url(service)
    schema = _schema_as(base, "secretariat")
    session = requests.Session()
    steps = linked = 0
    failures: list[str] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:
            nonlocal steps, linked
            steps += 1
            linked += input.transition is not None and input.is_applied
            return super().step(input)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "session": session, "timeout": 30}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{case.operation.label}: {str(exc)[:2000]}")
                raise

    # Which rules hypothesis may pick depends on what the API answered (the links' data), and
    # the API's state moves on between runs: replaying a scenario can take another path, and
    # hypothesis calls that flaky and stops. Failures are recorded as they happen (as
    # schemathesis' own runner does), so none is lost by stopping there.
    with contextlib.suppress(Flaky):
        Machine.run(
            settings=settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=STATEFUL_STEPS,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
        )
    print(
        f"schemathesis stateful, {service}: {steps} steps in up to {STATEFUL_SCENARIOS}"
        f" scenarios, {linked} of them using a value an earlier answer returned"
    )
    assert steps > 0
    assert not failures, "\n\n".join(failures)
