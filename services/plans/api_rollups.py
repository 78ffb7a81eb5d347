"""Rollups, counting rules, and the check that rollups equal a fresh recount."""

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import handlers, orm
from services.plans.rollup_projection import PLAN_SCOPE, load_counters
from services.plans.rollup_queries import check_all, check_plan, recount_plan, rule_by_version
from services.plans.rollup_rules import Counters, CountingRule, figures
from services.plans.schemas import (
    CountingRuleCreate,
    CountingRuleRead,
    FiguresRead,
    PlanRollupsRead,
    RollupCheckRead,
    RollupDifferenceRead,
    ScopeRollupRead,
)
from shared.auth import AnyPrincipal, Secretariat
from shared.http import read_only, unit_of_work
from shared.problems import ProblemDetail
from shared.schemas import MAX_INTEGER

router = APIRouter(tags=["rollups"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDetail, "description": "No such plan, action line or counting rule"}
}


@router.get("/plans/{plan_id}/rollups", response_model=PlanRollupsRead, responses=_NOT_FOUND)
async def plan_rollups(
    plan_id: uuid.UUID,
    request: Request,
    principal: AnyPrincipal,
    rule_version: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
    as_of: date | None = None,
) -> PlanRollupsRead:
    """Progress of a plan, per section (each section counts everything below it), per area
    tag and per lead, under a counting rule (the default one unless `rule_version` says).

    Without `as_of` the figures come from the read model that the plan's own events keep
    current; with `as_of` they are recomputed from the journal: each line's status as of the
    end of that day."""
    async with read_only(request) as session:
        plan = await handlers.get_plan(session, plan_id)
        rule = await rule_by_version(session, rule_version)
        rule_row = await session.get(orm.CountingRule, rule.version)
        counters = (
            await load_counters(session, plan_id)
            if as_of is None
            else await recount_plan(session, plan_id, as_of)
        )
        sections = await _sections(session, plan_id)
    today = as_of or datetime.now(UTC).date()
    period = (plan.period_start, plan.period_end)

    def scope(kind: str, key: str, c: Counters, **extra: object) -> ScopeRollupRead:
        f = figures(c, rule, today=today, period=period)
        read = FiguresRead(**vars(f), completion_percent=round(f.completion_rate * 100, 1))
        return ScopeRollupRead(kind=kind, key=key, figures=read, **extra)

    by_kind: dict[str, list[ScopeRollupRead]] = {"section": [], "tag": [], "lead": []}
    for name in sorted(counters):
        kind, _, key = name.partition(":")
        if kind == "section":
            section = sections.get(key)
            extra = (
                {"title": section.title, "code": section.code, "depth": len(section.path)}
                if section
                else {}
            )
            by_kind[kind].append(scope(kind, key, counters[name], **extra))
        elif kind in by_kind:
            by_kind[kind].append(scope(kind, key, counters[name]))
    by_kind["section"].sort(key=lambda s: _section_order(sections, s.key))
    return PlanRollupsRead(
        plan_id=plan_id,
        rule=_rule_read(rule, rule_row),
        as_of=as_of,
        computed_from="read_model" if as_of is None else "journal",
        plan=scope(
            "plan",
            str(plan_id),
            counters.get(PLAN_SCOPE, Counters()),
            title=plan.title,
            code=plan.code,
        ),
        sections=by_kind["section"],
        tags=by_kind["tag"],
        leads=by_kind["lead"],
    )


@router.get("/plans/{plan_id}/rollups/check", response_model=RollupCheckRead, responses=_NOT_FOUND)
async def check_plan_rollups(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> RollupCheckRead:
    """Compare every rollup of the plan with a from-scratch recount of its lines and journal."""
    async with read_only(request) as session:
        await handlers.get_plan(session, plan_id)
        differences = await check_plan(session, plan_id)
    return _check_read(1, differences)


@router.get("/rollups/check", response_model=RollupCheckRead)
async def check_all_rollups(request: Request, principal: AnyPrincipal) -> RollupCheckRead:
    """Compare the rollups of every plan with a from-scratch recount (also:
    `python -m services.plans rollups-check`)."""
    async with read_only(request) as session:
        plans, differences = await check_all(session)
    return _check_read(plans, differences)


@router.get("/counting-rules", response_model=list[CountingRuleRead])
async def list_counting_rules(request: Request, principal: AnyPrincipal) -> list[CountingRuleRead]:
    """Every version of the counting rules, oldest first. Version 1 counts every line once."""
    async with read_only(request) as session:
        rows = (
            await session.scalars(select(orm.CountingRule).order_by(orm.CountingRule.version))
        ).all()
    return [CountingRuleRead.model_validate(r) for r in rows]


@router.post(
    "/counting-rules", status_code=status.HTTP_201_CREATED, response_model=CountingRuleRead
)
async def create_counting_rule(
    body: CountingRuleCreate, request: Request, principal: Secretariat
) -> CountingRuleRead:
    """Add a new version of the counting rules. Existing versions never change, so figures
    published under them stay reproducible; `is_default` makes it the one used by default."""
    async with unit_of_work(request) as session:
        await session.execute(select(func.pg_advisory_xact_lock(7_320_002)))
        version = (await session.scalar(select(func.max(orm.CountingRule.version)))) or 0
        if body.is_default:
            await session.execute(update(orm.CountingRule).values(is_default=False))
        row = orm.CountingRule(
            version=version + 1,
            name=body.name,
            mode=body.mode,
            excluded_statuses=[s.value for s in body.excluded_statuses],
            is_default=body.is_default,
        )
        session.add(row)
    return CountingRuleRead.model_validate(row)


async def _sections(session: AsyncSession, plan_id: uuid.UUID) -> dict[str, orm.Section]:
    rows = await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan_id))
    return {str(s.id): s for s in rows}


def _section_order(sections: dict[str, orm.Section], key: str) -> list[str]:
    section = sections.get(key)
    if section is None:
        return [key]
    return [sections[str(p)].ordering_key if str(p) in sections else "" for p in section.path]


def _rule_read(rule: CountingRule, row: orm.CountingRule | None) -> CountingRuleRead:
    return CountingRuleRead(
        version=rule.version,
        name=row.name if row is not None else "count every line",
        mode=rule.mode.value,
        excluded_statuses=sorted(rule.excluded),
        is_default=row.is_default if row is not None else True,
    )


def _check_read(plans: int, differences: list) -> RollupCheckRead:
    return RollupCheckRead(
        plans_checked=plans,
        consistent=not differences,
        differences=[RollupDifferenceRead(**vars(d)) for d in differences],
    )
