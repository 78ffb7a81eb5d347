"""The statement checker against the database: the plan and day the text (or the request)
names, the plan's figures as of that day, and each claim's judgement."""

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.domain import plan_today
from services.plans.rollups.domain import Counters, LineStatus, figures
from services.plans.rollups.projection import PLAN_SCOPE, default_rule
from services.plans.rollups.views import recount_plan
from services.plans.statements.claims import Judgement
from services.plans.statements.mentions import find_date, find_plan
from services.plans.statements.record import Counts, Record, judge
from services.plans.statements.schemas import ClaimRead, StatementCheckRead
from shared.problems import FieldError, Unprocessable


async def check_statement(
    session: AsyncSession, text: str, plan_code: str | None, as_of: date | None
) -> StatementCheckRead:
    plan = await _plan(session, text, plan_code)
    day = as_of or (found[0] if (found := find_date(text)) else None)
    record: Record | None = None
    if plan is None:
        why = "not compared with the record: the text names no plan Accord knows"
    elif day is None:
        why = "not compared with the record: the text gives no date its figures are as of"
    elif day > plan_today(plan.time_zone, datetime.now(UTC)):
        why = f"not compared with the record: {day} has not come yet in the plan's calendar"
    else:
        record = await _record(session, plan, day)
        why = f"compared with the figures of {plan.code} as of {day} (default counting rule)"
    judgements = judge(text, record)
    return StatementCheckRead(
        plan_code=plan.code if plan else None,
        as_of=day,
        record=why,
        claims=[_read(j) for j in judgements],
        ok=sum(j.verdict == "ok" for j in judgements),
        inconsistent=sum(j.verdict == "inconsistent" for j in judgements),
        contradicts_record=sum(j.verdict == "contradicts_record" for j in judgements),
    )


async def _plan(session: AsyncSession, text: str, code: str | None) -> orm.Plan | None:
    if code is not None:
        plan = await session.scalar(select(orm.Plan).where(orm.Plan.code == code))
        if plan is None:
            message = f"there is no plan with code {code!r}"
            raise Unprocessable(
                message, errors=[FieldError(field="body.plan_code", message=message)]
            )
        return plan
    names = (await session.execute(select(orm.Plan.code, orm.Plan.title))).all()
    named = find_plan(text, [(r.code, r.title) for r in names])
    if named is None:
        return None
    return await session.scalar(select(orm.Plan).where(orm.Plan.code == named))


async def _record(session: AsyncSession, plan: orm.Plan, day: date) -> Record:
    rule = await default_rule(session)
    counters = await recount_plan(session, plan.id, day)
    pillars = await session.scalars(
        select(orm.Section).where(orm.Section.plan_id == plan.id, orm.Section.parent_id.is_(None))
    )

    def counts(scope: str) -> Counts:
        f = figures(counters.get(scope, Counters()), rule, today=day)
        return Counts(
            counted=f.counted, completed=f.completed, ongoing=f.by_status[LineStatus.ONGOING]
        )

    return Record(
        plan_code=plan.code,
        as_of=day,
        overall=counts(PLAN_SCOPE),
        pillars={p.title: counts(f"section:{p.id}") for p in pillars},
    )


def _read(j: Judgement) -> ClaimRead:
    c = j.claim
    return ClaimRead(
        kind=c.kind,
        text=c.text,
        start=c.start,
        end=c.end,
        verdict=j.verdict,
        reasons=j.reasons,
        checked_against_record=j.checked_against_record,
        part=c.part,
        whole=c.whole,
        percent=c.percent,
        qualifier=c.qualifier,
        noun=c.noun,
    )
