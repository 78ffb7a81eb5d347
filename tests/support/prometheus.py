"""A real Prometheus for the integration tests, scraping the suite's services every second and
evaluating the alert rules of deploy/prometheus/ every second, and its HTTP API."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from deploy.local.processes import free_port
from deploy.local.prometheus import Prometheus
from tests.support.stack import Services

# Short enough that a test sees a change within seconds; the rules' own windows are unchanged.
SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"


@contextmanager
def prometheus_for(services: Services) -> Iterator[Prometheus]:
    server = Prometheus(services.infra.runtime_dir, free_port())
    targets = {name: [f"127.0.0.1:{port}"] for name, port in services.ports.items()}
    server.start(targets, scrape_interval=SCRAPE_INTERVAL, evaluation_interval=EVALUATION_INTERVAL)
    try:
        yield server
    finally:
        server.stop()


async def query(http: httpx.AsyncClient, server: Prometheus, promql: str) -> list[dict[str, Any]]:
    """The instant vector of a query (fails on any error: a query Prometheus refuses)."""
    response = await http.get(f"{server.url}/api/v1/query", params={"query": promql})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def total(http: httpx.AsyncClient, server: Prometheus, promql: str) -> float:
    """The sum of a query's values (0 when it has none)."""
    return sum(float(sample["value"][1]) for sample in await query(http, server, promql))


async def alerts(http: httpx.AsyncClient, server: Prometheus) -> list[dict[str, Any]]:
    response = await http.get(f"{server.url}/api/v1/alerts")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return found


async def firing(
    http: httpx.AsyncClient, server: Prometheus, alertname: str, *labels: str
) -> set[tuple[str, ...]]:
    """The values of ``labels`` of each firing alert named ``alertname``."""
    return {
        tuple(alert["labels"][label] for label in labels)
        for alert in await alerts(http, server)
        if alert["labels"]["alertname"] == alertname and alert["state"] == "firing"
    }
