"""Where a status change's latency goes, stage by stage, read from the rows the services wrote
on its way (all on this machine's wall clock):

- plans transaction start (the outbox row's created_at) -> the relay's claim of the row
  (its published_at is the relay transaction's start): the rest of the route's transaction,
  its commit, the NOTIFY and the relay waking up;
- relay claim -> notifications' take-in transaction start (received_at): publishing with
  acks=all, Kafka, the consumer's fetch and validation;
- take-in start -> the dispatcher's first attempt (attempted_at): the take-in transaction
  and commit, the NOTIFY and the dispatcher's claim;
- first attempt -> arrival at the receiver: signing and the HTTP POST.

And when each change became visible in the plan's rollups: the commit of the projection's
transaction that applied it, read as the commit time of the ``rollup.changed`` outbox row it
staged for that change (its ``cause_event_id``), which PostgreSQL keeps when
``track_commit_timestamp`` is on (the benchmark's system turns it on).
"""

import json
import time
from datetime import datetime
from typing import Any

from tests.benchmarks.measure import latency_ms
from tests.benchmarks.system import System

STATUS_CHANGED = "org.accord.plans.action_line.status_changed"
ROLLUP_CHANGED = "org.accord.plans.rollup.changed"
Key = tuple[str, int]  # (action line id, version)


async def stages(
    system: System, since: datetime, arrivals: dict[Key, float]
) -> dict[str, dict[str, float]]:
    """Per-stage latency percentiles of the changes whose (line, version) arrived at the
    receiver at the given monotonic times, for rows written after ``since``."""
    wall = time.time() - time.monotonic()  # monotonic -> wall clock, for the arrivals
    plans, notifications = await system.connect("plans"), await system.connect("notifications")
    try:
        outbox = await plans.fetch(
            "SELECT payload, created_at, published_at FROM outbox "
            "WHERE event_type = $1 AND created_at >= $2",
            STATUS_CHANGED,
            since,
        )
        taken_in = await notifications.fetch(
            "SELECT e.data->>'action_line_id' AS line, (e.data->>'version')::int AS version, "
            "e.received_at, min(a.attempted_at) AS attempted_at FROM received_events e "
            "JOIN deliveries d ON d.event_row_id = e.id "
            "JOIN delivery_attempts a ON a.delivery_id = d.id "
            "WHERE e.event_type = $1 AND e.received_at >= $2 GROUP BY 1, 2, 3",
            STATUS_CHANGED,
            since,
        )
    finally:
        await plans.close()
        await notifications.close()
    relayed: dict[Key, Any] = {}
    for row in outbox:
        data = json.loads(row["payload"])["data"]
        relayed[(data["action_line_id"], data["version"])] = row
    spans: dict[str, list[float]] = {name: [] for name in (*STAGES, TOTAL)}
    for row in taken_in:
        key = (row["line"], row["version"])
        if key not in relayed or key not in arrivals or row["attempted_at"] is None:
            continue
        created, published = relayed[key]["created_at"], relayed[key]["published_at"]
        marks = [
            created.timestamp(),
            published.timestamp(),
            row["received_at"].timestamp(),
            row["attempted_at"].timestamp(),
            arrivals[key] + wall,
        ]
        for name, start, end in zip(STAGES, marks[:-1], marks[1:], strict=True):
            spans[name].append(end - start)
        spans[TOTAL].append(marks[-1] - marks[0])
    return {name: latency_ms(values) | {"samples": len(values)} for name, values in spans.items()}


STAGES = (
    "plans transaction start -> relay claims the outbox row",
    "relay claim -> notifications takes the event in",
    "take-in -> dispatcher's first attempt",
    "first attempt -> webhook received",
)
TOTAL = "plans transaction start -> webhook received"


async def rollup_visible(
    system: System, since: datetime, answered: dict[Key, float]
) -> dict[str, float]:
    """Latency percentiles from each change's 200 (``answered``: monotonic times by line and
    version) until the rollups showed it, for the changes staged after ``since``."""
    wall = time.time() - time.monotonic()
    plans = await system.connect("plans")
    try:
        rows = await plans.fetch(
            "SELECT event_type, payload, pg_xact_commit_timestamp(xmin) AS committed_at "
            "FROM outbox WHERE event_type = ANY($1::text[]) AND created_at >= $2",
            [STATUS_CHANGED, ROLLUP_CHANGED],
            since,
        )
    finally:
        await plans.close()
    changes: dict[str, Key] = {}  # the status change's event id -> (line, version)
    visible: dict[str, float] = {}  # the status change's event id -> when the rollups showed it
    for row in rows:
        event = json.loads(row["payload"])
        if row["event_type"] == STATUS_CHANGED:
            changes[event["id"]] = (event["data"]["action_line_id"], event["data"]["version"])
        elif row["committed_at"] is not None:
            visible[event["data"]["cause_event_id"]] = row["committed_at"].timestamp()
    spans = [
        visible[event_id] - (answered[key] + wall)
        for event_id, key in changes.items()
        if event_id in visible and key in answered
    ]
    return latency_ms(spans) | {"samples": len(spans)}
