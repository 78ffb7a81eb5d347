"""The briefing of a meeting, as a response schema: the frozen snapshot of a concluded
meeting, or the figures computed now from the read model of plans (``briefings/domain.py``
does the arithmetic)."""

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import domain, orm
from services.meetings.briefings.domain import LineHistory, StatusChange, progress
from services.meetings.briefings.schemas import (
    BriefingRead,
    ChangesRead,
    FiguresRead,
    PillarChangeRead,
    PillarFiguresRead,
    PlanBriefingRead,
    PublishedFigureRead,
)
from services.meetings.domain import DecisionKind, MeetingStatus, Outcome


async def pending_reviews(session: AsyncSession, meeting_id: uuid.UUID) -> int:
    rows = await session.scalars(
        select(orm.Decision.id).where(
            orm.Decision.meeting_id == meeting_id,
            orm.Decision.kind == DecisionKind.STATUS_REVIEW.value,
            orm.Decision.outcome == Outcome.PENDING.value,
        )
    )
    return len(rows.all())


async def briefing(session: AsyncSession, meeting_id: uuid.UUID) -> BriefingRead:
    """The frozen snapshot of a concluded meeting, or the briefing computed now."""
    meeting = await orm.load(session, orm.Meeting, meeting_id)
    snapshot = await session.get(orm.BriefingSnapshot, meeting.id)
    if snapshot is not None:
        published = await session.scalars(
            select(orm.MeetingFigure)
            .where(orm.MeetingFigure.meeting_id == meeting.id)
            .order_by(orm.MeetingFigure.published_at, orm.MeetingFigure.scope)
        )
        return BriefingRead.model_validate(
            {
                **snapshot.content,
                "frozen": True,
                "frozen_at": snapshot.frozen_at,
                "published_figures": [PublishedFigureRead.model_validate(f) for f in published],
            }
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
    found = progress(lines, day, previous_day)
    changes = None
    if found.changes is not None and previous is not None:
        changes = ChangesRead(
            previous_meeting_id=previous.id,
            since=found.changes.since,
            completed_since=found.changes.completed_since,
            reopened_since=found.changes.reopened_since,
            per_pillar=[
                PillarChangeRead(
                    pillar_id=c.pillar_id,
                    pillar=_title(titles, c.pillar_id),
                    completed_since=c.completed_since,
                    reopened_since=c.reopened_since,
                )
                for c in sorted(
                    found.changes.per_pillar, key=lambda c: _pillar_order(titles, c.pillar_id)
                )
            ],
        )
    return PlanBriefingRead(
        plan_id=plan_id,
        code=plan.code if plan else None,
        title=plan.title if plan else None,
        status=plan.status if plan else None,
        overall=FiguresRead.model_validate(found.overall),
        per_pillar=[
            PillarFiguresRead.model_validate(
                {**vars(figures), "pillar_id": pillar, "pillar": _title(titles, pillar)}
            )
            for pillar, figures in sorted(
                found.per_pillar.items(), key=lambda kv: _pillar_order(titles, kv[0])
            )
        ],
        changes_since_previous_meeting=changes,
    )


async def _line_histories(session: AsyncSession, plan_id: uuid.UUID) -> list[LineHistory]:
    changes: dict[uuid.UUID, list[StatusChange]] = {}
    for change in await session.scalars(
        select(orm.KnownStatusChange).where(orm.KnownStatusChange.plan_id == plan_id)
    ):
        changes.setdefault(change.action_line_id, []).append(
            StatusChange(change.effective_date, change.version, change.new_status)
        )
    lines = await session.scalars(
        select(orm.KnownActionLine).where(orm.KnownActionLine.plan_id == plan_id)
    )
    return [
        LineHistory(
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
