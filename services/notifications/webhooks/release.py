"""Releasing what waits for an endpoint: its pending deliveries that wait on the retry
schedule become due now, so that a receiver back from an outage gets them at once rather than
when each one's step of the schedule (up to hours) runs out.

Two callers: the dispatcher, when an endpoint that could not be reached answers again (a
success, often a probe's), for the deliveries that could not reach it; and a delegation
asking for it (``POST /endpoints/{id}/retry-now``), for all that wait.
Releasing changes only when deliveries are due, never their order: the dispatcher still sends
one endpoint's deliveries of one subject one at a time, oldest first (``_NOT_HELD_BACK`` in
``dispatcher.py``). Deliveries in flight (leased) are left alone.

Rows are locked in id order, so two releases of one endpoint never deadlock each other.
"""

import uuid
from collections.abc import Collection

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import wakeup
from services.notifications.webhooks.domain import UNAVAILABLE

# When a released delivery goes: now, but not before the receiver's Retry-After.
_AFTER_ANSWER_DUE = "greatest(now(), coalesce(d.not_before, now()))"

# Only deliveries whose last attempt could not reach the endpoint (``AttemptResult.
# unreachable``): one its receiver answered with an error keeps to the schedule.
_AFTER_ANSWER = text(
    f"""
    WITH waiting AS (
        SELECT d.id FROM deliveries d
        WHERE d.endpoint_id = ANY(:endpoints) AND d.status = 'pending'
            AND d.leased_by IS NULL AND d.next_attempt_at > {_AFTER_ANSWER_DUE}
            AND (d.last_status_code IS NULL OR d.last_status_code = ANY(:unavailable))
        ORDER BY d.id
        FOR UPDATE
    )
    UPDATE deliveries d SET next_attempt_at = {_AFTER_ANSWER_DUE}
    FROM waiting WHERE d.id = waiting.id
    RETURNING d.id
    """
)

# Asked for by the delegation, whose receiver it is: now, each with a fresh round of the
# schedule (like a redelivery), its receiver's earlier Retry-After overridden.
_ON_REQUEST = text(
    """
    WITH waiting AS (
        SELECT d.id FROM deliveries d
        WHERE d.endpoint_id = ANY(:endpoints) AND d.status = 'pending'
            AND d.leased_by IS NULL AND d.next_attempt_at > now()
        ORDER BY d.id
        FOR UPDATE
    )
    UPDATE deliveries d SET next_attempt_at = now(), not_before = NULL, tries = 0
    FROM waiting WHERE d.id = waiting.id
    RETURNING d.id
    """
)


async def release_after_answer(session: AsyncSession, endpoints: Collection[object]) -> int:
    """The endpoints answered again: what waited for them to be reachable is due now (not
    before a Retry-After their receiver gave), each keeping its place in the schedule should
    it fail again."""
    return await _release(session, _AFTER_ANSWER, endpoints, unavailable=list(UNAVAILABLE))


async def release_on_request(session: AsyncSession, endpoint: uuid.UUID) -> int:
    """The delegation asks for what waits for ``endpoint`` to be tried now."""
    return await _release(session, _ON_REQUEST, [endpoint])


async def _release(
    session: AsyncSession, statement: TextClause, endpoints: Collection[object], **params: object
) -> int:
    if not endpoints:
        return 0
    params["endpoints"] = list(endpoints)
    released = len((await session.execute(statement, params)).all())
    if released:
        await wakeup.notify(session, wakeup.DELIVERIES)
    return released
