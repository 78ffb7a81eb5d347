"""The rule on effective dates (docs/decisions/0025): a status change takes effect no later
than today in the plan's time zone and no earlier than the line's latest change; a date
otherwise is refused on ``effective_date``, by the API and line by line in a meeting's
review; a recorded change is dated differently only by a correction of history, which the
rollups follow; and the rollup check compares every line of the read model with the journal
as of today."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from services.plans import consumers, handlers, orm
from services.plans.domain import EffectiveDateRefused, LineStatus, Source
from services.plans.rollups import views as rollup_views
from services.plans.rollups.projection import LINE_EVENTS
from shared.events import parse_data
from tests.commands.conftest import staged
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ACTOR = "secretariat@example.org"


def _today(zone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


async def _plan(session: AsyncSession, time_zone: str = "UTC") -> orm.Plan:
    command = handlers.CreatePlan(
        code=f"POA-{uuid.uuid4().hex[:8]}",
        title="ASEAN-UN Plan of Action",
        partners=["ASEAN", "UN"],
        period_start=date(2016, 1, 1),
        period_end=date(2030, 12, 31),
        time_zone=time_zone,
    )
    return await handlers.create_plan(session, command)


async def _line(session: AsyncSession, plan: orm.Plan, code: str, **fields: Any) -> orm.ActionLine:
    command = handlers.AddActionLine(plan_id=plan.id, code=code, text=f"Line {code}", **fields)
    return await handlers.add_action_line(session, command)


async def _change(
    session: AsyncSession, line: orm.ActionLine, status: LineStatus, effective: date | None
) -> orm.ActionLine:
    command = handlers.ChangeActionLineStatus(
        action_line_id=line.id,
        status=status,
        expected_version=line.version,
        effective_date=effective,
        actor=ACTOR,
        source=Source.api(),
    )
    return await handlers.change_action_line_status(session, command)


async def _refused(session: AsyncSession, line: orm.ActionLine, effective: date) -> str:
    with pytest.raises(EffectiveDateRefused) as caught:
        async with session.begin_nested():
            await _change(session, line, LineStatus.ON_HOLD, effective)
    assert caught.value.field == "effective_date"
    return caught.value.message


async def _project(session: AsyncSession, plan: orm.Plan) -> None:
    """Feed the plan's staged line events to the rollup projection, as its consumer would."""
    for event in await staged(session, orm.outbox):
        data = parse_data(event)
        if isinstance(data, LINE_EVENTS) and data.plan_id == plan.id:
            await consumers.on_line_event(session, event, data)


async def test_a_change_cannot_take_effect_after_today_in_the_plans_time_zone(
    plans_db: AsyncSession,
) -> None:
    # Kiritimati (UTC+14) is always at least a day ahead of Pago Pago (UTC-11).
    ahead, behind = "Pacific/Kiritimati", "Pacific/Pago_Pago"
    tomorrow_behind = _today(ahead)
    assert tomorrow_behind > _today(behind)

    late_plan = await _plan(plans_db, behind)
    line = await _line(plans_db, late_plan, "1.1")
    message = await _refused(plans_db, line, tomorrow_behind)
    assert f"after today ({_today(behind)} in the plan's time zone)" in message
    await plans_db.refresh(line)
    assert (line.status, line.version) == ("not_started", 1)

    early_plan = await _plan(plans_db, ahead)
    early_line = await _line(plans_db, early_plan, "1.1")
    await _change(plans_db, early_line, LineStatus.ONGOING, tomorrow_behind)
    assert early_line.status == "ongoing"


async def test_without_a_date_a_change_takes_effect_today_in_the_plans_time_zone(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db, "Pacific/Kiritimati")
    line = await _line(plans_db, plan, "1.1")
    await _change(plans_db, line, LineStatus.ONGOING, None)
    entry = await plans_db.scalar(
        select(orm.JournalEntry).where(orm.JournalEntry.action_line_id == line.id)
    )
    assert entry is not None
    assert entry.effective_date == _today("Pacific/Kiritimati")


