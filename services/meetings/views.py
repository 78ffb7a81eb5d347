"""Read-side queries returning schemas: meetings, decisions, commitments and briefings."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import BigInteger, DateTime, Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import domain, orm
from services.meetings.domain import DecisionKind, MeetingStatus, Outcome
from services.meetings.schemas import (
    AgendaItemRead,
    BriefingRead,
    ChangesRead,
    DecisionRead,
    FiguresRead,
    MeetingRead,
    ParticipantRead,
    PillarChangeRead,
    PillarFiguresRead,
    PlanBriefingRead,
    PostponementRead,
)
from shared.pagination import (
    Page,
    decode_cursor,
    encode_cursor,
)
from shared.problems import FieldError, Unprocessable


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


async def meetings_page(
    session: AsyncSession,
    query: Select[orm.Meeting],
    limit: int,
    cursor: str | None,
) -> Page[MeetingRead]:
    """A page of meetings in chronological order. The cursor names the last meeting seen;
    the next page starts after its (starts_at, seq) position."""
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


def meetings_query(
    *,
    series: str | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    participant: str | None = None,
    plan_id: uuid.UUID | None = None,
    statuses: Sequence[MeetingStatus] = (),
    ends_after: datetime | None = None,
) -> Select[orm.Meeting]:
    query = select(orm.Meeting)
    if series is not None:
        query = query.where(orm.Meeting.series == series)
    if starts_from is not None:
        query = query.where(orm.Meeting.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(orm.Meeting.starts_at < starts_before)
    if ends_after is not None:
        query = query.where(orm.Meeting.ends_at > ends_after)
    if statuses:
        query = query.where(orm.Meeting.status.in_([s.value for s in statuses]))
    if participant is not None:
        query = query.where(
            orm.Meeting.id.in_(
                select(orm.Participant.meeting_id).where(orm.Participant.delegation == participant)
            )
        )
    if plan_id is not None:
        query = query.where(
            orm.Meeting.id.in_(
                select(orm.PlanUnderReview.meeting_id).where(orm.PlanUnderReview.plan_id == plan_id)
            )
        )
    return query


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
    """Decisions in adoption order."""
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


# --- briefings -----------------------------------------------------------------------------


async def pending_reviews(session: AsyncSession, meeting_id: uuid.UUID) -> int:
    rows = await session.scalars(
        select(orm.Decision.id).where(
            orm.Decision.meeting_id == meeting_id,
            orm.Decision.kind == DecisionKind.STATUS_REVIEW.value,
            orm.Decision.outcome == Outcome.PENDING.value,
        )
    )
    return len(rows.all())


async def briefing(session: AsyncSession, meeting: orm.Meeting) -> BriefingRead:
    """The frozen snapshot of a concluded meeting, or the briefing computed now."""
    snapshot = await session.get(orm.BriefingSnapshot, meeting.id)
    if snapshot is not None:
        return BriefingRead.model_validate(
            {**snapshot.content, "frozen": True, "frozen_at": snapshot.frozen_at}
        )
    return await live_briefing(session, meeting)


async def live_briefing(session: AsyncSession, meeting: orm.Meeting) -> BriefingRead:
    """Each plan under review as of the meeting's date, and the change since the previous
    (not cancelled) meeting of the same series, from this service's read model of plans."""
    day = domain.meeting_date(meeting.starts_at, meeting.timezone)
    previous = await _previous_meeting(session, meeting)
    previous_day = (
        domain.meeting_date(previous.starts_at, previous.timezone) if previous is not None else None
    )
    plans = [
        await _plan_briefing(session, p.plan_id, day, previous, previous_day) for p in meeting.plans
    ]
    return BriefingRead(
        meeting_id=meeting.id,
        as_of=day,
        frozen=False,
        frozen_at=None,
        pending_reviews=await pending_reviews(session, meeting.id),
        plans=plans,
    )


async def _previous_meeting(session: AsyncSession, meeting: orm.Meeting) -> orm.Meeting | None:
    return await session.scalar(
        select(orm.Meeting)
        .where(
            orm.Meeting.series == meeting.series,
            orm.Meeting.starts_at < meeting.starts_at,
            orm.Meeting.status != MeetingStatus.CANCELLED.value,
        )
        .order_by(orm.Meeting.starts_at.desc())
        .limit(1)
    )


async def _plan_briefing(
    session: AsyncSession,
    plan_id: uuid.UUID,
    day: date,
    previous: orm.Meeting | None,
    previous_day: date | None,
) -> PlanBriefingRead:
    plan = await session.get(orm.KnownPlan, plan_id)
    lines = await _line_histories(session, plan_id)
    titles = await _pillar_titles(session, plan_id)
    progress = domain.progress(lines, day, previous_day)
    changes = None
    if progress.changes is not None and previous is not None:
        changes = ChangesRead(
            previous_meeting_id=previous.id,
            since=progress.changes.since,
            completed_since=progress.changes.completed_since,
            reopened_since=progress.changes.reopened_since,
            per_pillar=[
                PillarChangeRead(
                    pillar_id=c.pillar_id,
                    pillar=_title(titles, c.pillar_id),
                    completed_since=c.completed_since,
                    reopened_since=c.reopened_since,
                )
                for c in sorted(
                    progress.changes.per_pillar, key=lambda c: _pillar_order(titles, c.pillar_id)
                )
            ],
        )
    return PlanBriefingRead(
        plan_id=plan_id,
        code=plan.code if plan else None,
        title=plan.title if plan else None,
        status=plan.status if plan else None,
        overall=FiguresRead.model_validate(progress.overall),
        per_pillar=[
            PillarFiguresRead.model_validate(
                {**vars(figures), "pillar_id": pillar, "pillar": _title(titles, pillar)}
            )
            for pillar, figures in sorted(
                progress.per_pillar.items(), key=lambda kv: _pillar_order(titles, kv[0])
            )
        ],
        changes_since_previous_meeting=changes,
    )


async def _line_histories(session: AsyncSession, plan_id: uuid.UUID) -> list[domain.LineHistory]:
    changes: dict[uuid.UUID, list[domain.StatusChange]] = {}
    for change in await session.scalars(
        select(orm.KnownStatusChange).where(orm.KnownStatusChange.plan_id == plan_id)
    ):
        changes.setdefault(change.action_line_id, []).append(
            domain.StatusChange(change.effective_date, change.version, change.new_status)
        )
    lines = await session.scalars(
        select(orm.KnownActionLine).where(orm.KnownActionLine.plan_id == plan_id)
    )
    return [
        domain.LineHistory(
            action_line_id=line.action_line_id,
            code=line.code,
            pillar_id=line.section_path[0] if line.section_path else None,
            initial_status=line.initial_status,
            changes=changes.get(line.action_line_id, []),
        )
        for line in lines
    ]


async def _pillar_titles(
    session: AsyncSession, plan_id: uuid.UUID
) -> dict[uuid.UUID, tuple[str, str]]:
    """(ordering key, title) of the plan's top-level sections."""
    sections = await session.scalars(
        select(orm.KnownSection).where(orm.KnownSection.plan_id == plan_id)
    )
    return {s.section_id: (s.ordering_key, s.title) for s in sections if len(s.path) == 1}


def _title(titles: dict[uuid.UUID, tuple[str, str]], pillar: uuid.UUID | None) -> str:
    if pillar is None:
        return "(no section)"
    return titles[pillar][1] if pillar in titles else "(unknown section)"


def _pillar_order(titles: dict[uuid.UUID, tuple[str, str]], pillar: uuid.UUID | None) -> str:
    return titles[pillar][0] if pillar in titles else "\uffff"
