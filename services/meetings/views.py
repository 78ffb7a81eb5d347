"""Read-side queries returning schemas: meetings, decisions and commitments (a meeting's
briefing is in ``briefings/views.py``). Routes read through these and never query the ORM;
the ``*_read`` functions also render what a command returned."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import domain, orm
from services.meetings.domain import DecisionKind, MeetingStatus
from services.meetings.schemas import (
    AgendaItemRead,
    DecisionRead,
    MeetingRead,
    ParticipantRead,
    PostponementRead,
)
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.problems import FieldError, Unprocessable


async def meeting_by_id(session: AsyncSession, meeting_id: uuid.UUID) -> MeetingRead:
    return meeting_read(await orm.load(session, orm.Meeting, meeting_id))


async def decision_by_id(session: AsyncSession, decision_id: uuid.UUID) -> DecisionRead:
    return decision_read(await orm.load(session, orm.Decision, decision_id))


def meeting_read(meeting: orm.Meeting) -> MeetingRead:
    return MeetingRead(
        id=meeting.id,
        series=meeting.series,
        title=meeting.title,
        level=meeting.level,
        format=meeting.format,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        timezone=meeting.timezone,
        date=domain.meeting_date(meeting.starts_at, meeting.timezone),
        place=meeting.place,
        status=MeetingStatus(meeting.status),
        co_chairs=meeting.co_chairs,
        participants=[ParticipantRead.model_validate(p) for p in meeting.participants],
        plans_under_review=[p.plan_id for p in meeting.plans],
        agenda=[AgendaItemRead.model_validate(i) for i in meeting.agenda_items],
        postponements=[PostponementRead.model_validate(p) for p in meeting.postponements],
        started_at=meeting.started_at,
        concluded_at=meeting.concluded_at,
        cancelled_at=meeting.cancelled_at,
        cancellation_reason=meeting.cancellation_reason,
        version=meeting.version,
    )


def decision_read(decision: orm.Decision) -> DecisionRead:
    results = decision.review_results
    return DecisionRead.model_validate(
        {
            **{c: getattr(decision, c) for c in _DECISION_COLUMNS},
            "rejected_lines": [r for r in results or [] if r["outcome"] == "rejected"],
        }
    )


_DECISION_COLUMNS = (
    "id",
    "meeting_id",
    "agenda_item_id",
    "kind",
    "title",
    "body",
    "adopted_at",
    "outcome",
    "rejection_reason",
    "review_results",
    "follow_up",
    "fulfilled_on",
    "fulfilment_note",
)


# --- meeting lists -------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingFilter:
    """Which meetings a list shows: every condition given must hold."""

    series: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    ends_after: datetime | None = None
    participant: str | None = None
    plan_id: uuid.UUID | None = None
    statuses: Sequence[MeetingStatus] = ()

    def query(self) -> Select[orm.Meeting]:
        query = select(orm.Meeting)
        if self.series is not None:
            query = query.where(orm.Meeting.series == self.series)
        if self.starts_from is not None:
            query = query.where(orm.Meeting.starts_at >= self.starts_from)
        if self.starts_before is not None:
            query = query.where(orm.Meeting.starts_at < self.starts_before)
        if self.ends_after is not None:
            query = query.where(orm.Meeting.ends_at > self.ends_after)
        if self.statuses:
            query = query.where(orm.Meeting.status.in_([s.value for s in self.statuses]))
        if self.participant is not None:
            participants = select(orm.Participant.meeting_id).where(
                orm.Participant.delegation == self.participant
            )
            query = query.where(orm.Meeting.id.in_(participants))
        if self.plan_id is not None:
            reviewing = select(orm.PlanUnderReview.meeting_id).where(
                orm.PlanUnderReview.plan_id == self.plan_id
            )
            query = query.where(orm.Meeting.id.in_(reviewing))
        return query


async def meetings_page(
    session: AsyncSession, where: MeetingFilter, *, limit: int, cursor: str | None
) -> Page[MeetingRead]:
    """A page of meetings in chronological order. The cursor names the last meeting seen;
    the next page starts after its (starts_at, seq) position."""
    query = where.query()
    after = decode_cursor(cursor)
    if after is not None:
        anchor = await session.scalar(select(orm.Meeting.starts_at).where(orm.Meeting.seq == after))
        if anchor is None:
            message = "not a cursor this API returned"
            raise Unprocessable(message, errors=[FieldError(field="query.cursor", message=message)])
        query = query.where(
            tuple_(orm.Meeting.starts_at, orm.Meeting.seq)
            > tuple_(literal(anchor, DateTime(timezone=True)), literal(after, BigInteger))
        )
    query = query.order_by(orm.Meeting.starts_at, orm.Meeting.seq).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return Page[MeetingRead](
        items=[meeting_read(m) for m in page],
        next_cursor=encode_cursor(page[-1].seq) if more else None,
    )


# --- decision lists ------------------------------------------------------------------------


async def decisions_page(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    meeting_id: uuid.UUID | None = None,
    kind: DecisionKind | None = None,
    party: str | None = None,
    follow_up: domain.FollowUp | None = None,
) -> Page[DecisionRead]:
    """Decisions in adoption order; those of a meeting that must exist, if one is named."""
    if meeting_id is not None:
        await orm.load(session, orm.Meeting, meeting_id)
    query = select(orm.Decision).order_by(orm.Decision.seq).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(orm.Decision.seq > after)
    if meeting_id is not None:
        query = query.where(orm.Decision.meeting_id == meeting_id)
    if kind is not None:
        query = query.where(orm.Decision.kind == kind.value)
    if party is not None:
        query = query.where(orm.Decision.party == party)
    if follow_up is not None:
        query = query.where(orm.Decision.follow_up == follow_up.value)
    rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return Page[DecisionRead](
        items=[decision_read(d) for d in page],
        next_cursor=encode_cursor(page[-1].seq) if more else None,
    )