async def test_a_change_cannot_take_effect_before_the_lines_latest_change(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db)
    line = await _line(plans_db, plan, "1.1")
    await _change(plans_db, line, LineStatus.ONGOING, date(2019, 6, 30))

    message = await _refused(plans_db, line, date(2019, 6, 29))
    assert "before the line's latest change (2019-06-30)" in message
    assert "correct the history" in message
    # The same day is fine: changes of one day keep the order they were recorded in.
    await _change(plans_db, line, LineStatus.COMPLETED, date(2019, 6, 30))


async def test_a_review_line_dated_against_the_rule_is_rejected_with_the_reason_and_the_rest_applies(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db)
    recent = await _line(plans_db, plan, "1.1")
    await _change(plans_db, recent, LineStatus.ONGOING, date(2020, 10, 1))
    untouched = await _line(plans_db, plan, "1.2")
    decision_id = uuid.uuid4()

    await handlers.apply_status_review(
        plans_db,
        handlers.ApplyStatusReview(
            plan_id=plan.id,
            meeting_id=uuid.uuid4(),
            decision_id=decision_id,
            effective_date=date(2020, 9, 15),
            lines=[
                handlers.ReviewedLine(recent.id, None, LineStatus.COMPLETED),
                handlers.ReviewedLine(untouched.id, None, LineStatus.COMPLETED),
            ],
        ),
    )

    processed = (await staged(plans_db, orm.outbox))[-1]
    assert processed.type == "org.accord.plans.status_review.processed"
    first, second = processed.data["results"]
    assert (first["outcome"], second["outcome"]) == ("rejected", "applied")
    assert first["reason"].startswith("effective_date: effective_date 2020-09-15 is before")
    await plans_db.refresh(recent)
    assert (recent.status, recent.version) == ("ongoing", 2)


