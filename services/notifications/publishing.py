"""Our own events, staged in the outbox of the current transaction, keyed by delegation."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from shared.contracts import notifications as events
from shared.events import EventContract
from shared.outbox import stage_event
from shared.topics import NOTIFICATIONS_EVENTS


async def publish(session: AsyncSession, payload: EventContract, *, delegation: str) -> None:
    await stage_event(
        session,
        orm.outbox,
        payload,
        topic=NOTIFICATIONS_EVENTS,
        key=delegation,
        source=events.SOURCE,
        subject=f"delegations/{delegation}",
    )
