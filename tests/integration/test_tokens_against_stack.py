"""Tokens against the running services (EdDSA, checked against the suite's JWKS document):
each refusal is a 401 problem document from every service, and two keys are valid at once
while one replaces the other."""

from datetime import timedelta

import httpx
import pytest

from shared.config import DEVELOPMENT_JWT_SECRET
from shared.signing_keys import SigningKey, add_key, remove_key
from shared.tokens import Role, SharedSecret, issue_token
from tests.support.stack import SERVICE_NAMES, SIGNING_KEY, Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# A list every role may read, per service.
READ_PATH = {"plans": "/plans", "meetings": "/meetings", "notifications": "/delegations"}


async def _status(http: httpx.AsyncClient, services: Services, service: str, bearer: str) -> int:
    response = await http.get(
        services.url(service) + READ_PATH[service], headers={"Authorization": f"Bearer {bearer}"}
    )
    if response.status_code == 401:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401
    return response.status_code


def _viewer(signer: SigningKey | SharedSecret = SIGNING_KEY, **claims: object) -> str:
    return issue_token(signer, subject="token-tests", role=Role.VIEWER, **claims)  # type: ignore[arg-type]


REFUSED = {
    "expired": lambda: _viewer(ttl=timedelta(minutes=-5)),
    "key not in the JWKS": lambda: _viewer(SigningKey.generate()),
    "lifetime over the maximum": lambda: _viewer(ttl=timedelta(hours=13)),
    "wrong issuer": lambda: _viewer(issuer="not-accord"),
    "HS256": lambda: _viewer(SharedSecret(DEVELOPMENT_JWT_SECRET)),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_every_service_refuses_the_token(
    services: Services, http: httpx.AsyncClient, case: str
) -> None:
    bearer = REFUSED[case]()
    assert {name: await _status(http, services, name, bearer) for name in SERVICE_NAMES} == {
        name: 401 for name in SERVICE_NAMES
    }


async def test_a_token_is_taken_only_by_the_services_it_names(
    services: Services, http: httpx.AsyncClient
) -> None:
    for_meetings = _viewer(audiences=("accord-meetings",))
    assert {name: await _status(http, services, name, for_meetings) for name in SERVICE_NAMES} == {
        "plans": 401,
        "meetings": 200,
        "notifications": 401,
    }
    for_two = _viewer(audiences=("accord-plans", "accord-notifications"))
    assert {name: await _status(http, services, name, for_two) for name in SERVICE_NAMES} == {
        "plans": 200,
        "meetings": 401,
        "notifications": 200,
    }


async def test_two_keys_are_valid_while_one_replaces_the_other(
    services: Services, http: httpx.AsyncClient
) -> None:
    """Rotation: a new key is added to the document, tokens of both keys are taken; once the
    new key is removed, its tokens are refused again (services read the document anew)."""
    jwks = services.infra.jwks_path
    new = SigningKey.generate()
    by_old, by_new = _viewer(SIGNING_KEY), _viewer(new)
    assert await _status(http, services, "plans", by_new) == 401
    add_key(jwks, new)
    try:
        for name in SERVICE_NAMES:
            assert (await _status(http, services, name, by_new), name) == (200, name)
            assert (await _status(http, services, name, by_old), name) == (200, name)
    finally:
        remove_key(jwks, new.kid)

    async def refused_everywhere() -> bool:
        statuses = [await _status(http, services, name, by_new) for name in SERVICE_NAMES]
        return statuses == [401] * len(SERVICE_NAMES)

    await eventually(refused_everywhere, what="the removed key's token refused by every service")
    assert await _status(http, services, "plans", by_old) == 200