async def test_a_review_that_waited_for_the_lines_lock_dates_against_the_change_it_waited_for(
    command_databases: dict[str, str],
) -> None:
    """The line's latest effective date is read with the line's lock (one statement), from
    that statement's snapshot. A review that waits for a change of the line holding the lock
    must still see that change's date once it commits, and refuse a date before it."""
    engine = create_async_engine(command_databases["plans"], poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as setup, setup.begin():
            plan = await _plan(setup)
            line = await _line(setup, plan, "1.1")
        decision_id = uuid.uuid4()
        review = handlers.ApplyStatusReview(
            plan_id=plan.id,
            meeting_id=uuid.uuid4(),
            decision_id=decision_id,
            effective_date=date(2020, 9, 1),
            lines=[handlers.ReviewedLine(line.id, None, LineStatus.COMPLETED)],
        )
        async with sessions() as changer, sessions() as reviewer, asyncio.timeout(30):
            await changer.begin()
            await _change(changer, line, LineStatus.ONGOING, date(2020, 9, 15))  # holds the lock
            await reviewer.begin()
            reviewer_pid = await reviewer.scalar(text("SELECT pg_backend_pid()"))
            reviewing = asyncio.create_task(handlers.apply_status_review(reviewer, review))

            async def waiting_for_the_lock() -> bool:
                wait = await changer.scalar(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": reviewer_pid},
                )
                return wait == "Lock"

            await eventually(waiting_for_the_lock, timeout=10, interval=0.05, what="the review")
            await changer.commit()
            await reviewing
            processed = [
                event
                for event in await staged(reviewer, orm.outbox)
                if event.subject == f"decisions/{decision_id}"
            ]
            await reviewer.commit()
        [result] = processed[0].data["results"]
        assert result["outcome"] == "rejected"
        assert "before the line's latest change (2020-09-15)" in result["reason"]
        async with sessions() as check:
            recorded = await check.scalars(
                select(orm.JournalEntry.effective_date).where(
                    orm.JournalEntry.action_line_id == line.id
                )
            )
            assert list(recorded) == [date(2020, 9, 15)]
    finally:
        await engine.dispose()


async def test_a_correction_of_history_moves_a_recorded_date_between_its_neighbours(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db)
    line = await _line(plans_db, plan, "1.1", target_date=date(2019, 12, 31))
    await _change(plans_db, line, LineStatus.ONGOING, date(2018, 3, 1))
    await _change(plans_db, line, LineStatus.COMPLETED, date(2020, 9, 15))
    entries = list(
        await plans_db.scalars(
            select(orm.JournalEntry)
            .where(orm.JournalEntry.action_line_id == line.id)
            .order_by(orm.JournalEntry.id)
        )
    )
    started, completion = entries
    await _project(plans_db, plan)
    figures = await rollup_views.plan_rollups(plans_db, plan.id, None, None)
    assert figures.plan.figures.completed_ahead_of_schedule == 0

    def correct(entry: orm.JournalEntry, to: date) -> handlers.CorrectEffectiveDate:
        return handlers.CorrectEffectiveDate(
            action_line_id=line.id,
            journal_entry_id=entry.id,
            effective_date=to,
            expected_version=line.version,
            actor=ACTOR,
            reason="completed at the June 2019 workshop",
        )

    for entry, to in (
        (completion, date(2018, 2, 28)),  # before the change recorded before it
        (started, date(2020, 9, 16)),  # after the change recorded after it
        (completion, _today("UTC") + timedelta(days=1)),  # after today
    ):
        with pytest.raises(EffectiveDateRefused):
            async with plans_db.begin_nested():
                await handlers.correct_effective_date(plans_db, correct(entry, to))

    corrected_line, entry = await handlers.correct_effective_date(
        plans_db, correct(completion, date(2019, 6, 30))
    )
    assert entry.effective_date == date(2019, 6, 30)
    assert (corrected_line.status, corrected_line.version) == ("completed", 4)
    event = (await staged(plans_db, orm.outbox))[-1]
    assert event.type == "org.accord.plans.action_line.history_corrected"
    assert (event.data["old_effective_date"], event.data["new_effective_date"]) == (
        "2020-09-15",
        "2019-06-30",
    )
    assert event.data["completed_on"] == "2019-06-30"

    await _project(plans_db, plan)
    figures = await rollup_views.plan_rollups(plans_db, plan.id, None, None)
    assert figures.plan.figures.completed_ahead_of_schedule == 1
    assert await rollup_views.check_plan(plans_db, plan.id) == []
    as_of = await rollup_views.plan_rollups(plans_db, plan.id, None, date(2019, 7, 1))
    assert as_of.plan.figures.completed == 1


async def test_the_rollup_check_compares_every_line_with_the_journal_as_of_today(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db)
    line = await _line(plans_db, plan, "1.1")
    other = await _line(plans_db, plan, "1.2")
    await _change(plans_db, line, LineStatus.ONGOING, date(2020, 1, 1))
    await _change(plans_db, other, LineStatus.ONGOING, date(2020, 1, 1))
    await _project(plans_db, plan)
    assert await rollup_views.check_plan(plans_db, plan.id) == []

    # A change dated in the future, as the API used to accept (or data from before the
    # rule): the read model and the recount of the lines agree, the journal as of today not.
    future = _today("UTC") + timedelta(days=30)
    await plans_db.execute(
        update(orm.JournalEntry)
        .where(orm.JournalEntry.action_line_id == line.id)
        .values(effective_date=future)
    )

    [difference] = await rollup_views.check_plan(plans_db, plan.id)
    assert difference.scope.startswith(f"line:{line.id} (code 1.1) vs the journal as of")
    assert difference.stored == {
        "status": "ongoing",
        "completed_on": None,
        "line_status": "ongoing",
    }
    assert difference.recounted == {"status": "not_started", "completed_on": None}
