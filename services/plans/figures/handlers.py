"""Publishing a figure: compute it from the journal as of a day under a counting rule, and
keep it with its inputs and the journal's position. Publishing the same inputs at the same
journal position again answers the figure already kept."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NoReturn

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import events, orm
from services.plans.domain import plan_today
from services.plans.figures.domain import Value
from services.plans.rollups.domain import Counters, CountingRule, figures
from services.plans.rollups.projection import PLAN_SCOPE
from services.plans.rollups.views import recount_plan, rule_by_version
from shared.contracts import plans as contracts
from shared.errors import NotFound
from shared.problems import FieldError, Unprocessable


@dataclass(frozen=True)
class PublishFigure:
    plan_id: uuid.UUID
    scope: str
    rule_version: int | None
    as_of: date
    meeting_id: uuid.UUID | None = None  # published for this meeting's conclusion


async def publish(
    session: AsyncSession, command: PublishFigure
) -> tuple[orm.PublishedFigure, bool]:
    """The published figure for these inputs at the journal's current position, and whether
    it was kept just now. A new figure (or one published for a meeting) is announced with
    ``figure.published``."""
    [published] = await publish_scopes(
        session,
        command.plan_id,
        [command.scope],
        command.rule_version,
        command.as_of,
        meeting_id=command.meeting_id,
    )
    return published


async def publish_scopes(
    session: AsyncSession,
    plan_id: uuid.UUID,
    scopes: list[str],
    rule_version: int | None,
    as_of: date,
    *,
    meeting_id: uuid.UUID | None = None,
) -> list[tuple[orm.PublishedFigure, bool]]:
    """``publish`` for several scopes of one plan at once (a page's figures, a meeting's):
    the journal is counted once for all of them, at one position, in the caller's
    transaction."""
    plan = await session.get(orm.Plan, plan_id)
    if plan is None:  # named in the body: the request is at fault, not its address
        raise NotFound("plan", plan_id, field="plan_id")
    rule = await rule_by_version(session, rule_version, "body.rule_version")
    today = plan_today(plan.time_zone, datetime.now(UTC))
    if as_of > today:
        _refuse("as_of", f"as_of {as_of} is after today ({today} in the plan's time zone)")
    journal, corrections = await journal_position(session, plan.id)
    kept = select(orm.PublishedFigure).where(
        orm.PublishedFigure.plan_id == plan.id,
        orm.PublishedFigure.rule_version == rule.version,
        orm.PublishedFigure.as_of == as_of,
        orm.PublishedFigure.journal_position == journal,
        orm.PublishedFigure.correction_position == corrections,
    )
    # A page reloaded at the same journal position finds all its figures here: one read,
    # no recount.
    found = {
        row.scope: row
        for row in await session.scalars(kept.where(orm.PublishedFigure.scope.in_(scopes)))
    }
    counters: dict[str, Counters] | None = None
    published = []
    for scope in scopes:
        row = found.get(scope)
        created = False
        if row is None:
            title = await scope_title(session, plan, scope)
            if counters is None:
                counters = await recount_plan(session, plan.id, as_of)
            value = value_from(counters, scope, rule, plan, as_of)
            row_id = await session.scalar(
                insert(orm.PublishedFigure)
                .values(
                    id=uuid.uuid4(),
                    plan_id=plan.id,
                    scope=scope,
                    scope_title=title,
                    rule_version=rule.version,
                    as_of=as_of,
                    journal_position=journal,
                    correction_position=corrections,
                    **vars(value),
                )
                .on_conflict_do_nothing(constraint="uq_published_figures_inputs")
                .returning(orm.PublishedFigure.id)
            )
            created = row_id is not None
            # Inserted, or kept meanwhile by another transaction (committed: read again).
            row = await session.scalar(kept.where(orm.PublishedFigure.scope == scope))
            assert row is not None
        if created or meeting_id is not None:
            await events.outbox.add(
                session, figure_published(row, plan, meeting_id), subject=f"figures/{row.id}"
            )
        published.append((row, created))
    return published


async def derive(
    session: AsyncSession, plan: orm.Plan, scope: str, rule_version: int, as_of: date
) -> Value:
    """The figure counted now from the journal, as of the end of ``as_of``."""
    rule = await rule_by_version(session, rule_version)
    return value_from(await recount_plan(session, plan.id, as_of), scope, rule, plan, as_of)


def value_from(
    counters: dict[str, Counters], scope: str, rule: CountingRule, plan: orm.Plan, as_of: date
) -> Value:
    f = figures(
        counters.get(scope, Counters()),
        rule,
        today=as_of,
        period=(plan.period_start, plan.period_end),
    )
    return Value(
        total=f.total,
        counted=f.counted,
        completed=f.completed,
        completion_percent=f.completion_percent,
    )


async def journal_position(session: AsyncSession, plan_id: uuid.UUID) -> tuple[int, int]:
    """How far the plan's journal and its corrections go: their last ids (0 if none)."""
    journal = await session.scalar(
        select(func.coalesce(func.max(orm.JournalEntry.id), 0)).where(
            orm.JournalEntry.plan_id == plan_id
        )
    )
    corrections = await session.scalar(
        select(func.coalesce(func.max(orm.JournalCorrection.id), 0))
        .join(orm.ActionLine, orm.ActionLine.id == orm.JournalCorrection.action_line_id)
        .where(orm.ActionLine.plan_id == plan_id)
    )
    return int(journal or 0), int(corrections or 0)


