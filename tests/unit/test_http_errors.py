"""Problem details, body limits and auth on a small app built from the shared pieces."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import AnyPrincipal, Role, Secretariat
from shared.middleware import install_middleware
from shared.pagination import MAX_PAGE_SIZE, Cursor, Limit, decode_cursor, encode_cursor
from shared.problems import Conflict, install_problem_handlers
from shared.schemas import RequestModel
from shared.tokens import SecretKeySource, SharedSecret, TokenPolicy, TokenVerifier, issue_token

SECRET = "unit-test-secret-0123456789abcdef"


class Thing(RequestModel):
    name: str
    size: int


def _app() -> FastAPI:
    app = FastAPI()
    policy = TokenPolicy(
        issuer="accord", audience="accord-plans", max_lifetime_seconds=86400, leeway_seconds=0
    )
    app.state.token_verifier = TokenVerifier(SecretKeySource(SECRET), policy)
    install_problem_handlers(app)
    install_middleware(app, max_body_bytes=100)

    @app.post("/things")
    async def create(thing: Thing, principal: Secretariat) -> Thing:
        return thing

    @app.get("/conflict")
    async def conflict(principal: AnyPrincipal) -> None:
        raise Conflict("already there", allowed=["ongoing"])

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/page")
    async def page(cursor: Cursor = None, limit: Limit = 50) -> int | None:
        return decode_cursor(cursor)

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _auth(role: Role = Role.SECRETARIAT, delegation: str | None = None) -> dict[str, str]:
    bearer = issue_token(SharedSecret(SECRET), subject="t", role=role, delegation=delegation)
    return {"Authorization": f"Bearer {bearer}"}


async def test_a_validation_error_is_a_422_problem_naming_each_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/things", json={"name": "x", "size": "big", "colour": "red"}, headers=_auth()
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert {e["field"] for e in body["errors"]} == {"body.size", "body.colour"}


async def test_missing_and_insufficient_credentials_are_401_and_403(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.post("/things", json={"name": "x", "size": 1})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    viewer = await client.post("/things", json={"name": "x", "size": 1}, headers=_auth(Role.VIEWER))
    assert viewer.status_code == 403
    assert viewer.json()["detail"] == "only the secretariat may do this"


async def test_a_domain_conflict_is_a_409_problem_with_the_allowed_moves(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/conflict", headers=_auth(Role.DELEGATION, "VNM"))
    assert response.status_code == 409
    assert response.json()["allowed"] == ["ongoing"]


async def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.json()["detail"] == "an unexpected error occurred"


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_over_the_limit_is_refused_with_413_announced_or_not(
    client: httpx.AsyncClient,
) -> None:
    big = b'{"name": "' + b"x" * 200 + b'", "size": 1}'
    announced = await client.post(
        "/things", content=big, headers={**_auth(), "content-type": "application/json"}
    )
    assert announced.status_code == 413
    assert announced.headers["content-type"] == "application/problem+json"
    assert announced.json()["status"] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 50):
            yield big[start : start + 50]

    streamed = await client.post(
        "/things", content=chunks(), headers={**_auth(), "content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == "application/problem+json"


async def test_every_response_forbids_content_type_sniffing(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/nowhere"), await client.get("/boom")):
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    given = await client.get("/nowhere", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/nowhere", headers={"X-Request-ID": "no spaces allowed"})
    assert len(made.headers["x-request-id"]) == 32


async def test_a_cursor_round_trips_and_a_forged_one_is_a_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/page", params={"cursor": encode_cursor(42)})).json() == 42
    forged = await client.get("/page", params={"cursor": "!!!"})
    assert forged.status_code == 422
    assert forged.json()["errors"][0]["field"] == "query.cursor"


async def test_a_page_larger_than_the_maximum_is_a_422_on_limit(client: httpx.AsyncClient) -> None:
    assert (await client.get("/page", params={"limit": MAX_PAGE_SIZE})).status_code == 200
    response = await client.get("/page", params={"limit": MAX_PAGE_SIZE + 1})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.limit"
