"""A plan read back as the document the import takes."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.schemas import PlanCreate
from services.plans.transfer.documents import LineDocument, PlanDocument, SectionDocument
from services.plans.views import require_plan


async def plan_document(session: AsyncSession, plan_id: uuid.UUID) -> PlanDocument:
    """The whole plan: sections parents first, lines by ordering key, each line's status
    with the effective date of its last change."""
    plan = await require_plan(session, plan_id)
    sections = list(
        await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan_id))
    )
    codes = {s.id: s.code for s in sections}
    last_change = (
        select(
            orm.JournalEntry.action_line_id, func.max(orm.JournalEntry.effective_date).label("on")
        )
        .where(orm.JournalEntry.plan_id == plan_id)
        .group_by(orm.JournalEntry.action_line_id)
        .subquery()
    )
    rows = await session.execute(
        select(orm.ActionLine, last_change.c.on)
        .outerjoin(last_change, last_change.c.action_line_id == orm.ActionLine.id)
        .where(orm.ActionLine.plan_id == plan_id)
        .order_by(orm.ActionLine.ordering_key, orm.ActionLine.code)
    )
    return PlanDocument(
        plan=PlanCreate(
            code=plan.code,
            title=plan.title,
            partners=plan.partners,
            period_start=plan.period_start,
            period_end=plan.period_end,
            time_zone=plan.time_zone,
        ),
        sections=[
            SectionDocument(
                code=s.code,
                title=s.title,
                parent_code=codes.get(s.parent_id) if s.parent_id else None,
                ordering_key=s.ordering_key,
            )
            for s in sorted(sections, key=lambda s: len(s.path))
        ],
        action_lines=[
            LineDocument(
                code=line.code,
                section_code=codes.get(line.section_id) if line.section_id else None,
                text=line.text,
                leads=line.leads,
                tags=line.tags,
                target_date=line.target_date,
                weight=line.weight,
                ordering_key=line.ordering_key,
                status=line.status,
                status_date=on,
            )
            for line, on in rows
        ],
    )
