"""HTTP route of a meeting's briefing (read by anyone with a token)."""

from fastapi import APIRouter, Request

from services.meetings.briefings import views
from services.meetings.briefings.schemas import BriefingRead
from services.meetings.schemas import NOT_FOUND, MeetingId
from shared.auth import AnyPrincipal
from shared.http import read_only

router = APIRouter(tags=["meetings"])


@router.get(
    "/meetings/{meeting_id}/briefing",
    response_model=BriefingRead,
    responses=NOT_FOUND,
    tags=["briefings"],
)
async def read_briefing(
    meeting_id: MeetingId, request: Request, principal: AnyPrincipal
) -> BriefingRead:
    """For each plan under review, its progress as of the meeting's date (counts per status,
    completed, completion rate; overall and per pillar) and what changed since the previous
    meeting of the same series (lines completed, lines reopened). Built from this service's
    own record of plans' events. Once the meeting has concluded this is a frozen snapshot
    (`frozen: true`) that later changes never alter."""
    async with read_only(request) as session:
        return await views.briefing(session, meeting_id)
