"""The plans service's command functions against its real database: what each one changes,
what it refuses (with the domain's errors, whoever calls it) and what it stages in the
outbox. A refusal runs in a savepoint, so a test can check that it left nothing behind."""

import uuid
from collections.abc import Awaitable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import consumers, handlers, orm
from services.plans.domain import (
    ForbiddenPlanTransition,
    ForbiddenTransition,
    LineStatus,
    PlanStatus,
    Source,
    StaleVersion,
)
from services.plans.rollups import handlers as rollup_handlers
from services.plans.rollups.domain import CountingMode
from services.plans.transfer import handlers as transfer_handlers
from services.plans.transfer.documents import Fault, LineDocument
from shared.contracts import meetings as meeting_contracts
from shared.errors import Conflict, DomainError, NotFound
from shared.events import CloudEvent, envelope
from tests.commands.conftest import staged

pytestmark = pytest.mark.integration

SECRETARIAT = Source.api("secretariat@example.org")


async def _events(session: AsyncSession, plan_id: uuid.UUID) -> list[CloudEvent]:
    """What the commands staged for one plan (the outbox may hold other tests' rows)."""
    return [e for e in await staged(session, orm.outbox) if e.data["plan_id"] == str(plan_id)]


async def _types(session: AsyncSession, plan_id: uuid.UUID) -> list[str]:
    return [e.type.removeprefix("org.accord.plans.") for e in await _events(session, plan_id)]


async def _refused(session: AsyncSession, command: Awaitable[object]) -> DomainError:
    """Run a command that must be refused; its savepoint is rolled back."""
    with pytest.raises(DomainError) as caught:
        async with session.begin_nested():
            await command
    return caught.value


def _code(prefix: str = "POA") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _plan(
    session: AsyncSession, predecessor_id: uuid.UUID | None = None, code: str | None = None
) -> orm.Plan:
    command = handlers.CreatePlan(
        code=code or _code(),
        title="ASEAN-UN Plan of Action",
        partners=["ASEAN", "UN"],
        period_start=date(2021, 1, 1),
        period_end=date(2025, 12, 31),
        predecessor_id=predecessor_id,
    )
    return await handlers.create_plan(session, command)


async def _line(
    session: AsyncSession, plan_id: uuid.UUID, code: str, **fields: object
) -> orm.ActionLine:
    command = handlers.AddActionLine(plan_id=plan_id, code=code, text=f"Line {code}", **fields)
    return await handlers.add_action_line(session, command)


def _status(
    line: orm.ActionLine, status: LineStatus, expected_version: int | None = None
) -> handlers.ChangeActionLineStatus:
    return handlers.ChangeActionLineStatus(
        action_line_id=line.id,
        status=status,
        expected_version=line.version if expected_version is None else expected_version,
        effective_date=date(2021, 6, 30),
        actor="secretariat@example.org",
        source=Source.api(),
        note="reported by the lead",
    )


async def _move(session: AsyncSession, plan: orm.Plan, *statuses: PlanStatus) -> None:
    for status in statuses:
        command = handlers.ChangePlanStatus(plan_id=plan.id, status=status, source=SECRETARIAT)
        await handlers.change_plan_status(session, command)


async def test_a_plan_is_created_as_a_draft_and_announced(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)

    assert (plan.status, plan.version) == ("draft", 1)
    [created] = await _events(plans_db, plan.id)
    assert created.type == "org.accord.plans.plan.created"
    assert created.subject == f"plans/{plan.id}"
    assert created.data["code"] == plan.code
    assert created.data["partners"] == ["ASEAN", "UN"]


