"""Tables of the plans service's own database."""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.idempotency import idempotency_table
from shared.orm import ServiceBase, messaging_tables


class Base(ServiceBase, DeclarativeBase):
    metadata = new_metadata()


outbox, processed_events, dead_letters = messaging_tables(Base.metadata)
# Idempotency-Key claims and the answers they replay (shared/idempotency.py).
idempotency_keys = idempotency_table(Base.metadata)


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    partners: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    # The IANA zone whose calendar says what "today" is for the plan's effective dates.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    status: Mapped[str] = mapped_column(String(20))
    predecessor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id"))
    successor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    submitted_to_meeting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Section(Base):
    """A node of a plan's tree (pillar, area, sub-area...); ``path`` holds the ids of its
    ancestors and itself, root first, so a subtree is one index lookup."""

    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sections.id"))
    code: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(500))
    ordering_key: Mapped[str] = mapped_column(String(100))
    path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))


class ActionLine(Base):
    __tablename__ = "action_lines"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), index=True)
    section_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sections.id"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    ordering_key: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    leads: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    target_date: Mapped[date | None] = mapped_column(Date)
    weight: Mapped[float] = mapped_column(Numeric(10, 4, asdecimal=False), default=1)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Lineage across plans: the line this one continues, and the one that continues it.
    carried_over_from: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    carried_over_to: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class JournalEntry(Base):
    """One status change of one action line, as it happened."""

    __tablename__ = "status_journal"
    __table_args__ = (
        Index("ix_status_journal_line_effective", "action_line_id", "effective_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), index=True)
    action_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("action_lines.id"))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    effective_date: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class JournalCorrection(Base):
    """A correction of history: a journal entry's effective date moved, with who and why."""

    __tablename__ = "journal_corrections"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    journal_entry_id: Mapped[int] = mapped_column(ForeignKey("status_journal.id"), index=True)
    action_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("action_lines.id"))
    old_effective_date: Mapped[date] = mapped_column(Date)
    new_effective_date: Mapped[date] = mapped_column(Date)
    line_version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CountingRule(Base):
    """A versioned counting rule. Rules are never edited: a change is a new version."""

    __tablename__ = "counting_rules"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    excluded_statuses: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The rollup read model, written only by the projection that consumes plans' own events.


class RollupLine(Base):
    """The projection's view of one line: what it last applied, and to which scopes."""

    __tablename__ = "rollup_lines"

    action_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    status: Mapped[str] = mapped_column(String(20))
    weight: Mapped[float] = mapped_column(Float)
    target_date: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)


class RollupBucket(Base):
    """Count and weight of a scope's lines in one (status, completed ahead of schedule)."""

    __tablename__ = "rollup_buckets"

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    ahead: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    count: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)


class RollupOpenTarget(Base):
    """Count and weight of a scope's unfinished lines per target date (for "overdue")."""

    __tablename__ = "rollup_open_targets"

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    target_date: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)


class PublishedFigure(Base):
    """A figure that left the system (a meeting's snapshot, a statement, a page, an export),
    kept with everything needed to derive it again: what was counted (plan, scope), the
    counting rule's version, the day it was as of, and how far the journal (its entries and
    its corrections) went when it was computed. Never changed once written."""

    __tablename__ = "published_figures"
    __table_args__ = (
        UniqueConstraint(
            "plan_id",
            "scope",
            "rule_version",
            "as_of",
            "journal_position",
            "correction_position",
            name="uq_published_figures_inputs",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    scope_title: Mapped[str] = mapped_column(String(500))
    rule_version: Mapped[int] = mapped_column(ForeignKey("counting_rules.version"))
    as_of: Mapped[date] = mapped_column(Date)
    # The last status_journal id and journal_corrections id of the plan it was computed from.
    journal_position: Mapped[int] = mapped_column(BigInteger)
    correction_position: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float)
    counted: Mapped[float] = mapped_column(Float)
    completed: Mapped[float] = mapped_column(Float)
    completion_percent: Mapped[float] = mapped_column(Float)
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
