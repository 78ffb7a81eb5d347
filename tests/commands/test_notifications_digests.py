"""Digests that arrive, against notifications' real database with the clock injected (never
waited for): the daily digest at each delegation's local hour, the meeting digest the day
before, no empty digest, and one digest per period when two jobs race.

A digest is a ``digest.ready`` event: published, delivered by webhook to each endpoint (the
body rendered the way the dispatcher renders it), emailed to the contacts who want it where
its subscriptions chose email, and written to the inbox.
"""

import asyncio
import json
import secrets
import string
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from services.notifications import handlers, orm
from services.notifications.digests.job import DIGEST, send_due_digests
from services.notifications.domain import Cadence, Channel, ContactRole, TargetKind
from services.notifications.email import handlers as email_handlers
from services.notifications.intake.handlers import TakeIn, take_in
from services.notifications.webhooks.payloads import webhook_body
from shared.contracts import meetings as meeting_events
from shared.contracts import plans as plan_events
from shared.events import EventContract, envelope
from tests.commands.test_notifications_commands import CAP, registered_endpoint
from tests.support.databases import migrated_database
from tests.support.plan_events import line_created, status_changed
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))


async def delegation_in(session: AsyncSession, zone: str, digest_hour: int) -> str:
    code = unique("D")
    command = handlers.RegisterDelegation(
        code=code, name=f"Mission in {zone}", timezone=zone, digest_hour=digest_hour
    )
    await handlers.register_delegation(session, command)
    return code


async def take(session: AsyncSession, event: EventContract) -> None:
    source = (
        meeting_events.SOURCE
        if event.event_type.startswith("org.accord.meetings")
        else (plan_events.SOURCE)
    )
    published = envelope(event, source=source, subject=f"x/{uuid.uuid4()}")
    await take_in(session, TakeIn(envelope=published, event=event))  # type: ignore[arg-type]


async def subscribe(
    session: AsyncSession,
    code: str,
    kind: TargetKind,
    key: str,
    cadence: Cadence,
    channels: tuple[Channel, ...] = (Channel.WEBHOOK, Channel.INBOX),
) -> None:
    command = handlers.Subscribe(
        delegation=code,
        target_kind=kind,
        target_key=key,
        channels=channels,
        cadence=cadence,
    )
    await handlers.subscribe(session, command, cap=CAP)


async def digests_of(session: AsyncSession, code: str) -> list[tuple[orm.Digest, dict]]:
    """Each digest sent to ``code``: its row and the body its webhook carries."""
    rows = await session.execute(
        select(orm.Digest, orm.ReceivedEvent, orm.Delivery)
        .join(orm.ReceivedEvent, orm.ReceivedEvent.id == orm.Digest.event_row_id)
        .join(orm.Delivery, orm.Delivery.event_row_id == orm.ReceivedEvent.id)
        .where(orm.Digest.delegation_code == code)
        .order_by(orm.ReceivedEvent.id)
    )
    found = []
    for digest, event, delivery in rows.all():
        body = webhook_body(
            event_id=event.event_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            delegation=delivery.delegation_code,
            data=event.data,
            context=event.context,
        )
        found.append((digest, json.loads(body)))
    return found


def meeting(series: str, starts_at: datetime, **fields: object) -> meeting_events.MeetingScheduled:
    values: dict[str, object] = {
        "meeting_id": uuid.uuid4(),
        "series": series,
        "title": f"{series} of {starts_at.date()}",
        "level": "ambassador",
        "format": "in_person",
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=3),
        "timezone": "Asia/Jakarta",
    }
    return meeting_events.MeetingScheduled(**(values | fields))


