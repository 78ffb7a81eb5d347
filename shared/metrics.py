"""Prometheus metrics of every service: what they are, where they are counted, ``/metrics``.

One registry per process (prometheus_client's default, with its process and platform
collectors). Counters and histograms are updated where the work happens, in memory: the HTTP
middleware (``shared/middleware.py``), the outbox relay (``shared/outbox.py``), the consumer
runner (``shared/consumer.py``) and the notifications service's own work
(``services/notifications/metrics.py``). Nothing on those paths queries anything for the sake of
a metric; they count per request, per batch or per attempt.

What only the database or the broker knows (the outbox backlog, each partition's lag, the
``dead_letters`` table, readiness, deliveries waiting) is measured when Prometheus scrapes:
``/metrics`` first runs the service's *scrape probes* (a few bounded queries, all at once,
within ``SCRAPE_PROBE_TIMEOUT``) and then renders the registry. A probe that fails or is too
slow leaves its gauges unknown for that scrape (NaN, or no series for labelled ones) rather
than showing the values of an earlier scrape.

Conventions: ``accord_`` prefix, ``_total`` counters, ``_seconds`` in base units, and only
bounded label values (route templates, outcomes, topics, partitions, groups; never an id).
Database and broker gauges are the same from every replica of a service: aggregate them with
``max``; the counters and the per-partition lag (each replica reports the partitions the group
gave it) add up across replicas with ``sum``.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy import Table, text

from shared.health import readiness_checks

log = structlog.get_logger(__name__)

# ``_created`` series double every counter for little use; Prometheus has its own resets.
disable_created_metrics()

METRICS_PATH = "/metrics"
# All of a scrape's probes together: well within Prometheus's default scrape timeout (10 s).
SCRAPE_PROBE_TIMEOUT = 3.0
# Backlog counts stop here, so that a huge backlog costs a bounded query (the count then reads
# as "at least this many").
COUNT_CAP = 100_000
# The route label of a request no route matched (a 404 or 405 before any route).
UNMATCHED_ROUTE = "unmatched"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# --- HTTP ------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "accord_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "accord_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe_request(scope: Mapping[str, Any], status: int, seconds: float | None) -> None:
    """Count one answered request under its route's template (``/plans/{plan_id}``), and its
    duration unless None (a Server-Sent Events stream: not a latency)."""
    route = scope.get("route")
    template = getattr(route, "path", None) or UNMATCHED_ROUTE
    method = str(scope.get("method", ""))
    if method not in HTTP_METHODS:
        method = "other"
    key = (template, method, status)
    children = _http_children.get(key)
    if children is None:
        children = _http_children[key] = (
            HTTP_REQUESTS.labels(template, method, str(status)),
            HTTP_DURATION.labels(template, method),
        )
    children[0].inc()
    if seconds is not None:
        children[1].observe(seconds)


# The label children of each (route, method, status) seen: looking them up again on every
# request costs more than counting (a lock and the label checks). As bounded as the labels.
_http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


# --- readiness -------------------------------------------------------------------------------

READY = Gauge("accord_ready", "1 when the service is ready (its database and Kafka reachable).")
READY_CHECK = Gauge(
    "accord_ready_check", "1 when one readiness check passes (database, kafka).", ["check"]
)

# --- the outbox and its relay ----------------------------------------------------------------

OUTBOX_PENDING = Gauge(
    "accord_outbox_pending_events",
    f"Outbox rows not published yet (counted up to {COUNT_CAP}).",
)
OUTBOX_OLDEST_AGE = Gauge(
    "accord_outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox row not published yet (0 when none waits).",
)
RELAY_PUBLISHED = Counter(
    "accord_outbox_relay_published_events",
    "Events the relay published and the broker acknowledged.",
)
RELAY_BATCH = Histogram(
    "accord_outbox_relay_batch_events",
    "Events per batch the relay published.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
RELAY_ACK = Histogram(
    "accord_outbox_relay_ack_duration_seconds",
    "Time from sending a batch to the broker's acknowledgement of all of it.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RELAY_ERRORS = Counter(
    "accord_outbox_relay_errors", "Relay rounds that failed (retried; the rows wait)."
)
RELAY_LEADER = Gauge(
    "accord_outbox_relay_leader",
    "1 while this process's relay holds its database's relay lock and publishes.",
)

# --- the consumer group ----------------------------------------------------------------------

CONSUMER_LAG = Gauge(
    "accord_consumer_lag_events",
    "Events on a partition this process was assigned and has not processed yet: the broker's"
    " end offset minus the offset after the last event processed.",
    ["group", "topic", "partition"],
)
CONSUMER_EVENTS = Counter(
    "accord_consumer_events",
    "Events taken off a partition, by outcome: applied, duplicate (already processed, skipped),"
    " ignored (no handler in this service), dead_lettered.",
    ["group", "topic", "partition", "outcome"],
)
CONSUMER_BATCH = Histogram(
    "accord_consumer_batch_duration_seconds",
    "Time to process one partition's fetched batch (validation, handlers, the transaction).",
    ["group", "topic", "partition"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONSUMER_DEAD_LETTERS = Counter(
    "accord_consumer_dead_letters",
    "Events parked, by reason (invalid_event, rejected, handler_failed) and destination"
    " (topic: <topic>.dlt; table: the dead_letters table, when the topic refused it).",
    ["group", "topic", "reason", "destination"],
)
DEAD_LETTER_REASONS = ("invalid_event", "rejected", "handler_failed")
DEAD_LETTER_DESTINATIONS = ("topic", "table")
DEAD_LETTERS_TABLE = Gauge(
    "accord_dead_letters_table_rows",
    f"Rows in the service's dead_letters table (counted up to {COUNT_CAP}).",
)


class ConsumerMetrics:
    """A consumer runner's counters, with the label children of its partitions kept so that
    the per-batch cost is a dictionary lookup."""

    def __init__(self, group: str, topics: Sequence[str]) -> None:
        self.group = group
        self._events: dict[tuple[str, int, str], Counter] = {}
        self._batches: dict[tuple[str, int], Histogram] = {}
        # Every (topic, reason, destination) starts at 0, so that ``increase()`` sees the
        # first dead letter (a series that appears at 1 shows no increase).
        for topic in topics:
            for reason in DEAD_LETTER_REASONS:
                for destination in DEAD_LETTER_DESTINATIONS:
                    CONSUMER_DEAD_LETTERS.labels(group, topic, reason, destination)

    def count(self, topic: str, partition: int, outcome: str, n: int = 1) -> None:
        if n <= 0:
            return
        key = (topic, partition, outcome)
        child = self._events.get(key)
        if child is None:
            child = self._events[key] = CONSUMER_EVENTS.labels(
                self.group, topic, str(partition), outcome
            )
        child.inc(n)

    def batch_took(self, topic: str, partition: int, seconds: float) -> None:
        key = (topic, partition)
        child = self._batches.get(key)
        if child is None:
            child = self._batches[key] = CONSUMER_BATCH.labels(self.group, topic, str(partition))
        child.observe(seconds)

    def dead_lettered(self, topic: str, partition: int, reason: str, destination: str) -> None:
        CONSUMER_DEAD_LETTERS.labels(self.group, topic, reason, destination).inc()
        self.count(topic, partition, "dead_lettered")


# --- scrape probes ---------------------------------------------------------------------------

# Measures something when Prometheus scrapes, and sets gauges; given the running app.
ScrapeProbe = Callable[[FastAPI], Awaitable[None]]


def scrape_probes(app: FastAPI) -> list[ScrapeProbe]:
    probes: list[ScrapeProbe] = app.state.scrape_probes
    return probes


async def run_scrape_probes(app: FastAPI) -> None:
    """Every probe at once, bounded in time; one that fails clears its gauges itself."""

    async def guarded(probe: ScrapeProbe) -> None:
        try:
            async with asyncio.timeout(SCRAPE_PROBE_TIMEOUT):
                await probe(app)
        except Exception as exc:
            log.info(
                "metrics_probe_failed",
                probe=getattr(probe, "__name__", "?"),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )

    await asyncio.gather(*(guarded(probe) for probe in scrape_probes(app)))


metrics_router = APIRouter()


@metrics_router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus's text format; no token needed (no ids, no personal data in it). One scrape
    at a time per process: the probes of two would set the same gauges in turns, and a burst
    of requests costs the database one set of queries after another, never many at once."""
    async with _scraping(request.app):
        await run_scrape_probes(request.app)
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _scraping(app: FastAPI) -> asyncio.Lock:
    lock: asyncio.Lock | None = getattr(app.state, "scrape_lock", None)
    if lock is None:
        lock = app.state.scrape_lock = asyncio.Lock()
    return lock


