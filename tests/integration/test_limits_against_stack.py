"""Rate limits, caps per delegation and the documentation switch, against service processes
started with small limits (or in production mode) beside the suite's.

Limits refill at one request per 1,000 s, so that nothing comes back during a test however
slow the machine; each test sends from a loopback address of its own (127.0.0.x), so that
the per-address buckets of one test do not touch another's.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from deploy.local.processes import free_port
from deploy.local.proxy import Proxy
from shared.tokens import Role, issue_token
from tests.support.notifications import headers_of, new_delegation
from tests.support.stack import SIGNING_KEY, Infrastructure, Services, isolated_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SLOW_REFILL = "0.001"  # one request every 1,000 s
ADDRESS_BURST = 6
SUBJECT_BURST = 3
CAP_STREAMS = "open_streams_per_delegation"


@pytest.fixture(scope="module")
def limited_plans(infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {
        "ACCORD_RATE_LIMIT_ADDRESS_PER_SECOND": SLOW_REFILL,
        "ACCORD_RATE_LIMIT_ADDRESS_BURST": str(ADDRESS_BURST),
        "ACCORD_RATE_LIMIT_SUBJECT_PER_SECOND": SLOW_REFILL,
        "ACCORD_RATE_LIMIT_SUBJECT_BURST": str(SUBJECT_BURST),
    }
    with isolated_service(infra, tmp_path_factory.mktemp("limits"), "plans", settings) as url:
        yield url


@pytest.fixture(scope="module")
def plans_behind_proxy(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A plans process with small address limits that trusts the loopback HAProxy in front of
    it, as the local stack's do: (through the proxy, direct)."""
    settings = {
        "ACCORD_RATE_LIMIT_ADDRESS_PER_SECOND": SLOW_REFILL,
        "ACCORD_RATE_LIMIT_ADDRESS_BURST": str(ADDRESS_BURST),
        "ACCORD_TRUSTED_PROXIES": "127.0.0.1",
    }
    runtime = tmp_path_factory.mktemp("behind-proxy")
    with isolated_service(infra, runtime, "plans", settings) as url:
        proxy = Proxy(runtime, free_port(), free_port())
        proxy.configure({"plans": [("plans-1", urlsplit(url).netloc)]})
        proxy.start()
        try:
            yield f"{proxy.url}/plans", url
        finally:
            proxy.stop()


