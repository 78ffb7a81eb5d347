"""Tables of the notifications service's own database."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.idempotency import idempotency_table
from shared.orm import ServiceBase, messaging_tables


class Base(ServiceBase, DeclarativeBase):
    metadata = new_metadata()


outbox, processed_events, dead_letters = messaging_tables(Base.metadata)
# Idempotency-Key claims and the answers they replay (shared/idempotency.py).
idempotency_keys = idempotency_table(Base.metadata)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Delegation(Base):
    """A subscriber: a member state's mission, the UN, the ASEAN Secretariat, a partner.
    ``stream_seq`` numbers its inbox entries; taking the next number locks the row, so one
    delegation's entries commit in number order and a stream resumed "after N" misses none."""

    __tablename__ = "delegations"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    contact: Mapped[str | None] = mapped_column(String(320))
    digest_hour: Mapped[int] = mapped_column(Integer, default=9)
    stream_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_daily_digest_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _created_at()


class Membership(Base):
    """A delegation's membership of a grouping (e.g. ASEAN), valid over a date range."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    grouping: Mapped[str] = mapped_column(String(50), index=True)
    delegation_code: Mapped[str] = mapped_column(ForeignKey("delegations.code"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class Subscription(Base):
    """What is followed, and who is told: one delegation, every member of a grouping on the
    event's date (``grouping``), or whoever holds a role on that date (``role``); exactly one
    of the three (intake/audiences.py)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_target", "target_kind", "target_key"),
        CheckConstraint("num_nonnulls(delegation_code, grouping, role) = 1", name="one_audience"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Orders lists and serves as their cursor (ids are random).
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    delegation_code: Mapped[str | None] = mapped_column(ForeignKey("delegations.code"), index=True)
    grouping: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str | None] = mapped_column(String(100))
    target_kind: Mapped[str] = mapped_column(String(20))
    target_key: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    statuses: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    cadence: Mapped[str] = mapped_column(String(20))
    # Completion thresholds in percent (intake/domain.py SubscriptionRule); empty: none.
    thresholds: Mapped[list[float]] = mapped_column(ARRAY(Float), server_default=text("'{}'"))
    created_at: Mapped[datetime] = _created_at()


class Role(Base):
    """A role a delegation can hold for a period: the ASEAN Chair (one holder at a time), a
    coordinator; ``co-chairs`` is held per meeting, as the meetings service's events say."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    single_holder: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created_at()


class RoleAssignment(Base):
    """A delegation holds a role from ``valid_from`` to ``valid_to`` (inclusive; open when
    None); ``meeting_id``: only for that meeting's events (a meeting's co-chairs)."""

    __tablename__ = "role_assignments"
    __table_args__ = (Index("ix_role_assignments_role", "role", "meeting_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    role: Mapped[str] = mapped_column(ForeignKey("roles.name"))
    # Not a foreign key: a meeting's co-chairs are named by meetings, registered here or not.
    delegation_code: Mapped[str] = mapped_column(String(10))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = _created_at()


class PlanNode(Base):
    """Read model of plans' structure (plans, sections, action lines), built from plans'
    events: names to render and the section path of a line, without calling plans."""

    __tablename__ = "plan_nodes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(Text)
    section_path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    status: Mapped[str | None] = mapped_column(String(20))


class PlanLineCount(Base):
    """How many of a plan's action lines are in each status, kept with ``plan_nodes`` (see
    ``intake/readmodel.py``): a notice's plan figures read a few rows, not every line."""

    __tablename__ = "plan_line_counts"

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    lines: Mapped[int] = mapped_column(Integer)


class Meeting(Base):
    """Read model of meetings (for digests timed to a meeting), built from meetings' events."""

    __tablename__ = "meetings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    series: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    plans_under_review: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid), server_default=text("'{}'")
    )


class ReceivedEvent(Base):
    """Every event this service has taken in. ``id`` orders the activity feed; a delivery's
    payload is rendered from the row, so every retry sends the same body."""

    __tablename__ = "received_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    subject: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The version of ``data``'s contract (the envelope's ``dataschemaversion``).
    schema_version: Mapped[int] = mapped_column(Integer, server_default="1")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = _created_at()
    # What the event is about, by name (intake/context.py): set when someone is told.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The trace its intake ran in ({"traceparent": ..., "tracestate": ...}, shared/tracing.py),
    # which the webhook attempts continue, later; None when nothing traced it.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JSONB)


class Endpoint(Base):
    """A delegation's webhook endpoint. During a rotation the previous secret still signs
    (a second signature) until ``previous_secret_until``. Secrets are stored encrypted, each
    with the id of its key (``webhooks/secrets_at_rest.py``), never in plain text."""

    __tablename__ = "endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    delegation_code: Mapped[str] = mapped_column(ForeignKey("delegations.code"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    secret_key_id: Mapped[str] = mapped_column(String(64))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_key_id: Mapped[str | None] = mapped_column(String(64))
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While it fails: when the dispatcher may next try it early with its oldest waiting
    # delivery (a probe); never sooner than a Retry-After it gave asks.
    probe_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


LEASED = text("status = 'pending' AND leased_by IS NOT NULL")


