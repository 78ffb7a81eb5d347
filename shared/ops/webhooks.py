"""Webhook trouble, from the notifications database: endpoints failing (no success since the
first failure of a streak), disabled, or with deliveries that failed for good; and deliveries
stuck: due long ago and not sent, or leased by a dispatcher whose lease ran out long ago (it
died or hangs mid-attempt). ``deploy/stack status`` shows the same endpoints (its query is
``ENDPOINTS_IN_TROUBLE``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from shared.ops import sources


def endpoints_in_trouble_sql(limit: int) -> str:
    """Columns: delegation code, url, enabled, disabled reason ('' if none), failing since
    (UTC text, '' if not failing), deliveries waiting, failed for good, how many endpoints are
    in trouble in all, the endpoint's id."""
    return f"""
WITH per_endpoint AS (
    SELECT e.id, e.number, e.delegation_code, e.url, e.enabled, e.disabled_reason,
           e.failing_since,
           count(d.id) FILTER (WHERE d.status = 'pending') AS waiting,
           count(d.id) FILTER (WHERE d.status = 'failed') AS failed
    FROM endpoints e LEFT JOIN deliveries d ON d.endpoint_id = e.id
    GROUP BY e.id
)
SELECT delegation_code, url, enabled, coalesce(disabled_reason, ''),
       coalesce(to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''),
       waiting, failed, count(*) OVER (), id::text
FROM per_endpoint
WHERE failing_since IS NOT NULL OR NOT enabled OR failed > 0
ORDER BY delegation_code, number
LIMIT {int(limit)}
"""


_ENDPOINT_FIELDS = (
    "delegation",
    "url",
    "enabled",
    "disabled_reason",
    "failing_since",
    "waiting",
    "failed",
    "in_trouble",
    "endpoint_id",
)


async def endpoints_in_trouble(timeout: float, limit: int) -> list[dict[str, Any]]:
    async with sources.database("notifications", timeout) as connection:
        rows = await connection.execute(text(endpoints_in_trouble_sql(limit)))
        return [dict(zip(_ENDPOINT_FIELDS, row, strict=True)) for row in rows]


# next_attempt_at is when a pending delivery is due, and while a dispatcher holds it
# (leased_by set) when its lease runs out. Deliveries of a disabled endpoint are parked on
# purpose: the endpoints command shows those. ix_deliveries_due answers the range.
_STUCK = text(
    """
    SELECT d.id, d.webhook_id, d.delegation_code, e.url,
           CASE WHEN d.leased_by IS NULL THEN 'due, not sent' ELSE 'lease ran out' END,
           d.leased_by, d.tries, d.attempts_total, d.next_attempt_at,
           extract(epoch FROM now() - d.next_attempt_at)::float8, d.last_status_code,
           d.last_error
    FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND e.enabled
      AND d.next_attempt_at < now() - make_interval(secs => :late)
    ORDER BY d.next_attempt_at
    LIMIT :limit
    """
)

_DELIVERY_FIELDS = (
    "delivery_id",
    "webhook_id",
    "delegation",
    "url",
    "why",
    "leased_by",
    "tries",
    "attempts_total",
    "due_at",
    "late_seconds",
    "last_status_code",
    "last_error",
)


async def stuck_deliveries(timeout: float, late: float, limit: int) -> list[dict[str, Any]]:
    async with sources.database("notifications", timeout) as connection:
        rows = await connection.execute(_STUCK, {"late": late, "limit": limit})
        result = []
        for row in rows:
            item = dict(zip(_DELIVERY_FIELDS, row, strict=True))
            item["due_at"] = item["due_at"].isoformat()
            item["late_seconds"] = round(item["late_seconds"], 1)
            result.append(item)
        return result
