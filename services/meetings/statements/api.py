"""Routes of a meeting's statement drafts (the secretariat's)."""

from fastapi import APIRouter, Request, Response, status

from services.meetings.schemas import NOT_FOUND, MeetingId
from services.meetings.statements import handlers, views
from services.meetings.statements.schemas import DraftCreate, DraftEdit, DraftKind, DraftRead
from shared.auth import Secretariat
from shared.http import IfMatch, optional_if_match, read_only, unit_of_work
from shared.problems import documented, etag

router = APIRouter(tags=["statements"])

NOT_FROZEN = documented(409, "The meeting's briefing is not frozen yet (it has not concluded)")
STALE_DRAFT = documented(412, "`If-Match` names a version of the draft that is not current") | (
    documented(409, "The draft changed since the version sent (without `If-Match`)")
)


@router.post(
    "/meetings/{meeting_id}/statement-drafts",
    status_code=status.HTTP_201_CREATED,
    response_model=DraftRead,
    responses=NOT_FOUND | NOT_FROZEN | {200: {"description": "The draft already made"}},
)
async def create_statement_draft(
    meeting_id: MeetingId,
    body: DraftCreate,
    request: Request,
    response: Response,
    principal: Secretariat,
) -> DraftRead:
    """Draft the meeting's statement (or press release) from its template, with the figures
    of the meeting's frozen snapshot: each plan's and each pillar's "97 of the 103 action
    lines (94.2 %)", each a `[[Fn]]` marker in the text, linked to the figure plans
    published for the meeting. A 409 until the briefing is frozen; the draft already made
    (200) if there is one."""
    async with unit_of_work(request) as session:
        row, created = await handlers.create_draft(session, meeting_id, body.kind)
        read = await views.read(session, row)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["ETag"] = etag(read.version)
    return read


@router.get(
    "/meetings/{meeting_id}/statement-drafts/{kind}", response_model=DraftRead, responses=NOT_FOUND
)
async def read_statement_draft(
    meeting_id: MeetingId, kind: DraftKind, request: Request, response: Response,
    principal: Secretariat,
) -> DraftRead:  # fmt: skip
    """The draft: its editable text, the text rendered, and each figure with its provenance."""
    async with read_only(request) as session:
        read = await views.draft(session, meeting_id, kind)
    response.headers["ETag"] = etag(read.version)
    return read


@router.put(
    "/meetings/{meeting_id}/statement-drafts/{kind}",
    response_model=DraftRead,
    responses=NOT_FOUND | STALE_DRAFT,
)
async def edit_statement_draft(
    meeting_id: MeetingId,
    kind: DraftKind,
    body: DraftEdit,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> DraftRead:
    """Replace the draft's text. Figures stay markers (`[[F1]]`): one may be moved or left
    out, none added or changed, so the published text's figures are the snapshot's. Send the
    draft's `ETag` as `If-Match` to be sure no one else's edit is overwritten."""
    command = handlers.EditDraft(meeting_id, kind, body.text, optional_if_match(if_match))
    async with unit_of_work(request) as session:
        row = await handlers.edit_draft(session, command)
        read = await views.read(session, row)
    response.headers["ETag"] = etag(read.version)
    return read
