"""Signing in to the briefing pages (decision 34): a token posted once in a form becomes an
HttpOnly cookie for the pages only, checked like a bearer token on every page; the API never
takes the cookie. The pages themselves are checked in Chromium by test_story_end_to_end."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from shared.auth import Role
from shared.tokens import issue_token
from tests.support.stack import ISSUED_TOKENS, SIGNING_KEY, Services, token

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def meetings(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.url("meetings"), timeout=30) as client:
        yield client


async def test_a_page_without_a_sign_in_sends_the_browser_to_sign_in(
    meetings: httpx.AsyncClient,
) -> None:
    page = f"/pages/meetings/{uuid.uuid4()}"
    answer = await meetings.get(page)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/pages/login?next={page}"
    form = await meetings.get(answer.headers["location"])
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
    assert f'name="next" value="{page}"' in form.text
    assert "script-src" not in form.headers["content-security-policy"]  # none at all
    assert "default-src 'none'" in form.headers["content-security-policy"]


async def test_signing_in_keeps_the_token_in_an_httponly_cookie_for_the_pages_only(
    meetings: httpx.AsyncClient,
) -> None:
    viet_nam = token(Role.DELEGATION, "VNM")
    signed = await meetings.post(
        "/pages/login", content=f"token={viet_nam}&next=/pages/", headers=FORM
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/pages/"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"accord_pages_meetings={viet_nam};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/pages", "samesite=strict"} <= attributes
    assert viet_nam not in signed.headers["location"]

    jar = {"Cookie": f"accord_pages_meetings={viet_nam}"}
    index = await meetings.get("/pages/", headers=jar)
    assert index.status_code == 200, index.text
    assert index.headers["cache-control"] == "no-store"
    assert 'data-role="delegation"' in index.text and "VNM" in index.text
    # The API stays bearer-only: the cookie opens no API route.
    refused = await meetings.get("/meetings", headers=jar)
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "what",
    ["not a token", "another service's audience", "expired"],
)
async def test_a_token_the_api_would_refuse_signs_nobody_in(
    meetings: httpx.AsyncClient, what: str
) -> None:
    bad = {
        "not a token": "abc.def.ghi",
        "another service's audience": issue_token(
            SIGNING_KEY, subject="plans-only", role=Role.VIEWER, audiences=("accord-plans",)
        ),
        "expired": issue_token(
            SIGNING_KEY, subject="late", role=Role.VIEWER, ttl=timedelta(seconds=-120)
        ),
    }[what]
    ISSUED_TOKENS.add(bad)
    answer = await meetings.post("/pages/login", content=f"token={bad}&next=/pages/", headers=FORM)
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "data-error" in answer.text
    # Nor does it open a page when set as the cookie by hand: back to signing in.
    page = await meetings.get("/pages/", headers={"Cookie": f"accord_pages_meetings={bad}"})
    assert page.status_code == 303 and page.headers["location"].startswith("/pages/login")


async def test_signing_in_goes_back_to_a_page_of_this_service_only(
    meetings: httpx.AsyncClient,
) -> None:
    viewer = token(Role.VIEWER)
    for elsewhere in ("https://elsewhere.example/", "//elsewhere.example/pages/", "/meetings"):
        answer = await meetings.post("/pages/login", data={"token": viewer, "next": elsewhere})
        assert (answer.status_code, answer.headers["location"]) == (303, "/pages/"), elsewhere


async def test_a_sign_in_posted_from_another_site_is_refused(meetings: httpx.AsyncClient) -> None:
    answer = await meetings.post(
        "/pages/login",
        data={"token": token(Role.VIEWER), "next": "/pages/"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
