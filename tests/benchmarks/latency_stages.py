"""Where a status change's latency goes, stage by stage, read from the rows the services wrote
on its way (all on this machine's wall clock):

- plans transaction start (the outbox row's created_at) -> the relay's claim of the row
  (its published_at is the relay transaction's start): the rest of the route's transaction,
  its commit, the NOTIFY and the relay waking up;
- relay claim -> notifications' take-in transaction start (received_at): publishing with
  acks=all, Kafka, the consumer's fetch and validation;
- take-in start -> its commit (the commit time of the received event's row): the take-in's
  statements, a dozen round trips;
- take-in commit -> the dispatcher's first attempt (attempted_at): the NOTIFY, the
  dispatcher waking and its claim's transaction;
- first attempt -> arrival at the receiver: signing and the HTTP POST.

And when each change became visible in the plan's rollups: the commit of the projection's
transaction that applied it, read as the commit time of the ``rollup.changed`` outbox row it
staged for that change (its ``cause_event_id``), which PostgreSQL keeps when
``track_commit_timestamp`` is on (the benchmark's system turns it on).
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.benchmarks.measure import latency_ms
from tests.benchmarks.system import System

STATUS_CHANGED = "org.accord.plans.action_line.status_changed"
ROLLUP_CHANGED = "org.accord.plans.rollup.changed"
Key = tuple[str, int]  # (action line id, version)


@dataclass(frozen=True)
class Rows:
    """What the services wrote for a run's changes, read once for every figure below."""

    relayed: dict[Key, Any]  # status change -> its outbox row (created_at, published_at)
    visible: dict[Key, float]  # status change -> commit of the projection that applied it
    taken_in: list[Any]  # notifications' take-in and first attempt, per (line, version)


async def written_since(system: System, since: datetime) -> Rows:
    """The rows of the changes staged after ``since``: plans' outbox (status changes and the
    ``rollup.changed`` event the projection staged for each, with its commit time) and
    notifications' take-ins with their first attempts."""
    plans, notifications = await system.connect("plans"), await system.connect("notifications")
    try:
        outbox = await plans.fetch(
            "SELECT event_type, payload, created_at, published_at, "
            "pg_xact_commit_timestamp(xmin) AS committed_at FROM outbox "
            "WHERE event_type = ANY($1::text[]) AND created_at >= $2",
            [STATUS_CHANGED, ROLLUP_CHANGED],
            since,
        )
        taken_in = await notifications.fetch(
            "SELECT e.data->>'action_line_id' AS line, (e.data->>'version')::int AS version, "
            "e.received_at, pg_xact_commit_timestamp(e.xmin) AS taken_in_at, "
            "min(a.attempted_at) AS attempted_at FROM received_events e "
            "JOIN deliveries d ON d.event_row_id = e.id "
            "JOIN delivery_attempts a ON a.delivery_id = d.id "
            "WHERE e.event_type = $1 AND e.received_at >= $2 GROUP BY 1, 2, 3, 4",
            STATUS_CHANGED,
            since,
        )
    finally:
        await plans.close()
        await notifications.close()
    relayed: dict[Key, Any] = {}
    changes: dict[str, Key] = {}  # the status change's event id -> (line, version)
    committed: dict[str, float] = {}  # the status change's event id -> its rollups' commit
    for row in outbox:
        event = json.loads(row["payload"])
        if row["event_type"] == STATUS_CHANGED:
            key = (event["data"]["action_line_id"], event["data"]["version"])
            relayed[key] = row
            changes[event["id"]] = key
        elif row["committed_at"] is not None:
            committed[event["data"]["cause_event_id"]] = row["committed_at"].timestamp()
    visible = {
        key: committed[event_id] for event_id, key in changes.items() if event_id in committed
    }
    return Rows(relayed, visible, list(taken_in))


def stages(rows: Rows, arrivals: dict[Key, float]) -> dict[str, dict[str, float]]:
    """Per-stage latency percentiles of the changes whose (line, version) arrived at the
    receiver at the given monotonic times."""
    wall = time.time() - time.monotonic()  # monotonic -> wall clock, for the arrivals
    spans: dict[str, list[float]] = {name: [] for name in (*STAGES, TOTAL)}
    for row in rows.taken_in:
        key = (row["line"], row["version"])
        if (
            key not in rows.relayed
            or key not in arrivals
            or row["attempted_at"] is None
            or row["taken_in_at"] is None  # track_commit_timestamp off
        ):
            continue
        created, published = rows.relayed[key]["created_at"], rows.relayed[key]["published_at"]
        marks = [
            created.timestamp(),
            published.timestamp(),
            row["received_at"].timestamp(),
            row["taken_in_at"].timestamp(),
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
    "take-in transaction (start -> commit)",
    "take-in commit -> dispatcher's first attempt",
    "first attempt -> webhook received",
)
TOTAL = "plans transaction start -> webhook received"


def rollup_visible(rows: Rows, answered: dict[Key, float]) -> dict[str, float]:
    """Latency percentiles from each change's 200 (``answered``: monotonic times by line and
    version) until the rollups showed it."""
    wall = time.time() - time.monotonic()
    spans = [rows.visible[key] - (answered[key] + wall) for key in answered if key in rows.visible]
    return latency_ms(spans) | {"samples": len(spans)}
