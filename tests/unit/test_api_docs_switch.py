"""/docs, /redoc and /openapi.json: served in development, not in production, unless
ACCORD_API_DOCS says otherwise. Against a running production service:
tests/integration/test_limits_against_stack.py."""

import aiokafka.client
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from services.meetings.main import create
from tests.support.production import authenticated_kafka

DOC_PATHS = {"/docs", "/redoc", "/openapi.json"}


def _served(monkeypatch: pytest.MonkeyPatch, environment: str, switch: str | None) -> set[str]:
    # Building the app wraps aiokafka's connections (shared.kafka_reconnect): undone after.
    monkeypatch.setattr(aiokafka.client, "create_conn", aiokafka.client.create_conn)
    monkeypatch.setenv("ACCORD_ENVIRONMENT", environment)
    monkeypatch.setenv("MEETINGS_DATABASE_URL", "postgresql+asyncpg://db/x")
    # Production also needs an authenticated broker (tests/unit/test_production_secrets.py).
    authenticated_kafka(monkeypatch, user="meetings")
    if switch is None:
        monkeypatch.delenv("ACCORD_API_DOCS", raising=False)
    else:
        monkeypatch.setenv("ACCORD_API_DOCS", switch)
    paths = {
        r.path for r in create().routes if isinstance(r, Route) and not isinstance(r, APIRoute)
    }
    return paths & DOC_PATHS


@pytest.mark.parametrize(
    ("environment", "switch", "served"),
    [
        ("development", None, DOC_PATHS),
        ("production", None, set()),
        ("production", "true", DOC_PATHS),
        ("development", "false", set()),
    ],
)
def test_the_documentation_follows_the_environment_and_the_switch(
    monkeypatch: pytest.MonkeyPatch, environment: str, switch: str | None, served: set[str]
) -> None:
    assert _served(monkeypatch, environment, switch) == served