class Delivery(Base):
    """One event to one endpoint, whatever happens: unique per (event, endpoint), written in
    the consumer's transaction. ``webhook_id`` is fixed at creation, so every attempt and
    every redelivery carries the same ``webhook-id``. ``tries`` counts the current round
    (a redelivery or a retry-now starts a new one; a probe, an early try while its endpoint
    fails, counts only in ``attempts_total``); ``next_attempt_at`` doubles as the dispatcher's
    lease, held by the process named in ``leased_by`` until the attempt is recorded."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_row_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        # The dispatcher's ordering check: earlier pending deliveries of the same endpoint and
        # subject.
        Index(
            "ix_deliveries_pending_by_subject",
            "endpoint_id",
            "subject",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        # The dispatcher's caps: the attempts in flight per endpoint and per delegation.
        Index("ix_deliveries_leased_by_endpoint", "endpoint_id", postgresql_where=LEASED),
        Index("ix_deliveries_leased_by_delegation", "delegation_code", postgresql_where=LEASED),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_row_id: Mapped[int] = mapped_column(ForeignKey("received_events.id"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("endpoints.id"), index=True)
    delegation_code: Mapped[str] = mapped_column(String(10), index=True)
    # The event's subject (copied from it): one endpoint gets one subject's deliveries in order.
    subject: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    attempts_total: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The receiver's Retry-After on the last failed attempt: released early or not, the
    # delivery is not sent again before then (unless its delegation asks).
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_by: Mapped[str | None] = mapped_column(String(200))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created_at()
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(500))
    # The first bytes of the receiver's answer (NOTIFICATIONS_RESPONSE_PREFIX_BYTES).
    response_body: Mapped[str | None] = mapped_column(Text)


class InboxEntry(Base):
    """One notice to one delegation: in its inbox and/or on its live stream (``channels``).
    At most one per (delegation, event), however many subscriptions matched."""

    __tablename__ = "inbox_entries"
    __table_args__ = (
        UniqueConstraint("delegation_code", "seq", name="uq_inbox_entries_seq"),
        UniqueConstraint("delegation_code", "event_row_id", name="uq_inbox_entries_event"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delegation_code: Mapped[str] = mapped_column(ForeignKey("delegations.code"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_row_id: Mapped[int | None] = mapped_column(ForeignKey("received_events.id"))
    event_type: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class DigestItem(Base):
    """A matched event held back for a delegation's next digest of the given cadence."""

    __tablename__ = "digest_items"
    __table_args__ = (
        UniqueConstraint(
            "delegation_code", "event_row_id", "cadence", name="uq_digest_items_event"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delegation_code: Mapped[str] = mapped_column(ForeignKey("delegations.code"), index=True)
    event_row_id: Mapped[int] = mapped_column(ForeignKey("received_events.id"))
    cadence: Mapped[str] = mapped_column(String(20))
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    created_at: Mapped[datetime] = _created_at()
    digested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Digest(Base):
    """A digest sent: one row per (delegation, period) (``key``, e.g. ``VNM/daily/2030-01-01``
    or ``VNM/meeting/<id>``), so that a period's digest is composed once whatever number of
    replicas run the job. ``event_row_id``: the digest as a received event, from which its
    deliveries are rendered like any other event's."""

    __tablename__ = "digests"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    delegation_code: Mapped[str] = mapped_column(String(10), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    event_row_id: Mapped[int] = mapped_column(ForeignKey("received_events.id"))
    created_at: Mapped[datetime] = _created_at()


class Contact(Base):
    """A person of a delegation who is told by email: an ambassador, a desk officer, a
    technical contact (who also gets the warnings about failing webhook endpoints)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("delegation_code", "address", name="uq_contacts_delegation_address"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Orders lists and serves as their cursor (ids are random).
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    delegation_code: Mapped[str] = mapped_column(ForeignKey("delegations.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(35))
    # Which notices the person wants, as event type patterns (intake/domain.type_matches);
    # empty: every notice that reaches the delegation by email.
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    created_at: Mapped[datetime] = _created_at()


class EmailDelivery(Base):
    """One notice to one contact, whatever happens: unique per (notice, contact), written in
    the transaction that decided to tell. The message is rendered then and kept, so every
    attempt sends the same bytes under the same ``message_id`` (a retry is recognisable).
    ``next_attempt_at`` doubles as the email dispatcher's lease, as for webhook deliveries."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_key", "contact_id", name="uq_email_deliveries_notice_contact"),
        Index(
            "ix_email_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # The ordering check: earlier pending emails of the same contact and subject.
        Index(
            "ix_email_deliveries_pending_by_subject",
            "contact_id",
            "subject",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The left part of the Message-ID (``<key@NOTIFICATIONS_EMAIL_MESSAGE_ID_DOMAIN>``).
    message_key: Mapped[str] = mapped_column(String(100), unique=True)
    # What is told: ``event:<event id>`` or ``endpoint:<id>:<warned|disabled>:<time>``.
    notice_key: Mapped[str] = mapped_column(String(300))
    event_row_id: Mapped[int | None] = mapped_column(ForeignKey("received_events.id"))
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    delegation_code: Mapped[str] = mapped_column(String(10), index=True)
    # The event's subject: one contact gets one subject's emails in order.
    subject: Mapped[str | None] = mapped_column(String(500))
    to_address: Mapped[str] = mapped_column(String(320))
    email_subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(20))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_by: Mapped[str | None] = mapped_column(String(200))
    last_smtp_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created_at()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
