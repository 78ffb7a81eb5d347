"""The digest job: events held for a delegation's digest go out as one digest, daily from its
digest hour, or the day before a meeting of a series it follows (with the plans under review
and what changed since the previous meeting of the series), in its own time zone. Critical
events never wait here (see ``intake.domain.recipients``).

A digest is the contract ``digest.ready`` (``shared/contracts/notifications.py``): published,
kept as a received event from which its webhook deliveries are rendered like any other
event's (``webhooks/dispatcher.py``), emailed (template ``digest``, ``email/queue.py``) to
the contacts who want it where its subscriptions chose email, and written to the inbox. It is
composed once per (delegation, period): ``send`` takes a transaction lock on the period's key
and finds its ``digests`` row if another replica got there first. An empty digest is not
sent.
"""

import asyncio
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import Date, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import events, metrics, orm
from services.notifications.config import NotificationsSettings
from services.notifications.digests import domain
from services.notifications.domain import Cadence, Channel, TargetKind
from services.notifications.email.queue import email_digest
from services.notifications.inbox.entries import Notice, add_entries
from services.notifications.inbox.render import render
from services.notifications.intake.context import plan_figures
from services.notifications.intake.handlers import add_deliveries, recorded
from shared.contracts import notifications as contracts
from shared.contracts.plans import ActionLineStatusChanged
from shared.db import NO_KEY_UPDATE

log = structlog.get_logger(__name__)

# The event type of a digest: its webhooks, its inbox entries.
DIGEST = contracts.DigestReady.event_type

Held = list[tuple[orm.DigestItem, orm.ReceivedEvent]]


