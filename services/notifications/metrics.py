"""The notifications service's own metrics (the shared ones are in ``shared/metrics.py``):
webhook attempts and deliveries, endpoints by health, the live stream and the digests.

Attempts and finished deliveries are counted by the dispatcher in memory as it records them;
what waits and each endpoint's health are read from the database when Prometheus scrapes
(``webhook_probe``: two bounded queries).
"""

from fastapi import FastAPI
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import text

from services.notifications.webhooks.domain import AttemptResult
from shared.metrics import COUNT_CAP

# What became of one attempt: answered 2xx; 410 Gone; "not now" (429, 502, 503, 504); another
# error status; no answer at all (no connection, the attempt's deadline, a refused address).
ATTEMPT_OUTCOMES = ("succeeded", "gone", "unavailable", "error_status", "no_answer")
# An attempt on the schedule, or a probe of an endpoint that could not be reached.
ATTEMPT_KINDS = ("attempt", "probe")

WEBHOOK_ATTEMPTS = Counter(
    "accord_webhook_attempts",
    "Webhook attempts made, by kind (attempt, probe) and outcome.",
    ["kind", "outcome"],
)
WEBHOOK_ATTEMPT_DURATION = Histogram(
    "accord_webhook_attempt_duration_seconds",
    "Time of one webhook attempt (address check, connection, request, the answer's head and"
    " the part of its body that is read), by outcome.",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)
WEBHOOK_DELIVERIES_FINISHED = Counter(
    "accord_webhook_deliveries_finished",
    "Deliveries that left the pending state: succeeded, or failed for good (schedule spent).",
    ["outcome"],
)
WEBHOOK_DELIVERIES_PENDING = Gauge(
    "accord_webhook_deliveries_pending",
    "Pending deliveries by state: due (may go now), in_flight (an attempt under way),"
    " scheduled (waiting for a retry), parked (endpoint disabled);"
    f" counted up to {COUNT_CAP} in all.",
    ["state"],
)
WEBHOOK_ENDPOINTS = Gauge(
    "accord_webhook_endpoints",
    "Webhook endpoints by health: healthy, failing (no success since a failure), disabled.",
    ["health"],
)
WEBHOOK_ENDPOINTS_DISABLED = Gauge(
    "accord_webhook_endpoints_disabled",
    "Disabled webhook endpoints by reason: gone (a 410), failing (too long), manual.",
    ["reason"],
)
SSE_CONNECTIONS = Gauge("accord_sse_connections", "Live-stream (SSE) connections open now.")
DIGEST_RUNS = Counter(
    "accord_digest_runs", "Rounds of the digest job, by outcome (ok, failed).", ["outcome"]
)
DIGESTS_SENT = Counter("accord_digests_sent", "Digests written to delegations' inboxes.")

for _kind in ATTEMPT_KINDS:
    for _outcome in ATTEMPT_OUTCOMES:
        WEBHOOK_ATTEMPTS.labels(_kind, _outcome)
for _outcome in ("succeeded", "failed"):
    WEBHOOK_DELIVERIES_FINISHED.labels(_outcome)
for _outcome in ("ok", "failed"):
    DIGEST_RUNS.labels(_outcome)


def attempt_outcome(result: AttemptResult) -> str:
    if result.succeeded:
        return "succeeded"
    if result.gone:
        return "gone"
    if result.status_code is None:
        return "no_answer"
    return "unavailable" if result.unreachable else "error_status"


def count_attempt(result: AttemptResult, probe: bool, seconds: float) -> None:
    outcome = attempt_outcome(result)
    WEBHOOK_ATTEMPTS.labels("probe" if probe else "attempt", outcome).inc()
    WEBHOOK_ATTEMPT_DURATION.labels(outcome).observe(seconds)


# Pending deliveries are read through their partial index, at most COUNT_CAP of them.
_PENDING = text(
    f"""
    SELECT
        count(*) FILTER (WHERE NOT e.enabled),
        count(*) FILTER (WHERE e.enabled AND d.leased_by IS NOT NULL AND d.next_attempt_at > now()),
        count(*) FILTER (WHERE e.enabled AND d.next_attempt_at <= now()),
        count(*) FILTER (WHERE e.enabled AND d.leased_by IS NULL AND d.next_attempt_at > now())
    FROM (
        SELECT endpoint_id, leased_by, next_attempt_at FROM deliveries
        WHERE status = 'pending' LIMIT {COUNT_CAP}
    ) d JOIN endpoints e ON e.id = d.endpoint_id
    """
)
_ENDPOINTS = text(
    """
    SELECT
        count(*) FILTER (WHERE enabled AND failing_since IS NULL),
        count(*) FILTER (WHERE enabled AND failing_since IS NOT NULL),
        count(*) FILTER (WHERE NOT enabled AND disabled_reason = 'gone'),
        count(*) FILTER (WHERE NOT enabled AND disabled_reason = 'failing'),
        count(*) FILTER (WHERE NOT enabled AND coalesce(disabled_reason, 'manual') = 'manual')
    FROM endpoints
    """
)


async def webhook_probe(app: FastAPI) -> None:
    for gauge in (WEBHOOK_DELIVERIES_PENDING, WEBHOOK_ENDPOINTS, WEBHOOK_ENDPOINTS_DISABLED):
        gauge.clear()
    async with app.state.sessions() as session:
        parked, in_flight, due, scheduled = (await session.execute(_PENDING)).one()
        healthy, failing, gone, given_up, manual = (await session.execute(_ENDPOINTS)).one()
    for state, n in (
        ("due", due),
        ("in_flight", in_flight),
        ("scheduled", scheduled),
        ("parked", parked),
    ):
        WEBHOOK_DELIVERIES_PENDING.labels(state).set(n)
    for health, n in (("healthy", healthy), ("failing", failing)):
        WEBHOOK_ENDPOINTS.labels(health).set(n)
    WEBHOOK_ENDPOINTS.labels("disabled").set(gone + given_up + manual)
    for reason, n in (("gone", gone), ("failing", given_up), ("manual", manual)):
        WEBHOOK_ENDPOINTS_DISABLED.labels(reason).set(n)
