"""Subscriptions addressed to a grouping or a role, against notifications' real database: who
is told is taken on the event's effective date, and a delegation reached twice is told once.
"""

import secrets
import string
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import domain, handlers, orm, views
from services.notifications.domain import Channel, TargetKind
from services.notifications.intake.handlers import TakeIn, take_in
from shared.contracts import meetings as meeting_events
from shared.errors import Invalid
from shared.events import envelope
from tests.commands.test_notifications_commands import (
    CAP,
    follow,
    new_delegation,
    take,
)
from tests.support.plan_events import status_changed

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))


async def subscribe_tag(session: AsyncSession, tag: str, **audience: str) -> None:
    command = handlers.Subscribe(
        delegation=None,
        target_kind=TargetKind.TAG,
        target_key=tag,
        channels=[Channel.INBOX],
        **audience,  # type: ignore[arg-type]
    )
    await handlers.subscribe(session, command, cap=CAP)


async def told(session: AsyncSession, codes: list[str]) -> dict[str, list[str]]:
    """Each delegation's inbox titles, oldest first."""
    rows = await session.execute(
        select(orm.InboxEntry.delegation_code, orm.InboxEntry.title)
        .where(orm.InboxEntry.delegation_code.in_(codes))
        .order_by(orm.InboxEntry.id)
    )
    found: dict[str, list[str]] = {code: [] for code in codes}
    for code, title in rows.all():
        found[code].append(title)
    return found


async def test_a_grouping_subscription_tells_the_members_on_each_events_date_once_each(
    notifications_db: AsyncSession,
) -> None:
    grouping, tag = unique("G"), unique("tag-")
    founder, joined_2020, left_2018 = [await new_delegation(notifications_db) for _ in range(3)]
    for code, start, end in (
        (founder, date(2016, 1, 1), None),
        (joined_2020, date(2020, 1, 1), None),
        (left_2018, date(2016, 1, 1), date(2018, 12, 31)),
    ):
        await handlers.add_membership(
            notifications_db, handlers.AddMembership(grouping, code, start, end)
        )
    await subscribe_tag(notifications_db, tag, grouping=grouping)
    await follow(notifications_db, founder, tag)  # follows the item itself too

    await take(notifications_db, status_changed(tags=[tag], effective_date=date(2017, 6, 30)))
    await take(
        notifications_db,
        status_changed(tags=[tag], code="2.1", effective_date=date(2020, 9, 15)),
    )

    change_2017 = "Action line 1.2.3: ongoing -> completed"
    change_2020 = "Action line 2.1: ongoing -> completed"
    assert await told(notifications_db, [founder, joined_2020, left_2018]) == {
        founder: [change_2017, change_2020],
        joined_2020: [change_2020],  # nothing dated before it joined
        left_2018: [change_2017],
    }


async def test_a_grouping_without_members_is_refused_on_grouping(
    notifications_db: AsyncSession,
) -> None:
    with pytest.raises(Invalid) as refused:
        await subscribe_tag(notifications_db, unique("tag-"), grouping=unique("G"))
    assert refused.value.field == "grouping"


async def test_a_role_subscription_tells_the_holder_on_each_events_date(
    notifications_db: AsyncSession,
) -> None:
    role, tag = unique("Chair "), unique("tag-")
    chair_2019, chair_2020, hopeful = [await new_delegation(notifications_db) for _ in range(3)]
    await handlers.define_role(notifications_db, handlers.DefineRole(role, single_holder=True))
    await handlers.assign_role(
        notifications_db,
        handlers.AssignRole(role, chair_2019, date(2019, 1, 1), date(2019, 12, 31)),
    )
    await handlers.assign_role(
        notifications_db,
        handlers.AssignRole(role, chair_2020, date(2020, 1, 1), date(2020, 12, 31)),
    )
    # One holder at a time: a period overlapping 2020's is refused, naming valid_from.
    with pytest.raises(domain.OverlappingAssignment) as overlapping:
        await handlers.assign_role(
            notifications_db, handlers.AssignRole(role, hopeful, date(2020, 6, 1))
        )
    assert overlapping.value.field == "valid_from"
    assert chair_2020 in overlapping.value.message
    await subscribe_tag(notifications_db, tag, role=role)

    await take(notifications_db, status_changed(tags=[tag], effective_date=date(2019, 6, 30)))
    await take(
        notifications_db,
        status_changed(tags=[tag], code="2.1", effective_date=date(2020, 9, 15)),
    )

    assert await told(notifications_db, [chair_2019, chair_2020, hopeful]) == {
        chair_2019: ["Action line 1.2.3: ongoing -> completed"],
        chair_2020: ["Action line 2.1: ongoing -> completed"],
        hopeful: [],
    }
    holders = await views.role_holders(notifications_db, role, date(2019, 3, 1))
    assert holders.holders == [chair_2019]


async def test_co_chairs_are_the_meetings_own_from_its_scheduling_event(
    notifications_db: AsyncSession,
) -> None:
    series = unique("Series ")
    chair_a, chair_b, other = [await new_delegation(notifications_db) for _ in range(3)]
    meetings = {uuid.uuid4(): [chair_a, chair_b], uuid.uuid4(): [other]}
    for meeting_id, chairs in meetings.items():
        await take_meeting_event(
            notifications_db,
            meeting_events.MeetingScheduled(
                meeting_id=meeting_id,
                series=series,
                title="CPR meeting",
                level="ambassador",
                format="virtual",
                starts_at=datetime(2020, 9, 15, 2, tzinfo=UTC),
                ends_at=datetime(2020, 9, 15, 5, tzinfo=UTC),
                timezone="Asia/Jakarta",
                co_chairs=[
                    meeting_events.CoChair(name="Chair", title="Ambassador", delegation=c)
                    for c in chairs
                ],
            ),
        )
    command = handlers.Subscribe(
        delegation=None,
        target_kind=TargetKind.MEETING_SERIES,
        target_key=series,
        channels=[Channel.INBOX],
        role=domain.CO_CHAIRS,
    )
    await handlers.subscribe(notifications_db, command, cap=CAP)

    for meeting_id in meetings:
        await take_meeting_event(
            notifications_db,
            meeting_events.DecisionAdopted(
                meeting_id=meeting_id,
                series=series,
                meeting_title="CPR meeting",
                meeting_date=date(2020, 9, 15),
                decision_id=uuid.uuid4(),
                title=f"Statement of {meeting_id}",
                body=meeting_events.Statement(text="We welcome the progress."),
                adopted_at=datetime(2020, 9, 15, 4, tzinfo=UTC),
            ),
        )

    first, second = list(meetings)
    entries = await told(notifications_db, [chair_a, chair_b, other])
    # Each decision reached its own meeting's co-chairs, once each.
    assert {code: [str(first) in t for t in titles] for code, titles in entries.items()} == {
        chair_a: [True],
        chair_b: [True],
        other: [False],
    }
    assert str(second) in entries[other][0]


async def take_meeting_event(
    session: AsyncSession,
    event: meeting_events.MeetingScheduled | meeting_events.DecisionAdopted,
) -> None:
    published = envelope(
        event, source=meeting_events.SOURCE, subject=f"meetings/{event.meeting_id}"
    )
    await take_in(session, TakeIn(envelope=published, event=event))
