"""Routes of the meetings' pages: the list of meetings and a meeting's briefing. For browsers
(signed in with ``/pages/login``), not in the OpenAPI document."""

import uuid

from fastapi import Request
from fastapi.responses import Response

from services.meetings.pages import views
from shared.http import read_only
from shared.pages import routes
from shared.pages.session import PagePrincipal

router, pages = routes.service_pages("services.meetings.pages")


@router.get("/pages/")
async def index(request: Request, principal: PagePrincipal) -> Response:
    async with read_only(request) as session:
        meetings = await views.meeting_index(session)
    return pages.render(request, "meetings.html", principal=principal, meetings=meetings)


@router.get("/pages/meetings/{meeting_id}")
async def meeting(meeting_id: uuid.UUID, request: Request, principal: PagePrincipal) -> Response:
    """A meeting's briefing: each plan under review as of the meeting's date, per pillar, what
    changed since the previous meeting of the series, and completion over time. A frozen
    briefing's figures link to the figures plans published for it, on plans as browsers
    reach it (``MEETINGS_PLANS_PUBLIC_URL``)."""
    plans_at = request.app.state.spec.settings.plans_public_url
    async with read_only(request) as session:
        context = await views.meeting_page(session, meeting_id, plans_at)
    return pages.render(request, "meeting.html", principal=principal, **context)
