"""Reading rollups: from the read model, as of a past date from the journal, and the check
that the read model equals a from-scratch recount; and the counting rules."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.domain import LineStatus, plan_today
from services.plans.rollups.domain import Counters, CountingRule, LineFacts, figures, recount
from services.plans.rollups.projection import (
    PLAN_SCOPE,
    default_rule,
    load_counters,
    scopes_of,
    to_rule,
)
from services.plans.schemas import (
    CountingRuleRead,
    FiguresRead,
    PlanRollupsRead,
    RollupCheckRead,
    RollupDifferenceRead,
    ScopeRollupRead,
)
from services.plans.views import require_plan
from shared.problems import FieldError, Unprocessable


async def plan_rollups(
    session: AsyncSession, plan_id: uuid.UUID, rule_version: int | None, as_of: date | None
) -> PlanRollupsRead:
    """Progress of a plan per section, tag and lead under a counting rule: from the read
    model, or (``as_of``) recomputed from the journal as of the end of that day."""
    plan = await require_plan(session, plan_id)
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
        read = FiguresRead(**vars(f))
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


async def plan_check(session: AsyncSession, plan_id: uuid.UUID) -> RollupCheckRead:
    """Every rollup of the plan compared with a from-scratch recount."""
    await require_plan(session, plan_id)
    return _check_read(1, await check_plan(session, plan_id))


async def every_plan_check(session: AsyncSession) -> RollupCheckRead:
    return _check_read(*await check_all(session))


async def counting_rules(session: AsyncSession) -> list[CountingRuleRead]:
    """Every version of the counting rules, oldest first."""
    rows = await session.scalars(select(orm.CountingRule).order_by(orm.CountingRule.version))
    return [CountingRuleRead.model_validate(r) for r in rows]


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


def _check_read(plans: int, differences: list["Difference"]) -> RollupCheckRead:
    return RollupCheckRead(
        plans_checked=plans,
        consistent=not differences,
        differences=[RollupDifferenceRead(**vars(d)) for d in differences],
    )


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


# Each line as the read model has it, as the lines table has it, and as the journal has it as
# of a date (its last change effective by then, the latest recorded first on a tie).
_LINE_CHECK = text(
    """
    SELECT l.id, l.code, l.status AS line_status,
           r.status AS model_status, r.completed_on AS model_completed_on,
           coalesce(last.to_status, 'not_started') AS journal_status,
           CASE WHEN last.to_status = 'completed' THEN last.effective_date END
               AS journal_completed_on
      FROM action_lines l
      LEFT JOIN rollup_lines r ON r.action_line_id = l.id
      LEFT JOIN LATERAL (
            SELECT j.to_status, j.effective_date FROM status_journal j
             WHERE j.action_line_id = l.id AND j.effective_date <= :as_of
             ORDER BY j.effective_date DESC, j.id DESC LIMIT 1) last ON true
     WHERE l.plan_id = :plan_id
     ORDER BY l.ordering_key, l.id
    """
)


async def check_lines_as_of_today(session: AsyncSession, plan_id: uuid.UUID) -> list[Difference]:
    """Every line of the plan: its status and completion date in the read model must be
    the journal's as of today in the plan's time zone (the rule on effective dates makes
    them so; data written before the rule, or a bug, shows here), and so must its status."""
    zone = await session.scalar(select(orm.Plan.time_zone).where(orm.Plan.id == plan_id))
    today = plan_today(zone or "UTC", datetime.now(UTC))
    differences = []
    rows = await session.execute(_LINE_CHECK, {"plan_id": plan_id, "as_of": today})
    for row in rows:
        model = {"status": row.model_status, "completed_on": row.model_completed_on}
        journal = {"status": row.journal_status, "completed_on": row.journal_completed_on}
        if model != journal or row.line_status != row.journal_status:
            differences.append(
                Difference(
                    plan_id,
                    f"line:{row.id} (code {row.code}) vs the journal as of {today}",
                    {**model, "line_status": row.line_status},
                    journal,
                )
            )
    return differences


async def check_plan(session: AsyncSession, plan_id: uuid.UUID) -> list[Difference]:
    stored = await load_counters(session, plan_id)
    fresh = await recount_plan(session, plan_id)
    differences = []
    for scope in sorted(set(stored) | set(fresh)):
        a = stored.get(scope, Counters()).normalised()
        b = fresh.get(scope, Counters()).normalised()
        if a != b:
            differences.append(Difference(plan_id, scope, _show(a), _show(b)))
    return differences + await check_lines_as_of_today(session, plan_id)


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


async def rule_by_version(
    session: AsyncSession, version: int | None, field: str = "query.rule_version"
) -> CountingRule:
    if version is None:
        return await default_rule(session)
    row = await session.get(orm.CountingRule, version)
    if row is None:
        message = f"there is no counting rule version {version}"
        raise Unprocessable(message, errors=[FieldError(field=field, message=message)])
    return to_rule(row)
