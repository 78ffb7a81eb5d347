"""The intake's fan-out to many delegations in one transaction, against the real database.

Its inbox entries, deliveries and digest items used to go in as one INSERT with a VALUES
list, one parameter per value: past about 3,600 delegations (nine columns each) that
exceeded PostgreSQL's protocol limit of 32,767 parameters and the event could never be
taken in. Each column is now one array parameter (services/notifications/bulk_insert.py).
"""

import uuid
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import Cadence, Channel
from services.notifications.intake.handlers import TakeIn, take_in
from shared.contracts import plans as plan_events
from shared.events import envelope
from tests.support.plan_events import status_changed

pytestmark = pytest.mark.integration

# Enough delegations that one parameter per value would exceed the protocol's limit: two
# thirds of them get an inbox entry of nine columns (4,000 x 9 > 32,767).
DELEGATIONS = 6000
# Each delegation's subscription, by its number modulo 3: channels and cadence.
KINDS = [
    ([Channel.WEBHOOK, Channel.INBOX, Channel.STREAM], Cadence.IMMEDIATE),
    ([Channel.INBOX], Cadence.IMMEDIATE),
    ([Channel.WEBHOOK, Channel.STREAM], Cadence.DAILY_DIGEST),
]


async def _followers(session: AsyncSession, tag: str) -> list[str]:
    codes = [f"F{uuid.uuid4().hex[:9].upper()}" for _ in range(DELEGATIONS)]
    await session.execute(
        insert(orm.Delegation),
        [{"code": c, "name": c, "timezone": "UTC", "stream_seq": 0} for c in codes],
    )
    await session.execute(
        insert(orm.Subscription),
        [
            {
                "id": uuid.uuid4(),
                "delegation_code": code,
                "target_kind": "tag",
                "target_key": tag,
                "event_types": [],
                "statuses": [],
                "channels": [c.value for c in KINDS[i % 3][0]],
                "cadence": KINDS[i % 3][1].value,
            }
            for i, code in enumerate(codes)
        ],
    )
    await session.execute(
        insert(orm.Endpoint),
        [
            {
                "id": uuid.uuid4(),
                "delegation_code": code,
                "url": "https://93.184.216.34/accord",
                "secret_key_id": "unused",
                "secret_ciphertext": b"never decrypted here",
                "event_types": [],
            }
            for code in codes
        ],
    )
    return codes


async def _rows_of(session: AsyncSession, event_id: str, model: Any, *columns: str) -> list[Any]:
    """The given columns of the rows of ``model`` made for the event taken in."""
    query = (
        select(*(getattr(model, c) for c in columns))
        .join(orm.ReceivedEvent, orm.ReceivedEvent.id == model.event_row_id)
        .where(orm.ReceivedEvent.event_id == event_id)
    )
    return list(await session.execute(query))


async def test_an_event_reaches_thousands_of_delegations_each_on_its_own_channels(
    notifications_db: AsyncSession,
) -> None:
    session, tag = notifications_db, f"tag-{uuid.uuid4()}"
    codes = await _followers(session, tag)
    event = status_changed(tags=[tag])
    published = envelope(event, source=plan_events.SOURCE, subject="action-lines/x")
    await take_in(session, TakeIn(envelope=published, event=event))

    entries = {
        code: (seq, channels)
        for code, seq, channels in await _rows_of(
            session, published.id, orm.InboxEntry, "delegation_code", "seq", "channels"
        )
    }
    deliveries = {
        code for (code,) in await _rows_of(session, published.id, orm.Delivery, "delegation_code")
    }
    digests = {
        code: (cadence, channels)
        for code, cadence, channels in await _rows_of(
            session, published.id, orm.DigestItem, "delegation_code", "cadence", "channels"
        )
    }
    immediate = [c for i, c in enumerate(codes) if i % 3 != 2]
    assert entries == {
        c: (1, ["inbox", "stream"] if i % 3 == 0 else ["inbox"])
        for i, c in enumerate(codes)
        if i % 3 != 2
    }
    assert deliveries == set(codes[0::3])
    assert digests == {c: ("daily_digest", ["stream", "webhook"]) for c in codes[2::3]}
    assert len(immediate) == len(entries)
    numbered = await session.scalar(
        select(func.count()).where(
            orm.Delegation.code.in_(immediate), orm.Delegation.stream_seq == 1
        )
    )
    assert numbered == len(immediate)


async def test_an_event_nobody_follows_is_recorded_without_a_context(
    notifications_db: AsyncSession,
) -> None:
    # The row goes in by one statement of its own (not the unit of work): an absent context
    # or trace is SQL NULL, not JSON's null (which the unit of work wrote for the trace).
    session = notifications_db
    event = status_changed(tags=[f"tag-{uuid.uuid4()}"])
    published = envelope(event, source=plan_events.SOURCE, subject="action-lines/x")
    await take_in(session, TakeIn(envelope=published, event=event))
    row = (
        await session.execute(
            select(
                orm.ReceivedEvent.context.is_(None),
                orm.ReceivedEvent.trace_context.is_(None),
                orm.ReceivedEvent.received_at.is_not(None),
                orm.ReceivedEvent.data,
            ).where(orm.ReceivedEvent.event_id == published.id)
        )
    ).one()
    assert tuple(row) == (True, True, True, published.data)
