"""Tables of the meetings service's own database.

Two groups: what meetings owns (meetings, participants, plans under review, agenda items,
postponements, decisions, frozen briefings), and the ``known_*`` read model of plans, built
only from plans' events so that a briefing never needs to call the plans service. ``load``
fetches one row by id for the handlers and the views alike.
"""

import uuid
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import NO_KEY_UPDATE, new_metadata
from shared.errors import NotFound
from shared.idempotency import idempotency_table
from shared.orm import ServiceBase, messaging_tables


class Base(ServiceBase, DeclarativeBase):
    metadata = new_metadata()
    # How a NotFound names a missing row of the table ("meeting 1234... does not exist").
    what: ClassVar[str] = "row"


outbox, processed_events, dead_letters = messaging_tables(Base.metadata)
# Idempotency-Key claims and the answers they replay (shared/idempotency.py).
idempotency_keys = idempotency_table(Base.metadata)

Row = TypeVar("Row", bound=Base)


async def load(
    session: AsyncSession, model: type[Row], row_id: uuid.UUID, *, lock: bool = False
) -> Row:
    """The row with that id, or NotFound (named by the table's ``what``). Locked for changes
    when asked: two concurrent changes of one meeting or decision serialise."""
    row = await session.get(model, row_id, with_for_update=NO_KEY_UPDATE if lock else None)
    if row is None:
        raise NotFound(model.what, row_id)
    return row


class Meeting(Base):
    __tablename__ = "meetings"
    what = "meeting"
    __table_args__ = (Index("ix_meetings_series_starts_at", "series", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # A stable tie-breaker for chronological cursors (several meetings can start together).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    series: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    level: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(String(64))
    place: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    # Co-chairs are always read with their meeting and never queried on their own.
    co_chairs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    concluded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    participants: Mapped[list["Participant"]] = relationship(
        lazy="selectin", order_by="Participant.position", cascade="all, delete-orphan"
    )
    plans: Mapped[list["PlanUnderReview"]] = relationship(
        lazy="selectin", order_by="PlanUnderReview.position", cascade="all, delete-orphan"
    )
    agenda_items: Mapped[list["AgendaItem"]] = relationship(
        lazy="selectin", order_by="AgendaItem.position", cascade="all, delete-orphan"
    )
    postponements: Mapped[list["Postponement"]] = relationship(
        lazy="selectin", order_by="Postponement.id", cascade="all, delete-orphan"
    )


class Participant(Base):
    __tablename__ = "participants"

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    delegation: Mapped[str] = mapped_column(String(10), primary_key=True, index=True)
    attendance: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)


class PlanUnderReview(Base):
    __tablename__ = "plans_under_review"

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


class AgendaItem(Base):
    __tablename__ = "agenda_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    plan_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    action_line_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))


class Postponement(Base):
    """One postponement of a meeting: its dates before and after, kept as history."""

    __tablename__ = "postponements"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), index=True)
    old_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    old_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    new_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    new_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    postponed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Decision(Base):
    """A decision adopted at a meeting. ``body`` is the public contract's body as published;
    ``outcome`` follows what the plans service made of it."""

    __tablename__ = "decisions"
    what = "decision"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # A monotonic key for cursor pagination, in adoption order.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), index=True)
    agenda_item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agenda_items.id"))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    adopted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(20))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    review_results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # Commitments only: who committed, and the follow-up.
    party: Mapped[str | None] = mapped_column(String(100), index=True)
    follow_up: Mapped[str | None] = mapped_column(String(20))
    fulfilled_on: Mapped[date | None] = mapped_column(Date)
    fulfilment_note: Mapped[str | None] = mapped_column(Text)


class BriefingSnapshot(Base):
    """A concluded meeting's briefing, frozen: written once, never updated."""

    __tablename__ = "briefing_snapshots"

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    frozen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MeetingFigure(Base):
    """A figure plans published for this meeting (its plans' figures as of its date, when it
    concluded): the id its provenance is found under (plans' ``GET /figures/{id}``) and the
    value, so that the frozen snapshot's figures are linked to what plans keeps."""

    __tablename__ = "meeting_figures"

    figure_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    scope: Mapped[str] = mapped_column(String(200))
    scope_title: Mapped[str] = mapped_column(String(500))
    as_of: Mapped[date] = mapped_column(Date)
    rule_version: Mapped[int] = mapped_column(Integer)
    counted: Mapped[float] = mapped_column(Float)
    completed: Mapped[float] = mapped_column(Float)
    completion_percent: Mapped[float] = mapped_column(Float)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatementDraft(Base):
    """The draft of a meeting's statement or press release: text the secretariat edits, in
    which each figure is a marker (``[[F1]]``) for one of ``figures``, kept apart so the
    figures stay those of the frozen snapshot, linked to their provenance, whatever the
    edits."""

    __tablename__ = "statement_drafts"

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    figures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# --- what meetings knows of delegations, from notifications' events -------------------------


class KnownDelegation(Base):
    """A delegation notifications registered: the codes a meeting accepts as participants."""

    __tablename__ = "known_delegations"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


# --- what meetings knows of plans, from plans' events ------------------------------------


class KnownPlan(Base):
    __tablename__ = "known_plans"

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))


class KnownSection(Base):
    __tablename__ = "known_sections"

    section_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    code: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(500))
    ordering_key: Mapped[str] = mapped_column(String(100))
    path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))


class KnownActionLine(Base):
    __tablename__ = "known_action_lines"

    action_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    code: Mapped[str] = mapped_column(String(50))
    section_path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    # The status before any change this service has seen (not_started, or a carried-over one).
    initial_status: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)


class KnownStatusChange(Base):
    __tablename__ = "known_status_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    action_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    old_status: Mapped[str] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    effective_date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