def _from(address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (any 127.0.0.0/8 address is local)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(transport=transport, timeout=30)


def _assert_limited(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["limit"]["name"] == limit


def _bearer(subject: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {issue_token(SIGNING_KEY, subject=subject, role=Role.VIEWER)}"
    }


async def test_an_address_over_its_limit_gets_429_but_never_on_health(limited_plans: str) -> None:
    async with _from("127.0.0.3") as client:
        # Refused requests count too: a flood of bad tokens is throttled like any other.
        statuses = [(await client.get(f"{limited_plans}/plans")).status_code for _ in range(6)]
        assert statuses == [401] * ADDRESS_BURST
        _assert_limited(await client.get(f"{limited_plans}/plans"), "requests_per_address")
        assert (await client.get(f"{limited_plans}/healthz")).status_code == 200
        assert (await client.get(f"{limited_plans}/readyz")).status_code != 429
    async with _from("127.0.0.4") as other:
        assert (await other.get(f"{limited_plans}/plans")).status_code == 401


async def test_a_subject_over_its_limit_gets_429_whatever_its_address(limited_plans: str) -> None:
    first, second = _bearer("rate-first"), _bearer("rate-second")
    async with _from("127.0.0.5") as client:
        for _ in range(SUBJECT_BURST):
            assert (await client.get(f"{limited_plans}/plans", headers=first)).status_code == 200
    async with _from("127.0.0.6") as elsewhere:
        refused = await elsewhere.get(f"{limited_plans}/plans", headers=first)
        _assert_limited(refused, "requests_per_subject")
        assert (await elsewhere.get(f"{limited_plans}/plans", headers=second)).status_code == 200


# --- caps per delegation (notifications) ------------------------------------------------------

CAPS = {
    "NOTIFICATIONS_MAX_ENDPOINTS_PER_DELEGATION": "2",
    "NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_DELEGATION": "2",
    "NOTIFICATIONS_MAX_STREAMS_PER_DELEGATION": "1",
}


@pytest.fixture(scope="module")
def capped_notifications(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    runtime = tmp_path_factory.mktemp("caps")
    with isolated_service(infra, runtime, "notifications", CAPS) as url:
        yield url


@pytest.fixture
async def delegation(
    capped_notifications: str, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> AsyncIterator[str]:
    yield await new_delegation(http, capped_notifications, secretariat_headers)


def _assert_capped(response: httpx.Response, cap: str, limit: int) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["limit"] == {"name": cap, "limit": limit}


async def test_a_delegation_holds_at_most_the_cap_of_endpoints(
    capped_notifications: str, delegation: str, http: httpx.AsyncClient
) -> None:
    url = f"{capped_notifications}/endpoints"
    body = {"url": "http://127.0.0.1:9/hook"}
    created = [await http.post(url, json=body, headers=headers_of(delegation)) for _ in range(2)]
    assert [r.status_code for r in created] == [201, 201]
    _assert_capped(
        await http.post(url, json=body, headers=headers_of(delegation)),
        "webhook_endpoints_per_delegation",
        2,
    )
    # Removing one makes room again.
    removed = await http.delete(f"{url}/{created[0].json()['id']}", headers=headers_of(delegation))
    assert removed.status_code == 204
    again = await http.post(url, json=body, headers=headers_of(delegation))
    assert again.status_code == 201


async def test_a_delegation_holds_at_most_the_cap_of_subscriptions(
    capped_notifications: str, delegation: str, http: httpx.AsyncClient
) -> None:
    url = f"{capped_notifications}/subscriptions"
    bodies = [{"target_kind": "tag", "target_key": f"tag-{n}"} for n in range(3)]
    statuses = [
        (await http.post(url, json=body, headers=headers_of(delegation))).status_code
        for body in bodies[:2]
    ]
    assert statuses == [201, 201]
    _assert_capped(
        await http.post(url, json=bodies[2], headers=headers_of(delegation)),
        "subscriptions_per_delegation",
        2,
    )


async def test_a_delegation_holds_at_most_the_cap_of_open_streams(
    capped_notifications: str,
    delegation: str,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
) -> None:
    url = f"{capped_notifications}/stream"
    other = await new_delegation(http, capped_notifications, secretariat_headers)
    async with (
        httpx.AsyncClient(timeout=30) as first,
        first.stream("GET", url, headers=headers_of(delegation)) as opened,
    ):
        assert opened.status_code == 200
        _assert_limited(await http.get(url, headers=headers_of(delegation)), CAP_STREAMS)
        # The cap is per delegation: another one opens its own.
        async with http.stream("GET", url, headers=headers_of(other)) as its_own:
            assert its_own.status_code == 200

    async def reopens() -> bool:
        async with http.stream("GET", url, headers=headers_of(delegation)) as again:
            return again.status_code == 200

    # The service frees the slot once it notices the client has gone (its next keepalive).
    await eventually(reopens, what="a stream opened again once the first was closed")


# --- the documentation switch -----------------------------------------------------------------

DOC_PATHS = ("/docs", "/redoc", "/openapi.json")


async def test_development_serves_the_documentation(
    services: Services, http: httpx.AsyncClient
) -> None:
    for path in DOC_PATHS:
        assert (await http.get(services.url("meetings") + path)).status_code == 200, path


@pytest.fixture(scope="module")
def production_meetings(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    runtime = tmp_path_factory.mktemp("production")
    with isolated_service(infra, runtime, "meetings", {"ACCORD_ENVIRONMENT": "production"}) as url:
        yield url


async def test_production_serves_no_documentation_by_default(
    production_meetings: str, http: httpx.AsyncClient
) -> None:
    for path in DOC_PATHS:
        response = await http.get(production_meetings + path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    # The API itself is there.
    assert (await http.get(production_meetings + "/meetings")).status_code == 401


async def test_behind_the_proxy_each_client_has_its_own_address_limit(
    plans_behind_proxy: tuple[str, str],
) -> None:
    # Found from outside: behind HAProxy every client had the proxy's address, so one client
    # using up its limit had every other client refused too.
    proxied, _ = plans_behind_proxy
    async with _from("127.0.0.7") as greedy:
        for _ in range(ADDRESS_BURST):
            assert (await greedy.get(f"{proxied}/plans")).status_code == 401
        _assert_limited(await greedy.get(f"{proxied}/plans"), "requests_per_address")
    async with _from("127.0.0.8") as other:
        assert (await other.get(f"{proxied}/plans")).status_code == 401


async def test_a_forwarded_address_is_believed_only_from_the_proxy(
    plans_behind_proxy: tuple[str, str],
) -> None:
    _, direct = plans_behind_proxy
    async with _from("127.0.0.9") as client:
        for n in range(ADDRESS_BURST):
            forged = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            assert (await client.get(f"{direct}/plans", headers=forged)).status_code == 401
        forged = {"X-Forwarded-For": "203.0.113.99"}
        _assert_limited(await client.get(f"{direct}/plans", headers=forged), "requests_per_address")


async def _connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection to the local ``port`` from loopback address ``source``."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed_without_answer(port: int, source: str) -> bool:
    """Whether a connection from ``source`` is closed (at once or on its first request)
    without an answer."""
    try:
        reader, writer = await _connect(port, source)
    except ConnectionError:
        return True
    try:
        writer.write(b"GET /x HTTP/1.1\r\nHost: accord\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        answer = b""
    except TimeoutError:
        return False
    finally:
        writer.close()
    return answer == b""


async def test_one_client_cannot_hold_every_connection_of_the_proxy(tmp_path: Path) -> None:
    # Found from outside: HAProxy had no cap per client, so one client opening connections
    # and sending nothing could hold all of them and nobody else got in.
    proxy = Proxy(tmp_path, free_port(), free_port())
    proxy.configure({}, max_connections_per_client=3)  # no service: the proxy answers 404
    proxy.start()
    idle: list[asyncio.StreamWriter] = []
    try:
        for _ in range(3):
            _, writer = await _connect(proxy.port, "127.0.0.12")
            idle.append(writer)

        async def accepted() -> bool:  # by HAProxy, not only by the kernel's backlog
            async with httpx.AsyncClient() as stats:
                rows = (await stats.get(f"http://127.0.0.1:{proxy.stats_port}/;csv")).text
            return any(row.startswith("accord,FRONTEND,") and row.split(",")[4] == "3"
                       for row in rows.splitlines())  # fmt: skip

        await eventually(accepted, timeout=10, what="the three idle connections accepted")
        assert await _closed_without_answer(proxy.port, "127.0.0.12")
        async with _from("127.0.0.13") as other:
            assert (await other.get(f"{proxy.url}/x")).status_code == 404
    finally:
        for writer in idle:
            writer.close()
        proxy.stop()