async def test_the_daily_digest_goes_out_at_each_delegations_local_hour(
    notifications_db: AsyncSession,
) -> None:
    tag = unique("tag-")
    hanoi = await delegation_in(notifications_db, "Asia/Ho_Chi_Minh", 9)  # UTC+7: 02:00Z
    new_york = await delegation_in(notifications_db, "America/New_York", 7)  # UTC-5: 12:00Z
    for code in (hanoi, new_york):
        await subscribe(notifications_db, code, TargetKind.TAG, tag, Cadence.DAILY_DIGEST)
        await registered_endpoint(notifications_db, code)
        # As if yesterday's digest (local) had gone out.
        row = await notifications_db.get(orm.Delegation, code)
        assert row is not None
        row.last_daily_digest_on = date(2030, 1, 13)
    plan_id, line_id = uuid.uuid4(), uuid.uuid4()
    await take(notifications_db, line_created(plan_id=plan_id, action_line_id=line_id, tags=[tag]))
    await take(
        notifications_db, status_changed(plan_id=plan_id, action_line_id=line_id, tags=[tag])
    )

    sent_at = {}
    clock = [
        datetime(2030, 1, 14, 0, 30, tzinfo=UTC) + timedelta(minutes=30 * i) for i in range(26)
    ]
    for now in clock:  # 00:30Z to 13:00Z, every half hour
        if await send_due_digests(notifications_db, now):
            for code in (hanoi, new_york):
                if code not in sent_at and await digests_of(notifications_db, code):
                    sent_at[code] = now

    # 09:00 in Ho Chi Minh City, 07:00 in New York: each once, at its own hour.
    assert sent_at == {
        hanoi: datetime(2030, 1, 14, 2, 0, tzinfo=UTC),
        new_york: datetime(2030, 1, 14, 12, 0, tzinfo=UTC),
    }
    for code, zone in ((hanoi, "Asia/Ho_Chi_Minh"), (new_york, "America/New_York")):
        ((digest, body),) = await digests_of(notifications_db, code)
        assert digest.key == f"{code}/daily/2030-01-14"
        assert body["type"] == DIGEST == "org.accord.notifications.digest.ready"
        assert body["timestamp"] == sent_at[code].isoformat()
        data = body["data"]
        assert (data["kind"], data["day"], data["timezone"]) == ("daily", "2030-01-14", zone)
        assert [e["title"] for e in data["entries"]] == [
            "New action line 1.2.3",
            "Action line 1.2.3: ongoing -> completed",
        ]
        assert data["text"].startswith(f"Daily digest of 2030-01-14 (times in {zone})\n")
        (entry,) = await notifications_db.scalars(
            select(orm.InboxEntry).where(orm.InboxEntry.delegation_code == code)
        )
        assert (entry.event_type, entry.title, entry.body) == (
            DIGEST,
            "Daily digest of 2030-01-14",
            data["text"],
        )
    print("rendered daily digest webhook body:", json.dumps(body, indent=2))


async def test_the_meeting_digest_goes_out_the_day_before_with_figures_and_changes(
    notifications_db: AsyncSession,
) -> None:
    series, plan_id = unique("CPR "), uuid.uuid4()
    code = await delegation_in(notifications_db, "Asia/Jakarta", 9)
    await take(
        notifications_db,
        plan_events.PlanCreated(
            plan_id=plan_id,
            code="POA",
            title="Plan of Action",
            partners=["ASEAN", "UN"],
            period_start=date(2016, 1, 1),
            period_end=date(2020, 12, 31),
            status="active",
        ),
    )
    lines = [uuid.uuid4() for _ in range(3)]
    for n, line_id in enumerate(lines, start=1):
        await take(
            notifications_db,
            line_created(plan_id=plan_id, action_line_id=line_id, code=f"1.{n}"),
        )
    previous = meeting(series, datetime(2020, 9, 15, 2, tzinfo=UTC), plans_under_review=[plan_id])
    await take(notifications_db, previous)
    await take(
        notifications_db,
        meeting_events.MeetingConcluded(
            meeting_id=previous.meeting_id,
            series=series,
            title=previous.title,
            starts_at=previous.starts_at,
            timezone="Asia/Jakarta",
            at=previous.ends_at,
        ),
    )
    await subscribe(
        notifications_db,
        code,
        TargetKind.MEETING_SERIES,
        series,
        Cadence.MEETING_DIGEST,
        channels=(Channel.WEBHOOK, Channel.INBOX, Channel.EMAIL),
    )
    await registered_endpoint(notifications_db, code)
    ambassador = await contact_of(notifications_db, code, "ambassador")
    changes = [  # (line, old, new, effective)
        (lines[0], "ongoing", "completed", date(2020, 6, 1)),  # before the previous meeting
        (lines[1], "ongoing", "completed", date(2021, 3, 1)),
        (lines[2], "ongoing", "on_hold", date(2021, 4, 1)),
        (lines[2], "on_hold", "ongoing", date(2021, 5, 1)),  # back where it was: no change
    ]
    for n, (line_id, old, new, effective) in enumerate(changes):
        await take(
            notifications_db,
            status_changed(
                plan_id=plan_id,
                action_line_id=line_id,
                code=f"1.{lines.index(line_id) + 1}",
                old_status=old,
                new_status=new,
                effective_date=effective,
                version=n + 2,
            ),
        )
    upcoming = meeting(series, datetime(2021, 9, 14, 2, tzinfo=UTC), plans_under_review=[plan_id])
    await take(notifications_db, upcoming)  # held for the meeting digest

    # 08:00 and 09:00 in Jakarta on 2021-09-13, the day before; then again at 10:00.
    before, due, later = (datetime(2021, 9, 13, h, tzinfo=UTC) for h in (1, 2, 3))
    await send_due_digests(notifications_db, before)
    assert not await digests_of(notifications_db, code)
    await send_due_digests(notifications_db, due)
    await send_due_digests(notifications_db, later)

    ((digest, body),) = await digests_of(notifications_db, code)
    assert digest.key == f"{code}/meeting/{upcoming.meeting_id}"
    data = body["data"]
    assert (data["kind"], data["day"], data["title"]) == (
        "meeting",
        "2021-09-13",
        f"Before {upcoming.title} on 2021-09-14",
    )
    assert data["plans"] == [
        {
            "plan_id": str(plan_id),
            "code": "POA",
            "title": "Plan of Action",
            "lines": 3,
            "completed": 2,
            "by_status": {"completed": 2, "ongoing": 1},
        }
    ]
    since = data["since_previous_meeting"]
    assert (since["meeting_id"], since["date"], since["lines_changed"]) == (
        str(previous.meeting_id),
        "2020-09-15",
        1,
    )
    assert [(c["code"], c["old_status"], c["new_status"]) for c in since["changes"]] == [
        ("1.2", "ongoing", "completed")
    ]
    assert [e["event_type"] for e in data["entries"]] == [
        meeting_events.MeetingScheduled.event_type
    ]
    print("rendered meeting digest text:\n" + data["text"])
    assert "Plans under review, as of 2021-09-13:\n- POA Plan of Action: 2 of 3" in data["text"]
    # By email too, once, its figures and changes in the HTML part as well.
    (email,) = await emails_of(notifications_db, code)
    assert (email.to_address, email.email_subject) == (ambassador, data["title"])
    assert data["text"] in email.text_body
    assert "Sent:       Monday 13 September 2021, 09:00 (Asia/Jakarta, UTC+07:00)" in (
        email.text_body
    )
    assert "<li>POA Plan of Action: 2 of 3 lines completed</li>" in email.html_body
    assert "<li>1.2: ongoing &rarr; completed (effective 1 March 2021)</li>" in email.html_body
    assert "starts Tuesday 14 September 2021, 09:00 (Asia/Jakarta, UTC+07:00)" in email.html_body