async def scope_title(session: AsyncSession, plan: orm.Plan, scope: str) -> str:
    """What a scope counts, in words; a 422 on ``scope`` for one the plan does not have."""
    if scope == PLAN_SCOPE:
        return plan.title
    kind, _, key = scope.partition(":")
    if kind == "section":
        try:
            section_id = uuid.UUID(key)
        except ValueError:
            section_id = None
        section = await session.get(orm.Section, section_id) if section_id else None
        if section is not None and section.plan_id == plan.id:
            return section.title
        _refuse("scope", f"the plan has no section {key!r}")
    if kind in ("tag", "lead") and key:
        # Only what the plan's lines carry: any other would count nothing, and each one named
        # would be a row and an event more (a caller could grow them without end).
        column = orm.ActionLine.tags if kind == "tag" else orm.ActionLine.leads
        carried = await session.scalar(
            select(orm.ActionLine.id)
            .where(orm.ActionLine.plan_id == plan.id, column.contains([key]))
            .limit(1)
        )
        if carried is None:
            _refuse("scope", f"no action line of the plan has the {kind} {key!r}")
        return f"{kind} {key}"
    _refuse("scope", "a scope is plan, section:<id>, tag:<tag> or lead:<code>")


def figure_published(
    row: orm.PublishedFigure, plan: orm.Plan, meeting_id: uuid.UUID | None
) -> contracts.FigurePublished:
    return contracts.FigurePublished(
        figure_id=row.id,
        plan_code=plan.code,
        **provenance(row),
        value=contracts.FigureValue(**vars(value_of(row))),
        meeting_id=meeting_id,
        published_at=row.published_at,
    )


def provenance(row: orm.PublishedFigure) -> dict[str, object]:
    """What a figure was derived from, as every view of it names it."""
    return {
        "plan_id": row.plan_id,
        "scope": row.scope,
        "scope_title": row.scope_title,
        "rule_version": row.rule_version,
        "as_of": row.as_of,
        "journal_position": row.journal_position,
        "correction_position": row.correction_position,
    }


def value_of(row: orm.PublishedFigure) -> Value:
    return Value(
        total=row.total,
        counted=row.counted,
        completed=row.completed,
        completion_percent=row.completion_percent,
    )


def _refuse(field: str, message: str) -> NoReturn:
    raise Unprocessable(message, errors=[FieldError(field=f"body.{field}", message=message)])