async def test_a_plan_code_is_unique_and_a_predecessor_must_exist(plans_db: AsyncSession) -> None:
    first = await _plan(plans_db)

    duplicate = await _refused(plans_db, _plan(plans_db, code=first.code))
    assert isinstance(duplicate, Conflict)
    assert duplicate.message == f"a plan with code {first.code!r} already exists"

    missing = uuid.uuid4()
    unknown = await _refused(plans_db, _plan(plans_db, predecessor_id=missing))
    assert isinstance(unknown, NotFound)
    # A reference in the command, not the object acted on: the API answers 422 on the field.
    assert unknown.field == "predecessor_id"
    assert unknown.message == f"plan {missing} does not exist"
    assert await _types(plans_db, first.id) == ["plan.created"]


async def test_sections_nest_and_lines_carry_their_section_path(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)
    pillar = await handlers.add_section(
        plans_db, handlers.AddSection(plan_id=plan.id, code="1", title="Political-Security")
    )
    area = await handlers.add_section(
        plans_db,
        handlers.AddSection(plan_id=plan.id, code="1.1", title="Peacekeeping", parent_id=pillar.id),
    )
    line = await _line(plans_db, plan.id, "1.1.1", section_id=area.id, tags=["peacekeeping"])

    assert area.path == [pillar.id, area.id]
    assert (area.ordering_key, line.ordering_key) == ("1.1", "1.1.1")  # the code by default
    assert (line.status, line.version) == ("not_started", 1)
    events = await _events(plans_db, plan.id)
    assert [e.type.removeprefix("org.accord.plans.") for e in events] == [
        "plan.created",
        "section.created",
        "section.created",
        "action_line.created",
    ]
    assert events[3].subject == f"action-lines/{line.id}"
    assert events[3].data["section_path"] == [str(pillar.id), str(area.id)]
    assert events[3].data["tags"] == ["peacekeeping"]


async def test_a_section_of_another_plan_is_refused_on_the_field_that_names_it(
    plans_db: AsyncSession,
) -> None:
    plan, other = await _plan(plans_db), await _plan(plans_db)
    elsewhere = await handlers.add_section(
        plans_db, handlers.AddSection(plan_id=other.id, code="1", title="Pillar")
    )

    as_parent = await _refused(
        plans_db,
        handlers.add_section(
            plans_db,
            handlers.AddSection(plan_id=plan.id, code="2", title="Area", parent_id=elsewhere.id),
        ),
    )
    as_section = await _refused(plans_db, _line(plans_db, plan.id, "2.1", section_id=elsewhere.id))

    assert isinstance(as_parent, NotFound) and isinstance(as_section, NotFound)
    assert (as_parent.field, as_section.field) == ("parent_id", "section_id")
    assert as_section.message == f"section {elsewhere.id} does not exist in plan {plan.id}"
    assert await _types(plans_db, plan.id) == ["plan.created"]


async def test_a_line_code_is_unique_within_its_plan(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)
    await _line(plans_db, plan.id, "1.1")

    duplicate = await _refused(plans_db, _line(plans_db, plan.id, "1.1"))

    assert isinstance(duplicate, Conflict)
    assert "already has an action line with code '1.1'" in duplicate.message
    assert await _types(plans_db, plan.id) == ["plan.created", "action_line.created"]


async def test_a_status_change_is_journalled_and_staged_together(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)
    line = await _line(plans_db, plan.id, "1.1")

    changed = await handlers.change_action_line_status(plans_db, _status(line, LineStatus.ONGOING))

    assert (changed["status"], changed["version"]) == ("ongoing", 2)
    entry = await plans_db.scalar(
        select(orm.JournalEntry).where(orm.JournalEntry.action_line_id == line.id)
    )
    assert entry is not None
    assert (entry.from_status, entry.to_status, entry.version) == ("not_started", "ongoing", 2)
    assert (entry.source_kind, entry.source_id, entry.note) == ("api", None, "reported by the lead")
    event = (await _events(plans_db, plan.id))[-1]
    assert event.type == "org.accord.plans.action_line.status_changed"
    assert (event.data["old_status"], event.data["new_status"]) == ("not_started", "ongoing")
    assert event.data["version"] == 2
    assert event.data["source"] == {"kind": "api", "id": None}
    assert event.data["effective_date"] == "2021-06-30"