async def contact_of(session: AsyncSession, code: str, who: str, *event_types: str) -> str:
    """A new contact of ``code`` wanting ``event_types`` (none: everything); its address."""
    address = f"{who}.{uuid.uuid4().hex[:8]}@mission.example.org"
    command = email_handlers.AddContact(
        delegation=code,
        name=who.title(),
        address=address,
        role=ContactRole.DESK_OFFICER,
        event_types=event_types,
    )
    await email_handlers.add_contact(session, command, cap=CAP)
    return address


async def emails_of(session: AsyncSession, code: str) -> list[orm.EmailDelivery]:
    found = await session.scalars(
        select(orm.EmailDelivery)
        .where(orm.EmailDelivery.delegation_code == code)
        .order_by(orm.EmailDelivery.id)
    )
    return list(found)


async def test_a_digest_is_emailed_to_the_contacts_who_want_it_once(
    notifications_db: AsyncSession,
) -> None:
    tag = unique("tag-")
    by_email = await delegation_in(notifications_db, "Asia/Ho_Chi_Minh", 9)  # UTC+7: 02:00Z
    not_by_email = await delegation_in(notifications_db, "Asia/Ho_Chi_Minh", 9)
    await subscribe(
        notifications_db,
        by_email,
        TargetKind.TAG,
        tag,
        Cadence.DAILY_DIGEST,
        channels=(Channel.EMAIL, Channel.INBOX),
    )
    await subscribe(notifications_db, not_by_email, TargetKind.TAG, tag, Cadence.DAILY_DIGEST)
    everything = await contact_of(notifications_db, by_email, "ambassador")
    digests = await contact_of(notifications_db, by_email, "desk", "digest.ready")
    await contact_of(notifications_db, by_email, "technical", "action_line.status_changed")
    await contact_of(notifications_db, not_by_email, "reader")
    plan_id, line_id = uuid.uuid4(), uuid.uuid4()
    await take(notifications_db, line_created(plan_id=plan_id, action_line_id=line_id, tags=[tag]))
    await take(
        notifications_db, status_changed(plan_id=plan_id, action_line_id=line_id, tags=[tag])
    )
    # Held, not emailed at once.
    assert await emails_of(notifications_db, by_email) == []

    for hour in (1, 2, 3, 12):  # 08:00 to 19:00 in Ho Chi Minh City: due from 09:00, once
        await send_due_digests(notifications_db, datetime(2030, 1, 14, hour, tzinfo=UTC))

    sent = await emails_of(notifications_db, by_email)
    assert sorted(e.to_address for e in sent) == sorted([everything, digests])
    assert await emails_of(notifications_db, not_by_email) == []
    ((digest, event),) = (
        await notifications_db.execute(
            select(orm.Digest, orm.ReceivedEvent)
            .join(orm.ReceivedEvent, orm.ReceivedEvent.id == orm.Digest.event_row_id)
            .where(orm.Digest.delegation_code == by_email)
        )
    ).all()
    assert event.data["text"].startswith("Daily digest of 2030-01-14 (times in Asia/Ho_Chi_Minh)")
    for email in sent:
        # The digest kept as an event, as its webhooks are: one notice of that event.
        assert (email.event_row_id, email.notice_key) == (
            digest.event_row_id,
            f"event:{event.event_id}",
        )
        assert email.email_subject == "Daily digest of 2030-01-14"
        assert event.data["text"] in email.text_body
        assert email.text_body.startswith(f"Dear {email.to_address.split('.')[0].title()},\n")
        zone = "(Asia/Ho_Chi_Minh, UTC+07:00)"
        assert f"Sent:       Monday 14 January 2030, 09:00 {zone}" in email.text_body
        assert f"Sent Monday 14 January 2030, 09:00 {zone}." in email.html_body
        assert "Action line 1.2.3: ongoing -&gt; completed" in email.html_body
    print("rendered digest email (text part):\n" + sent[0].text_body)