_OUTBOX_BACKLOG = """
    SELECT
        (SELECT count(*) FROM (
            SELECT 1 FROM {table} WHERE published_at IS NULL LIMIT {cap}
        ) AS pending),
        coalesce((
            SELECT extract(epoch FROM now() - created_at) FROM {table}
            WHERE published_at IS NULL ORDER BY id LIMIT 1
        ), 0)
"""


def outbox_probe(outbox: Table, dead_letters: Table) -> ScrapeProbe:
    """The outbox backlog and the dead_letters table: two bounded queries on indexes
    (the partial index of unpublished rows; a table that is empty unless something is wrong)."""
    backlog = text(_OUTBOX_BACKLOG.format(table=outbox.name, cap=COUNT_CAP))
    recorded = text(
        f"SELECT count(*) FROM (SELECT 1 FROM {dead_letters.name} LIMIT {COUNT_CAP}) AS d"
    )

    async def outbox_backlog(app: FastAPI) -> None:
        for gauge in (OUTBOX_PENDING, OUTBOX_OLDEST_AGE, DEAD_LETTERS_TABLE):
            gauge.set(float("nan"))
        async with app.state.sessions() as session:
            pending, age = (await session.execute(backlog)).one()
            rows = await session.scalar(recorded)
        OUTBOX_PENDING.set(pending)
        OUTBOX_OLDEST_AGE.set(float(age))
        DEAD_LETTERS_TABLE.set(rows or 0)

    return outbox_backlog


async def readiness_probe(app: FastAPI) -> None:
    checks = await readiness_checks(app)
    for check, ok in checks.items():
        READY_CHECK.labels(check).set(1 if ok else 0)
    READY.set(1 if all(checks.values()) else 0)


async def consumer_lag_probe(app: FastAPI) -> None:
    """Each assigned partition's lag, against end offsets the broker gives now."""
    CONSUMER_LAG.clear()
    runtime = getattr(app.state, "runtime", None)
    consumer = runtime.consumer if runtime is not None else None
    if consumer is None:
        return
    lags = await consumer.partition_lag()
    for (topic, partition), lag in lags.items():
        if lag is not None:  # a position the client does not know yet: no figure
            CONSUMER_LAG.labels(consumer.state.group_id, topic, str(partition)).set(lag)
