"""Writing email deliveries: one per (notice, contact), rendered and kept in the transaction
that decides to tell (the intake's fan-out, a digest sent, an endpoint's warning), so that
what is sent, and every resend of it, is what was true then.

Who gets a notice: the contacts of each delegation told by email whose wishes
(``event_types``) match its type (a digest's is ``digest.ready``); an endpoint's warning and
disabling go to the technical contacts, whatever their wishes.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm, wakeup
from services.notifications.domain import ContactRole
from services.notifications.email.domain import new_message_key
from services.notifications.email.render import Rendered, render
from services.notifications.intake.domain import type_matches
from services.notifications.webhooks.domain import DeliveryStatus
from shared.contracts import notifications as contracts
from shared.db import is_any_of

# Rows per INSERT of email deliveries: 13 parameters each, well under a statement's 32,767.
INSERT_SLICE = 1_000
ROLE_LABELS = {
    ContactRole.AMBASSADOR.value: "ambassador",
    ContactRole.DESK_OFFICER.value: "desk officer",
    ContactRole.TECHNICAL.value: "technical contact",
}


async def email_notice(
    session: AsyncSession,
    row: orm.ReceivedEvent,
    codes: Sequence[str],
    title: str,
    body: str,
) -> None:
    """Email an event's notice to the contacts of ``codes`` (the delegations told by email)."""
    about: dict[str, Any] = row.context or {}
    meeting = about.get("meeting") or {}

    def rendered(contact: orm.Contact, delegation: orm.Delegation) -> Rendered:
        values = {
            **_addressed(contact, delegation),
            "title": title,
            "body": body,
            "effective_date": _day(about.get("effective_date")),
            "meeting_title": meeting.get("title"),
            "meeting_date": _day(meeting.get("date")),
            "occurred_at": row.occurred_at,
            "received_at": row.received_at or datetime.now(UTC),
        }
        return render("notice", title, values)

    await _email_event(session, row, codes, rendered)


async def email_digest(
    session: AsyncSession, row: orm.ReceivedEvent, digest: contracts.DigestReady
) -> None:
    """Email a digest, kept as the received event ``row``, to the contacts of its delegation
    who want it (decision 31: a delivery of that row, as its webhooks are): a notice like any
    other, whose contents are the digest's."""

    def rendered(contact: orm.Contact, delegation: orm.Delegation) -> Rendered:
        values = {**_addressed(contact, delegation), "digest": digest, "sent_at": row.occurred_at}
        return render("digest", digest.title, values)

    await _email_event(session, row, [digest.delegation], rendered)


async def _email_event(
    session: AsyncSession,
    row: orm.ReceivedEvent,
    codes: Sequence[str],
    rendered: Callable[[orm.Contact, orm.Delegation], Rendered],
) -> None:
    """One email of the received event ``row`` to each contact of ``codes`` whose wishes
    match its type, keyed by the event (a redelivered event, a digest's period composed
    again, adds nothing)."""
    if not codes:
        return
    values = [
        _delivery(
            contact,
            notice_key=f"event:{row.event_id}",
            subject=row.subject,
            event_row_id=row.id,
            rendered=rendered(contact, delegation),
        )
        for contact, delegation in await _contacts(session, codes)
        if type_matches(contact.event_types, row.event_type)
    ]
    await _add(session, values)


def _addressed(contact: orm.Contact, delegation: orm.Delegation) -> dict[str, Any]:
    """What every email to a contact says of whom it is for, and in which time zone."""
    return {
        "contact_name": contact.name,
        "role_label": ROLE_LABELS.get(contact.role, contact.role),
        "language": contact.language,
        "delegation_name": delegation.name,
        "zone": delegation.timezone,
    }


async def email_endpoint_alert(
    session: AsyncSession,
    event: contracts.EndpointDisablingSoon | contracts.EndpointDisabled,
    title: str,
    *,
    failing_since: datetime,
) -> None:
    """Tell the delegation's technical contacts that its endpoint fails, or was disabled."""
    disabled = isinstance(event, contracts.EndpointDisabled)
    when = event.disabled_at if disabled else event.failing_since  # type: ignore[union-attr]
    values = [
        _delivery(
            contact,
            notice_key=f"{event.event_type}:{event.endpoint_id}:{when.isoformat()}",
            subject=f"endpoint/{event.endpoint_id}",
            event_row_id=None,
            rendered=render(
                "endpoint_alert",
                title,
                {
                    **_addressed(contact, delegation),
                    "title": title,
                    "url": event.url,
                    "endpoint_id": event.endpoint_id,
                    "failing_since": failing_since,
                    "disabled_at": event.disabled_at if disabled else None,  # type: ignore[union-attr]
                    "reason": event.reason if disabled else None,  # type: ignore[union-attr]
                    "disable_at": None if disabled else event.disable_at,  # type: ignore[union-attr]
                },
            ),
        )
        for contact, delegation in await _contacts(session, [event.delegation])
        if contact.role == ContactRole.TECHNICAL.value
    ]
    await _add(session, values)


async def _contacts(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[orm.Contact, orm.Delegation]]:
    found = await session.execute(
        select(orm.Contact, orm.Delegation)
        .join(orm.Delegation, orm.Delegation.code == orm.Contact.delegation_code)
        .where(is_any_of(orm.Contact.delegation_code, sorted(set(codes))))
        .order_by(orm.Contact.number)
    )
    return [(contact, delegation) for contact, delegation in found.all()]


def _delivery(
    contact: orm.Contact,
    *,
    notice_key: str,
    subject: str | None,
    event_row_id: int | None,
    rendered: Rendered,
) -> dict[str, Any]:
    return {
        "message_key": new_message_key(),
        "notice_key": notice_key[:300],
        "event_row_id": event_row_id,
        "contact_id": contact.id,
        "delegation_code": contact.delegation_code,
        "subject": subject,
        "to_address": contact.address,
        "email_subject": rendered.subject,
        "text_body": rendered.text,
        "html_body": rendered.html,
        "language": contact.language,
        "status": DeliveryStatus.PENDING.value,
        "tries": 0,
        "next_attempt_at": func.now(),
    }


async def _add(session: AsyncSession, values: list[dict[str, Any]]) -> None:
    if values:
        # In slices: one statement's bound parameters are limited (32,767), and a fan-out to
        # thousands of contacts would otherwise never be taken in.
        for start in range(0, len(values), INSERT_SLICE):
            rows = values[start : start + INSERT_SLICE]
            await session.execute(insert(orm.EmailDelivery).values(rows).on_conflict_do_nothing())
        await wakeup.notify(session, wakeup.EMAILS)


def _day(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None