async def test_an_empty_digest_is_not_sent(notifications_db: AsyncSession) -> None:
    series = unique("Series ")
    daily = await delegation_in(notifications_db, "Asia/Jakarta", 9)
    before_meeting = await delegation_in(notifications_db, "Asia/Jakarta", 9)
    await take(notifications_db, meeting(series, datetime(2021, 9, 14, 2, tzinfo=UTC)))
    every_channel = (Channel.WEBHOOK, Channel.INBOX, Channel.EMAIL)
    await subscribe(
        notifications_db,
        daily,
        TargetKind.TAG,
        unique("tag-"),
        Cadence.DAILY_DIGEST,
        channels=every_channel,
    )
    await subscribe(
        notifications_db,
        before_meeting,
        TargetKind.MEETING_SERIES,
        series,
        Cadence.MEETING_DIGEST,
        channels=every_channel,
    )
    for code in (daily, before_meeting):
        await contact_of(notifications_db, code, "ambassador")

    # The day before the meeting, at the digest hour and after: nothing held, no previous
    # meeting to compare with.
    for hour in (2, 3, 12):
        await send_due_digests(notifications_db, datetime(2021, 9, 13, hour, tzinfo=UTC))

    sent = await notifications_db.scalar(
        select(func.count())
        .select_from(orm.InboxEntry)
        .where(orm.InboxEntry.delegation_code.in_([daily, before_meeting]))
    )
    assert sent == 0
    assert not await digests_of(notifications_db, before_meeting)
    assert await emails_of(notifications_db, daily) == []
    assert await emails_of(notifications_db, before_meeting) == []


# --- two jobs racing -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def race_database(infra: Infrastructure) -> Iterator[str]:
    """A database of its own: racing jobs need transactions that commit."""
    name = "accord_notifications_digest_race"
    yield migrated_database(infra, "notifications", name)
    infra.postgres.drop_database(name)


async def test_a_digest_is_sent_once_when_two_jobs_race(race_database: str) -> None:
    engine = create_async_engine(race_database, poolclass=NullPool)
    try:
        series, plan_id = unique("CPR "), uuid.uuid4()
        async with AsyncSession(engine) as session, session.begin():
            code = await delegation_in(session, "Asia/Jakarta", 9)
            line_id = uuid.uuid4()
            await take(session, line_created(plan_id=plan_id, action_line_id=line_id))
            await take(session, meeting(series, datetime(2020, 9, 15, 2, tzinfo=UTC)))
            await subscribe(
                session, code, TargetKind.MEETING_SERIES, series, Cadence.MEETING_DIGEST
            )
            await registered_endpoint(session, code)
            await take(
                session,
                status_changed(
                    plan_id=plan_id, action_line_id=line_id, effective_date=date(2021, 3, 1)
                ),
            )
            await take(
                session,
                meeting(series, datetime(2021, 9, 14, 2, tzinfo=UTC), plans_under_review=[plan_id]),
            )

        async def job() -> int:
            async with AsyncSession(engine) as session, session.begin():
                return await send_due_digests(session, datetime(2021, 9, 13, 2, tzinfo=UTC))

        results = await asyncio.gather(job(), job())

        async with AsyncSession(engine) as session:
            digests = await digests_of(session, code)
            entries = await session.scalar(
                select(func.count())
                .select_from(orm.InboxEntry)
                .where(orm.InboxEntry.delegation_code == code)
            )
        assert sorted(results) == [0, 1]
        assert (len(digests), entries) == (1, 1)
    finally:
        await engine.dispose()
