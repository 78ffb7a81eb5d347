"""The digest job: events held for a delegation's digest become one inbox entry, sent daily
from its digest hour, or the day before a meeting of a series it follows, in its own time
zone. Critical events never wait here (see ``intake.domain.recipients``)."""

import asyncio
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import metrics, orm
from services.notifications.config import NotificationsSettings
from services.notifications.digests import domain
from services.notifications.domain import Cadence, TargetKind
from services.notifications.inbox.entries import Notice, add_entries
from services.notifications.inbox.render import render
from services.notifications.intake.handlers import recorded
from shared.db import NO_KEY_UPDATE

log = structlog.get_logger(__name__)

# The event type of a digest's inbox entry (an entry of this service, not a published event).
DIGEST = "org.accord.notifications.digest"


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
    """Write every digest that is due; return how many."""
    sent = 0
    pending = (
        await session.execute(
            select(orm.DigestItem, orm.ReceivedEvent)
            .join(orm.ReceivedEvent, orm.ReceivedEvent.id == orm.DigestItem.event_row_id)
            .where(orm.DigestItem.digested_at.is_(None))
            .order_by(orm.DigestItem.id)
            .with_for_update(of=orm.DigestItem, skip_locked=True)
        )
    ).all()
    held: dict[tuple[str, str], list[tuple[orm.DigestItem, orm.ReceivedEvent]]] = defaultdict(list)
    for item, event in pending:
        held[(item.delegation_code, item.cadence)].append((item, event))
    # Delegations in code order, the order every transaction locks them in (inbox/entries.py).
    for (code, cadence), items in sorted(held.items()):
        delegation = await session.get(orm.Delegation, code, with_for_update=NO_KEY_UPDATE)
        assert delegation is not None
        zone = zoneinfo.ZoneInfo(delegation.timezone)
        title = await _due_title(session, delegation, cadence, zone, now)
        if title is None:
            continue
        titles = [render(recorded(e), {})[0] for _, e in items]
        notice = Notice(
            event_type=DIGEST,
            title=f"{title}: {len(titles)} update(s)",
            body=domain.digest_text(titles),
        )
        channels = sorted({c for item, _ in items for c in item.channels})
        await add_entries(session, notice, {code: channels})
        await session.execute(
            update(orm.DigestItem)
            .where(orm.DigestItem.id.in_([item.id for item, _ in items]))
            .values(digested_at=now)
        )
        sent += 1
    return sent


async def _due_title(
    session: AsyncSession,
    delegation: orm.Delegation,
    cadence: str,
    zone: zoneinfo.ZoneInfo,
    now: datetime,
) -> str | None:
    if cadence == Cadence.DAILY_DIGEST:
        day = domain.daily_digest_due(
            now, zone, delegation.digest_hour, delegation.last_daily_digest_on
        )
        if day is None:
            return None
        delegation.last_daily_digest_on = day
        return f"Daily digest of {day.isoformat()}"
    followed = select(orm.Subscription.target_key).where(
        orm.Subscription.delegation_code == delegation.code,
        orm.Subscription.target_kind == TargetKind.MEETING_SERIES.value,
    )
    meetings = await session.scalars(
        select(orm.Meeting).where(
            orm.Meeting.series.in_(followed),
            orm.Meeting.status == "scheduled",
            orm.Meeting.starts_at > now,
        )
    )
    for meeting in meetings:
        if domain.meeting_digest_due(now, zone, delegation.digest_hour, meeting.starts_at):
            return f"Before {meeting.title}"
    return None