async def test_a_stale_or_forbidden_status_change_changes_nothing(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)
    line = await _line(plans_db, plan.id, "1.1")
    await handlers.change_action_line_status(plans_db, _status(line, LineStatus.COMPLETED))

    stale = await _refused(
        plans_db,
        handlers.change_action_line_status(
            plans_db, _status(line, LineStatus.ONGOING, expected_version=1)
        ),
    )
    forbidden = await _refused(
        plans_db,
        handlers.change_action_line_status(plans_db, _status(line, LineStatus.ON_HOLD)),
    )

    assert isinstance(stale, StaleVersion)
    assert (stale.expected, stale.current) == (1, 2)
    assert stale.message == "version 1 was expected but the action line is at version 2"
    assert isinstance(forbidden, ForbiddenTransition)
    assert forbidden.allowed == ["ongoing"]
    await plans_db.refresh(line)
    assert (line.status, line.version) == ("completed", 2)
    assert await _types(plans_db, plan.id) == [
        "plan.created",
        "action_line.created",
        "action_line.status_changed",
    ]


async def test_an_update_changes_only_the_fields_it_names(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)
    section = await handlers.add_section(
        plans_db, handlers.AddSection(plan_id=plan.id, code="1", title="Pillar")
    )
    line = await _line(
        plans_db, plan.id, "1.1", section_id=section.id, target_date=date(2022, 12, 31)
    )

    updated = await handlers.update_action_line(
        plans_db,
        handlers.UpdateActionLine(
            action_line_id=line.id, expected_version=1, tags=["gender"], section_id=None
        ),
    )
    stale = await _refused(
        plans_db,
        handlers.update_action_line(
            plans_db,
            handlers.UpdateActionLine(action_line_id=line.id, expected_version=1, text="Late"),
        ),
    )

    assert (updated.version, updated.tags, updated.section_id) == (2, ["gender"], None)
    assert (updated.text, updated.target_date) == ("Line 1.1", date(2022, 12, 31))
    assert isinstance(stale, StaleVersion)
    event = (await _events(plans_db, plan.id))[-1]
    assert event.type == "org.accord.plans.action_line.updated"
    assert (event.data["version"], event.data["section_path"]) == (2, [])


async def test_approving_a_successor_carries_unfinished_lines_and_activating_it_supersedes(
    plans_db: AsyncSession,
) -> None:
    old = await _plan(plans_db)
    section = await handlers.add_section(
        plans_db, handlers.AddSection(plan_id=old.id, code="1", title="Pillar")
    )
    done = await _line(plans_db, old.id, "1.1", section_id=section.id)
    going = await _line(plans_db, old.id, "1.2", section_id=section.id, weight=2.0)
    await handlers.change_action_line_status(plans_db, _status(done, LineStatus.COMPLETED))
    await handlers.change_action_line_status(plans_db, _status(going, LineStatus.ONGOING))
    await _move(plans_db, old, PlanStatus.SUBMITTED, PlanStatus.APPROVED, PlanStatus.ACTIVE)
    new = await _plan(plans_db, predecessor_id=old.id)

    await _move(plans_db, new, PlanStatus.SUBMITTED)
    await handlers.change_plan_status(
        plans_db,
        handlers.ChangePlanStatus(
            plan_id=new.id,
            status=PlanStatus.APPROVED,
            source=SECRETARIAT,
            carry_over_unfinished=True,
        ),
    )
    await _move(plans_db, new, PlanStatus.ACTIVE)

    carried = (
        await plans_db.scalars(select(orm.ActionLine).where(orm.ActionLine.plan_id == new.id))
    ).all()
    assert [(line.code, line.status, line.weight) for line in carried] == [
        ("1.2", "not_started", 2.0)
    ]
    assert carried[0].carried_over_from == going.id
    await plans_db.refresh(going)
    assert going.carried_over_to == carried[0].id
    await plans_db.refresh(old)
    assert (old.status, old.successor_id) == ("superseded", new.id)
    new_events = await _events(plans_db, new.id)
    assert [e.type.removeprefix("org.accord.plans.") for e in new_events] == [
        "plan.created",
        "plan.submitted",
        "section.created",  # the predecessor's section, made in the successor for the line
        "action_line.created",
        "plan.approved",
        "plan.activated",
    ]
    assert new_events[4].data["carried_over_lines"] == 1
    assert new_events[4].data["source"] == {"kind": "api", "id": "secretariat@example.org"}
    superseded = (await _events(plans_db, old.id))[-1]
    assert superseded.type == "org.accord.plans.plan.superseded"
    assert superseded.data["successor_id"] == str(new.id)


