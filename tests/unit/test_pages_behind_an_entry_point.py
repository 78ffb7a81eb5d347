"""Behind an entry point that routes a path prefix to a service and removes it
(``<NAME>_ROOT_PATH``, docs/security.md), the briefing pages' links, redirects and cookie
carry the prefix the browser sees. In-process (no database: none of these reads one)."""

import uuid
from collections.abc import AsyncIterator

import aiokafka.client
import httpx
import pytest

from services.meetings.main import create
from shared.auth import Role
from shared.tokens import SharedSecret, issue_token

SECRET = "pages-behind-an-entry-point-0123456789abcdef"


@pytest.fixture
async def proxied(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    # Building the app wraps aiokafka's connections (shared.kafka_reconnect): undone after.
    monkeypatch.setattr(aiokafka.client, "create_conn", aiokafka.client.create_conn)
    monkeypatch.setenv("MEETINGS_DATABASE_URL", "postgresql+asyncpg://db/x")
    monkeypatch.setenv("ACCORD_JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("ACCORD_JWT_SECRET", SECRET)
    transport = httpx.ASGITransport(app=create(), root_path="/meetings")
    async with httpx.AsyncClient(transport=transport, base_url="http://entry.example") as client:
        yield client


async def test_links_redirects_and_the_cookie_carry_the_prefix(proxied: httpx.AsyncClient) -> None:
    page = f"/meetings/pages/meetings/{uuid.uuid4()}"
    answer = await proxied.get(page.removeprefix("/meetings"))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/meetings/pages/login?next={page}"

    form = await proxied.get("/pages/login", params={"next": page})
    assert 'href="/meetings/pages/static/pages.css"' in form.text
    assert 'action="/meetings/pages/login"' in form.text
    assert f'name="next" value="{page}"' in form.text

    token = issue_token(SharedSecret(SECRET), subject="officer", role=Role.VIEWER)
    signed = await proxied.post("/pages/login", data={"token": token, "next": page})
    assert (signed.status_code, signed.headers["location"]) == (303, page)
    assert "path=/meetings/pages;" in signed.headers["set-cookie"].lower()
    # A page of the service without its prefix is not one the browser can reach.
    elsewhere = await proxied.post("/pages/login", data={"token": token, "next": "/pages/"})
    assert elsewhere.headers["location"] == "/meetings/pages/"
