"""A notice's plan figures ("97 of 103 lines completed") come from counts the read model keeps
with its lines, not from counting the plan's lines for every event.

Found measuring the intake: each status change told to anyone counted every line of its plan,
1.4 ms for a plan of 100 lines and 47 ms for one of 100,000, on the path of every webhook."""

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import Cadence, TargetKind
from services.notifications.intake import readmodel
from services.notifications.intake.context import PlanFigures, plan_figures
from tests.commands.test_notifications_digests import delegation_in, subscribe, take
from tests.support.plan_events import history_corrected, line_created, status_changed


async def _recounted(session: AsyncSession, plan_id: uuid.UUID) -> dict[str, int]:
    node = orm.PlanNode
    rows = await session.execute(
        select(node.status, func.count())
        .where(node.plan_id == plan_id, node.kind == "action_line")
        .group_by(node.status)
    )
    return {str(status): count for status, count in rows.all()}


async def test_the_counts_follow_the_lines_through_changes_corrections_and_repeats(
    notifications_db: AsyncSession,
) -> None:
    plan_id = uuid.uuid4()
    lines = [uuid.uuid4() for _ in range(6)]
    for n, line in enumerate(lines):
        status = "ongoing" if n < 4 else "not_started"
        await readmodel.apply(
            notifications_db, line_created(plan_id=plan_id, action_line_id=line, status=status)
        )
    other_plan = line_created()  # another plan's line counts for that plan only
    await readmodel.apply(notifications_db, other_plan)
    changes = [
        status_changed(plan_id=plan_id, action_line_id=lines[0], new_status="completed"),
        status_changed(plan_id=plan_id, action_line_id=lines[1], new_status="completed"),
        status_changed(plan_id=plan_id, action_line_id=lines[4], new_status="ongoing"),
        # Completed, then corrected back to ongoing.
        history_corrected(plan_id=plan_id, action_line_id=lines[1], line_status="ongoing"),
        # The line updated (its text) without a change of status.
        line_created(plan_id=plan_id, action_line_id=lines[2], status="ongoing", text="New"),
    ]
    for event in changes:
        await readmodel.apply(notifications_db, event)
    # Applied again (a redelivery that got past the consumer's dedupe, or a replay): the
    # counts follow the rows, so nothing moves.
    repeated = line_created(plan_id=plan_id, action_line_id=lines[5], status="not_started")
    for event in (*changes, repeated):
        await readmodel.apply(notifications_db, event)

    figures = await plan_figures(notifications_db, plan_id)

    expected = {"completed": 1, "ongoing": 4, "not_started": 1}
    assert await _recounted(notifications_db, plan_id) == expected
    assert figures == PlanFigures(lines=6, completed=1, by_status=expected)
    assert (await plan_figures(notifications_db, other_plan.plan_id)).by_status == {"ongoing": 1}


async def _plan_nodes_read(session: AsyncSession) -> int:
    """Rows of ``plan_nodes`` this transaction has read so far."""
    read = await session.scalar(
        text(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = 'plan_nodes'"
        )
    )
    return int(read or 0)


async def test_a_status_change_told_to_a_delegation_reads_a_few_lines_of_a_big_plan(
    notifications_db: AsyncSession,
) -> None:
    plan_id, line = uuid.uuid4(), uuid.uuid4()
    await take(notifications_db, line_created(plan_id=plan_id, action_line_id=line))
    # 5,000 more lines, written at once and counted as the migration's backfill counts them.
    await notifications_db.execute(
        text(
            "INSERT INTO plan_nodes (id, kind, plan_id, code, name, section_path, tags, status) "
            "SELECT gen_random_uuid(), 'action_line', :plan, 'L' || n, 'line', '{}', '{}', "
            "'ongoing' FROM generate_series(1, 5000) n"
        ),
        {"plan": plan_id},
    )
    await notifications_db.execute(
        text("UPDATE plan_line_counts SET lines = lines + 5000 WHERE plan_id = :plan"),
        {"plan": plan_id},
    )
    # Statistics as a running system has them: with none, any read of the table scans it all.
    await notifications_db.execute(text("ANALYZE plan_nodes"))
    code = await delegation_in(notifications_db, "Asia/Jakarta", 9)
    await subscribe(notifications_db, code, TargetKind.ACTION_LINE, str(line), Cadence.IMMEDIATE)
    read_before = await _plan_nodes_read(notifications_db)

    change = status_changed(plan_id=plan_id, action_line_id=line)
    await take(notifications_db, change)

    # The line itself and the plan it names; counting the plan's lines read all 5,001.
    assert await _plan_nodes_read(notifications_db) - read_before < 20
    about = await notifications_db.scalar(
        select(orm.ReceivedEvent.context).where(
            orm.ReceivedEvent.plan_id == plan_id,
            orm.ReceivedEvent.event_type == change.event_type,
        )
    )
    assert about["plan_figures"] == {
        "lines": 5001,
        "completed": 1,
        "by_status": {"completed": 1, "ongoing": 5000},
    }


async def test_the_line_keeps_its_name_through_status_changes_and_takes_a_new_one_with_its_text(
    notifications_db: AsyncSession,
) -> None:
    plan_id, line_id, section = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def node() -> orm.PlanNode:
        notifications_db.expunge_all()
        found = await notifications_db.get(orm.PlanNode, line_id)
        assert found is not None
        return found

    created = line_created(plan_id=plan_id, action_line_id=line_id, text="Maritime cooperation")
    await readmodel.apply(notifications_db, created)
    assert (await node()).name == "Maritime cooperation"

    # A status change carries no text, but its code, tags and section path are the line's now.
    await readmodel.apply(
        notifications_db,
        status_changed(
            plan_id=plan_id,
            action_line_id=line_id,
            new_status="completed",
            code="4.1",
            tags=["maritime"],
            section_path=[section],
        ),
    )
    line = await node()
    assert (line.name, line.status, line.code) == ("Maritime cooperation", "completed", "4.1")
    assert (line.tags, line.section_path) == (["maritime"], [section])

    renamed = line_created(
        plan_id=plan_id, action_line_id=line_id, status="completed", text="Maritime security"
    )
    await readmodel.apply(notifications_db, renamed)
    assert (await node()).name == "Maritime security"