class DigestJob:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: NotificationsSettings
    ) -> None:
        self._sessions = sessions
        self._settings = settings

    async def run(self) -> None:
        """Look for due digests every ``digest_interval``; a failed round is the next one's
        to catch up on (what it held is still held)."""
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    sent = await send_due_digests(session, datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.DIGEST_RUNS.labels("failed").inc()
                log.warning("digest_failed", error=f"{type(exc).__name__}: {exc}")
            else:
                metrics.DIGEST_RUNS.labels("ok").inc()
                metrics.DIGESTS_SENT.inc(sent)
            await asyncio.sleep(self._settings.digest_interval)


async def send_due_digests(session: AsyncSession, now: datetime) -> int:
    """Send every digest that is due at ``now`` (the clock is the caller's); return how many."""
    pending = (
        await session.execute(
            select(orm.DigestItem, orm.ReceivedEvent)
            .join(orm.ReceivedEvent, orm.ReceivedEvent.id == orm.DigestItem.event_row_id)
            .where(orm.DigestItem.digested_at.is_(None))
            .order_by(orm.DigestItem.id)
            .with_for_update(of=orm.DigestItem, skip_locked=True)
        )
    ).all()
    held: dict[tuple[str, str], Held] = defaultdict(list)
    for item, event in pending:
        held[(item.delegation_code, item.cadence)].append((item, event))
    meetings = await _meetings_due_soon(session, now)
    codes = {code for code, _ in held} | set(meetings)
    sent = 0
    # Delegations in code order, the order every transaction locks them in (inbox/entries.py).
    for code in sorted(codes):
        delegation = await session.get(orm.Delegation, code, with_for_update=NO_KEY_UPDATE)
        if delegation is None:
            continue
        zone = zoneinfo.ZoneInfo(delegation.timezone)
        daily = held.get((code, Cadence.DAILY_DIGEST.value), [])
        if daily:
            day = domain.daily_digest_due(
                now, zone, delegation.digest_hour, delegation.last_daily_digest_on
            )
            if day is not None:
                delegation.last_daily_digest_on = day
                daily_digest = _digest(delegation, "daily", day.isoformat(), now, zone, daily)
                sent += await send(session, daily_digest, _channels(daily), daily, now)
        for meeting, channels in meetings.get(code, []):
            if not domain.meeting_digest_due(now, zone, delegation.digest_hour, meeting.starts_at):
                continue
            items = held.pop((code, Cadence.MEETING_DIGEST.value), [])
            digest = await _meeting_digest(session, delegation, meeting, now, zone, items)
            if digest is not None:
                sent += await send(session, digest, channels | _channels(items), items, now)
    return sent


async def send(
    session: AsyncSession,
    digest: contracts.DigestReady,
    channels: set[str],
    items: Held,
    now: datetime,
) -> int:
    """Publish, deliver and file one digest, and mark what it holds as digested; 0 if its
    period's digest was sent already (by another replica: its lock is awaited first)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(digest.digest_key))))
    if await session.scalar(select(orm.Digest.key).where(orm.Digest.key == digest.digest_key)):
        return 0
    event_id = await events.outbox.add(session, digest, subject=events.subject(digest.delegation))
    row = orm.ReceivedEvent(
        event_id=str(event_id),
        event_type=DIGEST,
        subject=events.subject(digest.delegation),
        data=digest.model_dump(mode="json"),
        occurred_at=now,
    )
    session.add(row)
    await session.flush()
    session.add(
        orm.Digest(
            key=digest.digest_key,
            delegation_code=digest.delegation,
            kind=digest.kind,
            event_row_id=row.id,
        )
    )
    if Channel.WEBHOOK in channels:
        await add_deliveries(session, row, [digest.delegation])
    if Channel.EMAIL in channels:
        await email_digest(session, row, digest)
    # An inbox title holds 300 characters; a meeting's title alone may hold 500.
    title = digest.title[:300]
    notice = Notice(event_type=DIGEST, title=title, body=digest.text, event_row_id=row.id)
    await add_entries(session, notice, {digest.delegation: sorted(channels)})
    if items:
        await session.execute(
            update(orm.DigestItem)
            .where(orm.DigestItem.id.in_([item.id for item, _ in items]))
            .values(digested_at=now)
        )
    return 1


def _channels(items: Held) -> set[str]:
    return {c for item, _ in items for c in item.channels}


def _entries(items: Held) -> list[contracts.DigestEntry]:
    return [
        contracts.DigestEntry(
            event_id=event.event_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            title=render(recorded(event), {})[0],
        )
        for _, event in items[: domain.LISTED]
    ]


def _digest(
    delegation: orm.Delegation,
    kind: Literal["daily", "meeting"],
    period: str,
    now: datetime,
    zone: zoneinfo.ZoneInfo,
    items: Held,
    **more: object,
) -> contracts.DigestReady:
    day = now.astimezone(zone).date()
    title = str(more.pop("title", f"Daily digest of {day}"))
    digest = contracts.DigestReady(
        delegation=delegation.code,
        digest_key=domain.digest_key(delegation.code, kind, period),
        kind=kind,
        day=day,
        timezone=delegation.timezone,
        title=title,
        text="",
        entries=_entries(items),
        entries_left_out=max(0, len(items) - domain.LISTED),
        **more,
    )
    return digest.model_copy(update={"text": domain.digest_text(digest, zone)})


# --- the digest before a meeting -------------------------------------------------------------

# Per delegation: the meetings it wants a digest before, with the channels it asked for.
MeetingsDue = dict[str, list[tuple[orm.Meeting, set[str]]]]


async def _meetings_due_soon(session: AsyncSession, now: datetime) -> MeetingsDue:
    """Scheduled meetings starting within two days, with each delegation that follows their
    series for a meeting digest and the channels it asked for."""
    rows = await session.execute(
        select(orm.Subscription.delegation_code, orm.Subscription.channels, orm.Meeting)
        .join(orm.Meeting, orm.Meeting.series == orm.Subscription.target_key)
        .where(
            orm.Subscription.delegation_code.is_not(None),
            orm.Subscription.target_kind == TargetKind.MEETING_SERIES.value,
            orm.Subscription.cadence == Cadence.MEETING_DIGEST.value,
            orm.Meeting.status == "scheduled",
            orm.Meeting.starts_at > now,
            orm.Meeting.starts_at <= now + timedelta(days=2),
        )
        .order_by(orm.Meeting.starts_at, orm.Meeting.id)
    )
    found: dict[str, dict[object, tuple[orm.Meeting, set[str]]]] = defaultdict(dict)
    for code, channels, meeting in rows.all():
        assert code is not None  # the query's condition
        _, wanted = found[code].setdefault(meeting.id, (meeting, set()))
        wanted.update(channels)
    return {key: list(meetings.values()) for key, meetings in found.items()}


async def _meeting_digest(
    session: AsyncSession,
    delegation: orm.Delegation,
    meeting: orm.Meeting,
    now: datetime,
    zone: zoneinfo.ZoneInfo,
    items: Held,
) -> contracts.DigestReady | None:
    plans = [await _plan(session, plan_id) for plan_id in meeting.plans_under_review]
    since = await _since_previous(session, meeting)
    if domain.is_empty(items, since.lines_changed if since else 0):
        return None
    local_date = meeting.starts_at.astimezone(zone).date()
    return _digest(
        delegation,
        "meeting",
        str(meeting.id),
        now,
        zone,
        items,
        title=f"Before {meeting.title} on {local_date}",
        meeting=contracts.DigestMeeting(
            meeting_id=meeting.id,
            series=meeting.series,
            title=meeting.title,
            starts_at=meeting.starts_at,
            date=local_date,
        ),
        plans=[p for p in plans if p is not None],
        since_previous_meeting=since,
    )


async def _plan(session: AsyncSession, plan_id: object) -> contracts.DigestPlanFigures | None:
    node = await session.get(orm.PlanNode, plan_id)
    if node is None:
        return None
    figures = await plan_figures(session, node.id)
    return contracts.DigestPlanFigures(
        plan_id=node.id, code=node.code, title=node.name, **figures.model_dump()
    )


async def _since_previous(
    session: AsyncSession, meeting: orm.Meeting
) -> contracts.DigestSincePrevious | None:
    """The net status changes of the plans under review dated after the previous meeting of
    the series (none without a previous meeting or plans)."""
    previous = await session.scalar(
        select(orm.Meeting)
        .where(
            orm.Meeting.series == meeting.series,
            orm.Meeting.id != meeting.id,
            orm.Meeting.status != "cancelled",
            orm.Meeting.starts_at < meeting.starts_at,
        )
        .order_by(orm.Meeting.starts_at.desc())
        .limit(1)
    )
    if previous is None or not meeting.plans_under_review:
        return None
    previous_date = previous.starts_at.astimezone(
        zoneinfo.ZoneInfo(previous.timezone or "UTC")
    ).date()
    rows = await session.scalars(
        select(orm.ReceivedEvent)
        .where(
            orm.ReceivedEvent.event_type == ActionLineStatusChanged.event_type,
            orm.ReceivedEvent.plan_id.in_(meeting.plans_under_review),
            cast(orm.ReceivedEvent.data["effective_date"].astext, Date) > previous_date,
        )
        .order_by(orm.ReceivedEvent.id)
    )
    changes = domain.net_changes(_status_change(row) for row in rows)
    return contracts.DigestSincePrevious(
        meeting_id=previous.id,
        title=previous.title,
        date=previous_date,
        lines_changed=len(changes),
        changes=changes[: domain.LISTED],
    )


def _status_change(row: orm.ReceivedEvent) -> domain.StatusChange:
    change = ActionLineStatusChanged.model_validate(row.data)
    return domain.StatusChange(
        change.action_line_id,
        change.code,
        change.old_status,
        change.new_status,
        change.effective_date,
    )
