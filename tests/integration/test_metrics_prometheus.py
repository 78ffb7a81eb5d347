"""Metrics through a real Prometheus: it scrapes every service, one status change shows in its
HTTP API at each stage (request, relay, consumers, webhook), a poison message fires the
dead-letter alert, every scrape passes ``promtool check metrics``, and every query of the
Grafana dashboard and of the alert rules names a metric the services export."""

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy.local.prometheus import Prometheus, rule_files
from shared.topics import PLANS_EVENTS
from tests.support.api import add_action_line, create_plan
from tests.support.kafka import produce
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.prometheus import firing, prometheus_for, query, total
from tests.support.receiver import Answer, Receiver
from tests.support.stack import SERVICE_NAMES, Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "accord-pipeline.json"
STATUS_ROUTE = "/action-lines/{line_id}/status"
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


@pytest.fixture(scope="module")
def prometheus(services: Services) -> Iterator[Prometheus]:
    with prometheus_for(services) as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


async def _scrape(http: httpx.AsyncClient, services: Services, name: str) -> str:
    response = await http.get(f"{services.url(name)}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def _a_line_followed_by_webhook(
    services: Services, http: httpx.AsyncClient, secretariat: dict[str, str], receiver: Receiver
) -> tuple[dict[str, Any], str]:
    """An action line, and a delegation whose webhook endpoint (a path of ``receiver``)
    follows it."""
    plans, notifications = services.url("plans"), services.url("notifications")
    plan = await create_plan(http, plans, secretariat)
    line = await add_action_line(http, plans, secretariat, plan["id"])
    code = await new_delegation(http, notifications, secretariat)
    path = f"/hooks/{code}"
    endpoint = await register_endpoint(http, notifications, code, receiver.url(path))
    receiver.route(path, endpoint["secret"])
    await subscribe(http, notifications, code, "action_line", line["id"])
    return line, path


async def _change_status(
    services: Services, http: httpx.AsyncClient, secretariat: dict[str, str], line: dict
) -> None:
    response = await http.patch(
        f"{services.url('plans')}/action-lines/{line['id']}/status",
        json={"status": "ongoing", "expected_version": line["version"]},
        headers=secretariat,
    )
    assert response.status_code == 200, response.text


async def test_prometheus_scrapes_every_service(
    prometheus: Prometheus, http: httpx.AsyncClient
) -> None:
    async def every_target_up() -> bool:
        up = await query(http, prometheus, "up")
        return sorted((s["metric"]["job"], s["value"][1]) for s in up) == [
            (name, "1") for name in sorted(SERVICE_NAMES)
        ]

    await eventually(every_target_up, what="every service's target up")


async def test_every_service_froze_its_startup_objects_and_times_its_collections(
    prometheus: Prometheus, http: httpx.AsyncClient
) -> None:
    """shared/collector.py: a full collection would walk what start-up made (over 100,000
    objects, 70-100 ms each time) unless it is frozen."""

    async def frozen_everywhere() -> dict[str, float] | None:
        found = await query(http, prometheus, "accord_gc_frozen_objects")
        frozen = {s["metric"]["job"]: float(s["value"][1]) for s in found}
        return frozen if sorted(frozen) == sorted(SERVICE_NAMES) else None

    frozen = await eventually(frozen_everywhere, what="every service's frozen objects")
    assert all(count > 50_000 for count in frozen.values()), frozen
    pauses = await query(http, prometheus, "accord_gc_pause_seconds_count")
    assert {s["metric"]["job"] for s in pauses} == set(SERVICE_NAMES)


