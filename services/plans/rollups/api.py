"""Routes of the rollups: a plan's figures, the counting rules, and the check that the read
model equals a fresh recount."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from services.plans.rollups import handlers, views
from services.plans.rollups.domain import CountingMode
from services.plans.schemas import (
    NOT_FOUND,
    CountingRuleCreate,
    CountingRuleRead,
    PlanRollupsRead,
    RollupCheckRead,
)
from shared.auth import AnyPrincipal, Secretariat
from shared.http import read_only, unit_of_work
from shared.schemas import MAX_INTEGER

router = APIRouter(tags=["rollups"])


@router.get("/plans/{plan_id}/rollups", response_model=PlanRollupsRead, responses=NOT_FOUND)
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
        return await views.plan_rollups(session, plan_id, rule_version, as_of)


@router.get("/plans/{plan_id}/rollups/check", response_model=RollupCheckRead, responses=NOT_FOUND)
async def check_plan_rollups(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> RollupCheckRead:
    """Compare every rollup of the plan with a from-scratch recount of its lines and journal,
    and every line of the read model with the journal as of today in the plan's time zone."""
    async with read_only(request) as session:
        return await views.plan_check(session, plan_id)


@router.get("/rollups/check", response_model=RollupCheckRead)
async def check_all_rollups(request: Request, principal: AnyPrincipal) -> RollupCheckRead:
    """Compare the rollups of every plan with a from-scratch recount, and every line with
    the journal as of today (also: `python -m services.plans rollups-check`)."""
    async with read_only(request) as session:
        return await views.every_plan_check(session)


@router.get("/counting-rules", response_model=list[CountingRuleRead])
async def list_counting_rules(request: Request, principal: AnyPrincipal) -> list[CountingRuleRead]:
    """Every version of the counting rules, oldest first. Version 1 counts every line once."""
    async with read_only(request) as session:
        return await views.counting_rules(session)


@router.post(
    "/counting-rules", status_code=status.HTTP_201_CREATED, response_model=CountingRuleRead
)
async def create_counting_rule(
    body: CountingRuleCreate, request: Request, principal: Secretariat
) -> CountingRuleRead:
    """Add a new version of the counting rules. Existing versions never change, so figures
    published under them stay reproducible; `is_default` makes it the one used by default."""
    command = handlers.CreateCountingRule(
        name=body.name,
        mode=CountingMode(body.mode),
        excluded_statuses=body.excluded_statuses,
        is_default=body.is_default,
    )
    async with unit_of_work(request) as session:
        row = await handlers.create_counting_rule(session, command)
    return CountingRuleRead.model_validate(row)
