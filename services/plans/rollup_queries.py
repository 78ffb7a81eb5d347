"""Reading rollups: from the read model, as of a past date from the journal, and the check
that the read model equals a from-scratch recount."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.domain import LineStatus
from services.plans.rollup_projection import (
    PLAN_SCOPE,
    default_rule,
    load_counters,
    scopes_of,
    to_rule,
)
from services.plans.rollup_rules import Counters, CountingRule, LineFacts, recount
from shared.problems import FieldError, Unprocessable

# Every line of a plan with its section path, and its status and completion date, either now
# or as of a date (the last journal entry effective on or before it; not_started if none).
_LINES_NOW = text(
    """
    SELECT l.id, l.status, l.weight, l.target_date, l.tags, l.leads,
           coalesce(s.path, '{}') AS section_path,
           (SELECT j.effective_date FROM status_journal j
             WHERE j.action_line_id = l.id AND j.to_status = 'completed'
             ORDER BY j.id DESC LIMIT 1) AS completed_on
      FROM action_lines l LEFT JOIN sections s ON s.id = l.section_id
     WHERE l.plan_id = :plan_id
    """
)
_LINES_AS_OF = text(
    """
    SELECT l.id, coalesce(last.to_status, 'not_started') AS status, l.weight, l.target_date,
           l.tags, l.leads, coalesce(s.path, '{}') AS section_path,
           CASE WHEN last.to_status = 'completed' THEN last.effective_date END AS completed_on
      FROM action_lines l
      LEFT JOIN sections s ON s.id = l.section_id
      LEFT JOIN LATERAL (
            SELECT j.to_status, j.effective_date FROM status_journal j
             WHERE j.action_line_id = l.id AND j.effective_date <= :as_of
             ORDER BY j.effective_date DESC, j.id DESC LIMIT 1) last ON true
     WHERE l.plan_id = :plan_id
    """
)


async def recount_plan(
    session: AsyncSession, plan_id: uuid.UUID, as_of: date | None = None
) -> dict[str, Counters]:
    """Counters of every scope of a plan, counted from scratch from lines and journal."""
    query, params = (
        (_LINES_NOW, {"plan_id": plan_id})
        if as_of is None
        else (_LINES_AS_OF, {"plan_id": plan_id, "as_of": as_of})
    )
    by_scope: dict[str, list[LineFacts]] = defaultdict(list)
    for row in await session.execute(query, params):
        facts = LineFacts(
            LineStatus(row.status), float(row.weight), row.target_date, row.completed_on
        )
        for scope in scopes_of(list(row.section_path), list(row.tags), list(row.leads)):
            by_scope[scope].append(facts)
    counted = {scope: recount(lines) for scope, lines in by_scope.items()}
    counted.setdefault(PLAN_SCOPE, Counters())
    return counted


@dataclass(frozen=True)
class Difference:
    plan_id: uuid.UUID
    scope: str
    stored: object
    recounted: object


async def check_plan(session: AsyncSession, plan_id: uuid.UUID) -> list[Difference]:
    stored = await load_counters(session, plan_id)
    fresh = await recount_plan(session, plan_id)
    differences = []
    for scope in sorted(set(stored) | set(fresh)):
        a = stored.get(scope, Counters()).normalised()
        b = fresh.get(scope, Counters()).normalised()
        if a != b:
            differences.append(Difference(plan_id, scope, _show(a), _show(b)))
    return differences


async def check_all(session: AsyncSession) -> tuple[int, list[Difference]]:
    plan_ids = list(await session.scalars(select(orm.Plan.id)))
    differences: list[Difference] = []
    for plan_id in plan_ids:
        differences.extend(await check_plan(session, plan_id))
    return len(plan_ids), differences


def _show(normalised: tuple[dict, dict]) -> dict[str, object]:
    buckets, targets = normalised
    return {
        "buckets": {
            f"{s}{' (ahead)' if ahead else ''}": cw for (s, ahead), cw in sorted(buckets.items())
        },
        "open_targets": {d.isoformat(): cw for d, cw in sorted(targets.items())},
    }


async def rule_by_version(session: AsyncSession, version: int | None) -> CountingRule:
    if version is None:
        return await default_rule(session)
    row = await session.get(orm.CountingRule, version)
    if row is None:
        message = f"there is no counting rule version {version}"
        raise Unprocessable(
            message, errors=[FieldError(field="query.rule_version", message=message)]
        )
    return to_rule(row)