async def test_one_status_change_shows_at_each_stage_in_prometheus(
    services: Services,
    prometheus: Prometheus,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    line, path = await _a_line_followed_by_webhook(services, http, secretariat_headers, receiver)
    stages = {
        "request": f'accord_http_requests_total{{job="plans", route="{STATUS_ROUTE}",'
        ' method="PATCH", status="200"}',
        "relay": 'accord_outbox_relay_published_events_total{job="plans"}',
        "consumer": 'accord_consumer_events_total{job="notifications",'
        ' group="accord-notifications", topic="accord.plans.events", outcome="applied"}',
        "delivery": 'accord_webhook_deliveries_finished_total{job="notifications",'
        ' outcome="succeeded"}',
    }

    async def settled() -> dict[str, float] | None:
        # Prometheus has scraped since the set-up's own events went through.
        first = {stage: await total(http, prometheus, q) for stage, q in stages.items()}
        await asyncio.sleep(2.5)
        second = {stage: await total(http, prometheus, q) for stage, q in stages.items()}
        return first if first == second else None

    before = await eventually(settled, timeout=60, what="the counters at rest")
    await _change_status(services, http, secretariat_headers, line)
    for stage, promql in stages.items():

        async def moved(promql: str = promql, stage: str = stage) -> bool:
            return await total(http, prometheus, promql) > before[stage]

        await eventually(moved, timeout=60, what=f"the {stage} stage in Prometheus: {promql}")
    assert receiver.accepted(path)


async def test_a_poison_message_fires_the_dead_letter_alert(
    services: Services, prometheus: Prometheus, http: httpx.AsyncClient
) -> None:
    def dead_letter_alerts() -> Awaitable[set[tuple[str, ...]]]:
        return firing(http, prometheus, "AccordDeadLetterTopic", "group", "topic", "reason")

    async def scraped_twice() -> bool:
        samples = await query(http, prometheus, "count_over_time(accord_ready[1m])")
        return len(samples) == len(SERVICE_NAMES) and all(
            float(s["value"][1]) >= 2 for s in samples
        )

    await eventually(scraped_twice, what="two scrapes of every service")
    assert await dead_letter_alerts() == set()

    await produce(
        services.infra.kafka_as("plans"), PLANS_EVENTS, [(uuid.uuid4().bytes, b"not an event")]
    )
    groups = {"accord-plans", "accord-meetings", "accord-notifications"}
    expected = {(group, PLANS_EVENTS, "invalid_event") for group in groups}

    async def all_fired() -> bool:
        return await dead_letter_alerts() >= expected

    # The rule fires on the first evaluation that sees the counter move (no `for`): a scrape
    # and an evaluation, a second each here, once the consumers have parked the message.
    await eventually(all_fired, timeout=60, what=f"AccordDeadLetterTopic firing for {expected}")


async def test_an_endpoint_answering_410_fires_the_endpoint_disabled_alert(
    services: Services,
    prometheus: Prometheus,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    def disabled_alerts() -> Awaitable[set[tuple[str, ...]]]:
        return firing(http, prometheus, "AccordWebhookEndpointDisabled", "reason")

    assert ("gone",) not in await disabled_alerts()
    line, path = await _a_line_followed_by_webhook(services, http, secretariat_headers, receiver)
    receiver.answer_from_now(path, Answer(410))
    await _change_status(services, http, secretariat_headers, line)

    async def fired() -> bool:
        return ("gone",) in await disabled_alerts()

    await eventually(fired, timeout=60, what="AccordWebhookEndpointDisabled firing (gone)")
    assert [r.answered for r in receiver.at(path)] == [410]


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_every_metric_passes_promtools_checks(
    services: Services, prometheus: Prometheus, http: httpx.AsyncClient, name: str
) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None  # installed with Prometheus by the fixture
    scrape = await _scrape(http, services, name)
    assert "accord_" in scrape
    result = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=scrape,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the queries of the dashboard and the rules ----------------------------------------------

PROMQL_WORDS = {
    # aggregations, functions and keywords that look like names
    "sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "bool", "offset", "rate", "irate", "increase",
    "delta", "histogram_quantile", "topk", "bottomk", "abs", "clamp_min", "clamp_max",
    "count_over_time", "max_over_time", "min_over_time", "avg_over_time", "le", "vector",
    "label_replace", "time", "inf", "nan",
}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """The metric names a query reads: what is left once strings, label matchers and
    groupings, ranges and numbers are out, and functions and keywords are set aside."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables ($__rate_interval)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_names_are_found_in_a_query() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, route) (rate(accord_http_request_duration_seconds_bucket{job="plans"}[$__rate_interval])))'
    ) == {"accord_http_request_duration_seconds_bucket"}
    assert metric_names(
        "(sum by (group) (a_lag) > 0) unless on (group) (sum by (group) (increase(b_total[5m])) > 0)"
    ) == {"a_lag", "b_total"}


def _exported(scrapes: list[str]) -> set[str]:
    names = set()
    for scrape in scrapes:
        for line in scrape.splitlines():
            if line and not line.startswith("#"):
                names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def _dashboard_queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def _rule_queries() -> list[str]:
    return [
        rule["expr"]
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


async def test_every_dashboard_and_rule_query_names_exported_metrics_and_runs(
    services: Services,
    prometheus: Prometheus,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    # Some series exist only once something happened: a change goes all the way first.
    line, path = await _a_line_followed_by_webhook(services, http, secretariat_headers, receiver)
    await _change_status(services, http, secretariat_headers, line)

    async def delivered() -> bool:
        return bool(receiver.accepted(path))

    await eventually(delivered, what="the webhook of the change")
    exported = _exported([await _scrape(http, services, name) for name in SERVICE_NAMES])
    queries = _dashboard_queries() + _rule_queries()
    assert len(_dashboard_queries()) >= 8
    unknown = {
        q: sorted(metric_names(q) - exported - PROMETHEUS_OWN)
        for q in queries
        if metric_names(q) - exported - PROMETHEUS_OWN
    }
    assert unknown == {}
    for promql in queries:
        # Grafana's interval variable, as Grafana would fill it in.
        await query(http, prometheus, promql.replace("$__rate_interval", "1m"))
