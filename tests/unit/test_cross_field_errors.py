"""A 422 for a rule across fields names the field at fault (``body.valid_to``), as the
documented error format promises, not the whole body."""

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.notifications.schemas import MembershipCreate, SubscriptionCreate
from services.plans.schemas import PlanCreate
from shared.problems import install_problem_handlers

REPO = Path(__file__).resolve().parents[2]


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    for path, model in (
        ("/memberships", MembershipCreate),
        ("/subscriptions", SubscriptionCreate),
        ("/plans", PlanCreate),
    ):

        def route(body: model) -> None:  # type: ignore[valid-type]
            return None

        app.post(path)(route)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/memberships",
            {"delegation": "VNM", "valid_from": "2020-01-01", "valid_to": "2019-12-31"},
            "body.valid_to",
        ),
        (
            "/subscriptions",
            {"delegation": "VNM", "target_kind": "action_line", "target_key": "1.2.3"},
            "body.target_key",
        ),
        (
            "/plans",
            {
                "code": "P",
                "title": "T",
                "partners": ["UN"],
                "period_start": "2021-01-01",
                "period_end": "2020-12-31",
            },
            "body.period_end",
        ),
    ],
)
async def test_a_rule_across_fields_names_the_field_at_fault(
    client: httpx.AsyncClient, path: str, body: dict, field: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]


def test_no_model_validator_of_a_service_refuses_the_whole_body() -> None:
    """A model validator sees several fields; refusing with a plain ValueError would locate
    the fault on the whole model. Each must raise FieldFault naming its field."""
    offenders = []
    for path in sorted(REPO.glob("services/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or not any(
                "model_validator" in ast.unparse(d) for d in node.decorator_list
            ):
                continue
            for raised in ast.walk(node):
                if not isinstance(raised, ast.Raise) or raised.exc is None:
                    continue
                if "FieldFault" not in ast.unparse(raised.exc):
                    offenders.append(f"{path.relative_to(REPO)}:{raised.lineno}")
    assert offenders == []