async def test_a_forbidden_plan_move_names_the_allowed_ones(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)

    refused = await _refused(plans_db, _move(plans_db, plan, PlanStatus.ACTIVE))

    assert isinstance(refused, ForbiddenPlanTransition)
    assert refused.allowed == ["submitted"]
    await plans_db.refresh(plan)
    assert (plan.status, plan.version) == ("draft", 1)


async def test_a_status_review_applies_each_line_or_says_why_not(plans_db: AsyncSession) -> None:
    plan = await _plan(plans_db)
    to_start = await _line(plans_db, plan.id, "1.1")
    completed = await _line(plans_db, plan.id, "1.2")
    await handlers.change_action_line_status(plans_db, _status(completed, LineStatus.COMPLETED))
    decision_id, meeting_id = uuid.uuid4(), uuid.uuid4()

    await handlers.apply_status_review(
        plans_db,
        handlers.ApplyStatusReview(
            plan_id=plan.id,
            meeting_id=meeting_id,
            decision_id=decision_id,
            effective_date=date(2021, 11, 1),
            lines=[
                handlers.ReviewedLine(to_start.id, None, LineStatus.ONGOING, "started"),
                handlers.ReviewedLine(None, "1.2", LineStatus.COMPLETED),
                handlers.ReviewedLine(None, "1.2", LineStatus.ON_HOLD),
                handlers.ReviewedLine(None, "9.9", LineStatus.ONGOING),
            ],
        ),
    )

    processed = (await _events(plans_db, plan.id))[-1]
    assert processed.type == "org.accord.plans.status_review.processed"
    assert processed.subject == f"decisions/{decision_id}"
    outcomes = [(r["code"], r["outcome"], r["reason"]) for r in processed.data["results"]]
    assert outcomes[:2] == [("1.1", "applied", None), ("1.2", "unchanged", None)]
    assert outcomes[2][:2] == ("1.2", "rejected")
    assert "cannot go from completed to on_hold" in outcomes[2][2]
    assert outcomes[3] == ("9.9", "rejected", "no such action line in the plan")
    entry = await plans_db.scalar(
        select(orm.JournalEntry).where(orm.JournalEntry.action_line_id == to_start.id)
    )
    assert entry is not None
    assert (entry.source_kind, entry.source_id) == ("meeting_decision", str(decision_id))
    assert (entry.actor, entry.effective_date) == (f"meeting:{meeting_id}", date(2021, 11, 1))


