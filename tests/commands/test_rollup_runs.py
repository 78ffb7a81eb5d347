"""The rollup projection handed new lines at once, as the consumer runner hands its handler of
``action_line.created`` every run of consecutive creations of a fetched batch: they are counted
together (a plan import's thousands of lines cost a few statements per batch, not a few per
line), the events after them find them, and the counters come out as a recount from the lines
and the journal has them."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import consumers, handlers, orm
from services.plans.domain import LineStatus, Source
from services.plans.rollups import views as rollup_views
from services.plans.rollups.projection import LINE_EVENTS, PLAN_SCOPE, load_counters
from shared.contracts import plans as contracts
from shared.events import CloudEvent, InvalidEvent, parse_data
from tests.commands.conftest import staged

pytestmark = pytest.mark.integration

ACTOR = "secretariat@example.org"
LINES = 60


async def _plan_with_lines(session: AsyncSession) -> tuple[orm.Plan, list[orm.ActionLine]]:
    plan = await handlers.create_plan(
        session,
        handlers.CreatePlan(
            code=f"POA-{uuid.uuid4().hex[:8]}",
            title="ASEAN-UN Plan of Action",
            partners=["ASEAN", "UN"],
            period_start=date(2016, 1, 1),
            period_end=date(2030, 12, 31),
        ),
    )
    politics = await handlers.add_section(
        session, handlers.AddSection(plan_id=plan.id, code="1", title="Political-Security")
    )
    peace = await handlers.add_section(
        session,
        handlers.AddSection(plan_id=plan.id, code="1.1", title="Peace", parent_id=politics.id),
    )
    lines = []
    for n in range(LINES):
        command = handlers.AddActionLine(
            plan_id=plan.id,
            code=f"1.1.{n}",
            text=f"Line {n}",
            section_id=peace.id if n % 3 else politics.id,
            tags=["climate", f"t{n % 4}"],
            leads=[f"lead-{n % 5}"],
            target_date=date(2019 + n % 3, 12, 31) if n % 2 else None,
            weight=1.0 + n % 3,
        )
        lines.append(await handlers.add_action_line(session, command))
    return plan, lines


async def _change(session: AsyncSession, line: orm.ActionLine, status: LineStatus) -> None:
    command = handlers.ChangeActionLineStatus(
        action_line_id=line.id,
        status=status,
        expected_version=line.version,
        effective_date=date(2020, 6, 30),
        actor=ACTOR,
        source=Source.api(),
    )
    await handlers.change_action_line_status(session, command)


async def _line_events(session: AsyncSession, plan: orm.Plan) -> list[tuple[CloudEvent, Any]]:
    run = []
    for staged_event in await staged(session, orm.outbox):
        data = parse_data(staged_event)
        if isinstance(data, LINE_EVENTS) and data.plan_id == plan.id:
            run.append((staged_event, data))
    return run


async def _as_the_runner_would(session: AsyncSession, events: list[tuple[CloudEvent, Any]]) -> None:
    """Consecutive creations at once, every other line event on its own."""
    created: list[tuple[CloudEvent, Any]] = []
    for staged_event, data in events:
        if isinstance(data, contracts.ActionLineCreated):
            created.append((staged_event, data))
            continue
        if created:
            await consumers.on_lines_created(session, created)
            created = []
        await consumers.on_line_event(session, staged_event, data)
    if created:
        await consumers.on_lines_created(session, created)


@asynccontextmanager
async def _statements(session: AsyncSession) -> AsyncIterator[list[str]]:
    """The statements on the rollup read model the session sends meanwhile: those through
    SQLAlchemy (its events) and those sent to asyncpg directly (``shared.prepared``: asyncpg's
    query log, which calls back soon after each query, not at once)."""
    sent: list[str] = []

    def through_sqlalchemy(*args: Any) -> None:
        sent.append(args[2])

    def to_asyncpg(query: LoggedQuery) -> None:
        sent.append(query.query)

    engine = session.bind.sync_engine  # type: ignore[union-attr]
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    try:
        with driver.query_logger(to_asyncpg):
            yield sent
            await asyncio.sleep(0)  # the query log's last callbacks
    finally:
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)
    sent[:] = [statement for statement in sent if "rollup_" in statement]


async def test_new_lines_counted_together_then_their_changes_count_as_a_recount_does(
    plans_db: AsyncSession,
) -> None:
    plan, lines = await _plan_with_lines(plans_db)
    for line in lines[:20]:
        await _change(plans_db, line, LineStatus.COMPLETED)
    for line in lines[20:25]:
        await _change(plans_db, line, LineStatus.ONGOING)
    await handlers.update_action_line(
        plans_db,
        handlers.UpdateActionLine(
            action_line_id=lines[0].id, expected_version=lines[0].version, tags=["moved"]
        ),
    )
    run = await _line_events(plans_db, plan)
    assert [type(d) for _, d in run[:LINES]] == [contracts.ActionLineCreated] * LINES
    assert len(run) == LINES + 26

    await _as_the_runner_would(plans_db, run)

    assert await rollup_views.check_plan(plans_db, plan.id) == []
    counters = await load_counters(plans_db, plan.id)
    by_status: dict[LineStatus, float] = {}
    for (status, _ahead), (count, _weight) in counters[PLAN_SCOPE].buckets.items():
        by_status[status] = by_status.get(status, 0) + count
    assert by_status == {
        LineStatus.COMPLETED: 20,
        LineStatus.ONGOING: 5,
        LineStatus.NOT_STARTED: LINES - 25,
    }
    assert "tag:moved" in counters
    # Each change after the new lines published its rollups; the new lines did not.
    published = await plans_db.scalar(
        select(func.count())
        .select_from(orm.outbox)
        .where(orm.outbox.c.event_type == contracts.RollupsChanged.event_type)
    )
    assert published == 26


async def test_new_lines_together_cost_a_few_statements_whatever_their_number(
    plans_db: AsyncSession,
) -> None:
    plan, _ = await _plan_with_lines(plans_db)
    run = await _line_events(plans_db, plan)
    assert len(run) == LINES
    async with _statements(plans_db) as sent:
        await consumers.on_lines_created(plans_db, run)
    # The lines, then the buckets and the open targets of every scope they count in.
    assert len(sent) == 3, sent
    assert await rollup_views.check_plan(plans_db, plan.id) == []


async def test_a_run_applied_again_changes_nothing(plans_db: AsyncSession) -> None:
    # A replay racing the live consumer, or creation events published twice under new ids:
    # the read model keeps what it has.
    plan, lines = await _plan_with_lines(plans_db)
    for line in lines[:10]:
        await _change(plans_db, line, LineStatus.COMPLETED)
    run = await _line_events(plans_db, plan)
    await _as_the_runner_would(plans_db, run)
    before = await load_counters(plans_db, plan.id)
    await _as_the_runner_would(plans_db, run)
    await consumers.on_lines_created(plans_db, run[:5] + run[:5])
    assert await load_counters(plans_db, plan.id) == before
    assert await rollup_views.check_plan(plans_db, plan.id) == []


async def test_a_run_of_more_lines_than_one_statement_takes_is_counted_whole(
    plans_db: AsyncSession,
) -> None:
    # 5,000 new lines are 40,000 values, more than PostgreSQL takes in one statement (32,767
    # parameters): the rows must go in several statements, and every line be counted once.
    plan, _ = await _plan_with_lines(plans_db)
    created = [
        contracts.ActionLineCreated(
            plan_id=plan.id,
            action_line_id=uuid.uuid4(),
            section_path=[],
            code=f"9.{n}",
            text=f"Imported line {n}",
            leads=["UN"],
            tags=[f"tag-{n % 7}"],
            target_date=date(2025, 12, 31),
            weight=1.0,
            status=LineStatus.NOT_STARTED.value,
            version=1,
        )
        for n in range(5000)
    ]
    await consumers.on_lines_created(plans_db, [(None, data) for data in created])  # type: ignore[misc]
    counters = await load_counters(plans_db, plan.id)
    assert sum(count for count, _ in counters["lead:UN"].buckets.values()) == 5000
    assert sum(count for count, _ in counters["tag:tag-3"].buckets.values()) == len(
        range(3, 5000, 7)
    )
    assert sum(count for count, _ in counters[PLAN_SCOPE].buckets.values()) == 5000


async def test_a_change_of_a_line_the_read_model_does_not_have_is_refused(
    plans_db: AsyncSession,
) -> None:
    # Its creation comes first on the same partition: without it the change can never apply,
    # so it goes to the dead-letter topic rather than being skipped as an old version is.
    plan, lines = await _plan_with_lines(plans_db)
    await _change(plans_db, lines[0], LineStatus.ONGOING)
    staged_event, change = (await _line_events(plans_db, plan))[-1]
    assert isinstance(change, contracts.ActionLineStatusChanged)
    with pytest.raises(InvalidEvent, match=f"no action line {lines[0].id}"):
        await consumers.on_line_event(plans_db, staged_event, change)


async def test_an_older_change_applied_after_a_newer_one_moves_nothing(
    plans_db: AsyncSession,
) -> None:
    # A replay racing the live consumer can hand the projection a line's change after a newer
    # one: the line keeps the newer status and the counters stay as a recount has them.
    plan, lines = await _plan_with_lines(plans_db)
    await _change(plans_db, lines[0], LineStatus.ONGOING)
    await _change(plans_db, lines[0], LineStatus.COMPLETED)
    run = await _line_events(plans_db, plan)
    await _as_the_runner_would(plans_db, run)
    before = await load_counters(plans_db, plan.id)
    staged_event, older = run[-2]
    assert isinstance(older, contracts.ActionLineStatusChanged)
    assert older.new_status == LineStatus.ONGOING
    await consumers.on_line_event(plans_db, staged_event, older)
    assert await load_counters(plans_db, plan.id) == before
    assert await rollup_views.check_plan(plans_db, plan.id) == []
