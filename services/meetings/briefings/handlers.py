"""Freezing a concluded meeting's briefing: a step of the commands that conclude a meeting or
record plans' answer to one of its status reviews (``services/meetings/handlers.py``)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import orm
from services.meetings.briefings import views
from services.meetings.domain import MeetingStatus


async def freeze_briefing_when_due(session: AsyncSession, meeting: orm.Meeting) -> None:
    """Freeze a concluded meeting's briefing once every status review it adopted has been
    answered by plans, so that the snapshot includes what the meeting itself decided."""
    if meeting.status != MeetingStatus.CONCLUDED.value:
        return
    if await session.get(orm.BriefingSnapshot, meeting.id) is not None:
        return
    if await views.pending_reviews(session, meeting.id):
        return
    briefing = await views.live_briefing(session, meeting)
    session.add(
        orm.BriefingSnapshot(meeting_id=meeting.id, content=briefing.model_dump(mode="json"))
    )
    await session.flush()