async def test_a_meeting_decision_the_plan_cannot_follow_is_published_as_rejected(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db)  # a draft: it cannot be approved before it is submitted
    decision = meeting_contracts.DecisionAdopted(
        meeting_id=uuid.uuid4(),
        series="ASEAN-UN Summit",
        meeting_title="12th ASEAN-UN Summit",
        meeting_date=date(2021, 10, 28),
        decision_id=uuid.uuid4(),
        title="Approve the plan",
        body=meeting_contracts.PlanApproval(plan_id=plan.id, activate=True),
        adopted_at=datetime.now(UTC),
    )
    event = envelope(decision, source="/accord/meetings", subject="decisions")

    await consumers.on_decision_adopted(plans_db, event, decision)

    await plans_db.refresh(plan)
    assert plan.status == "draft"
    rejected = (await _events(plans_db, plan.id))[-1]
    assert rejected.type == "org.accord.plans.plan_decision.rejected"
    assert rejected.data["decision_id"] == str(decision.decision_id)
    assert rejected.data["reason"] == (
        "a plan cannot go from draft to approved; from draft it may go to: submitted"
    )
    assert await _types(plans_db, plan.id) == ["plan.created", "plan_decision.rejected"]


async def test_a_csv_import_writes_every_line_or_reports_every_problem(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db)
    await handlers.add_section(
        plans_db, handlers.AddSection(plan_id=plan.id, code="3", title="Socio-Cultural")
    )
    await _line(plans_db, plan.id, "3.0")
    good = LineDocument(code="3.1", section_code="3", text="Fine", status=LineStatus.ONGOING)
    bad = [
        ("csv.line 3", LineDocument(code="3.0", text="Taken")),
        ("csv.line 4", LineDocument(code="3.2", section_code="4", text="No such section")),
    ]

    refused = await transfer_handlers.import_lines(
        plans_db,
        transfer_handlers.ImportLines(
            plan_id=plan.id,
            lines=[("csv.line 2", good), *bad],
            actor="secretariat@example.org",
            faults=[Fault("csv.line 5.status", "bad status")],
        ),
    )
    assert [f.field for f in refused.faults] == [
        "csv.line 5.status",
        "csv.line 3.code",
        "csv.line 4.section_code",
    ]
    assert await _types(plans_db, plan.id) == [
        "plan.created",
        "section.created",
        "action_line.created",
    ]

    imported = await transfer_handlers.import_lines(
        plans_db,
        transfer_handlers.ImportLines(
            plan_id=plan.id, lines=[("csv.line 2", good)], actor="secretariat@example.org"
        ),
    )
    assert (imported.lines, imported.faults) == (1, [])
    events = await _events(plans_db, plan.id)
    assert [e.type.removeprefix("org.accord.plans.") for e in events[-2:]] == [
        "action_line.created",
        "action_line.status_changed",
    ]
    assert events[-1].data["new_status"] == "ongoing"
    assert events[-1].data["note"] == "imported"


async def test_an_import_into_an_unknown_plan_is_refused(plans_db: AsyncSession) -> None:
    missing = uuid.uuid4()
    refused = await _refused(
        plans_db,
        transfer_handlers.import_lines(
            plans_db, transfer_handlers.ImportLines(plan_id=missing, lines=[], actor="x")
        ),
    )
    assert isinstance(refused, NotFound)
    assert (refused.field, refused.message) == (None, f"plan {missing} does not exist")


async def test_counting_rules_are_numbered_and_one_is_the_default(plans_db: AsyncSession) -> None:
    before = await plans_db.scalar(
        select(orm.CountingRule.version).order_by(orm.CountingRule.version.desc()).limit(1)
    )
    weighted = await rollup_handlers.create_counting_rule(
        plans_db,
        rollup_handlers.CreateCountingRule(
            name="Weighted",
            mode=CountingMode.WEIGHTED,
            excluded_statuses=[LineStatus.DISCONTINUED],
            is_default=True,
        ),
    )
    plain = await rollup_handlers.create_counting_rule(
        plans_db, rollup_handlers.CreateCountingRule(name="Plain")
    )

    assert (weighted.version, plain.version) == ((before or 0) + 1, (before or 0) + 2)
    assert (weighted.mode, weighted.excluded_statuses) == ("weighted", ["discontinued"])
    defaults = (
        await plans_db.scalars(select(orm.CountingRule.version).where(orm.CountingRule.is_default))
    ).all()
    assert defaults == [weighted.version]
