"""HTTP routes: the inbox and the live stream."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from services.notifications.inbox import handlers, stream, views
from services.notifications.inbox.schemas import InboxEntryRead, MarkedRead, UnreadCount
from services.notifications.inbox.stream_slots import HeldStream
from services.notifications.ownership import filter_delegation, one_delegation, scope_of
from services.notifications.schemas import NOT_FOUND
from services.notifications.wakeup import INBOX
from shared.auth import AnyPrincipal
from shared.http import read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page
from shared.schemas import MAX_BIGINT

router = APIRouter(tags=["inbox"])

EntryId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]

DelegationQuery = Annotated[
    str | None, Query(description="Secretariat only: whose (a delegation's token implies its own)")
]


@router.get("/inbox", response_model=Page[InboxEntryRead])
async def list_inbox(
    request: Request,
    principal: AnyPrincipal,
    delegation: DelegationQuery = None,
    unread_only: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[InboxEntryRead]:
    """The delegation's inbox, newest first: one entry per event it follows (however many
    subscriptions matched), with a title and body rendered from the event, and digests."""
    code = filter_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.inbox(session, code, unread_only, limit, cursor)


@router.get("/inbox/unread-count", response_model=UnreadCount)
async def unread_count(
    request: Request, principal: AnyPrincipal, delegation: DelegationQuery = None
) -> UnreadCount:
    """How many inbox entries the delegation has not read."""
    code = one_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.unread_count(session, code)


@router.post("/inbox/read-all", response_model=MarkedRead)
async def mark_all_read(
    request: Request, principal: AnyPrincipal, delegation: DelegationQuery = None
) -> MarkedRead:
    """Mark every unread entry of the delegation read."""
    command = handlers.MarkAllRead(one_delegation(principal, delegation))
    async with unit_of_work(request) as session:
        marked = await handlers.mark_all_read(session, command)
    return MarkedRead(marked=marked)


@router.post("/inbox/{entry_id}/read", response_model=InboxEntryRead, responses=NOT_FOUND)
async def mark_read(entry_id: EntryId, request: Request, principal: AnyPrincipal) -> InboxEntryRead:
    """Mark one entry read (again is harmless)."""
    command = handlers.MarkRead(entry_id, scope_of(principal))
    async with unit_of_work(request) as session:
        entry = await handlers.mark_read(session, command)
    return InboxEntryRead.model_validate(entry)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'id: 42\nevent: notification\ndata: {"seq": 42, "title": '
                    '"Action line 1.2.3: ongoing -> completed", ...}\n\n'
                }
            },
            "description": "Server-Sent Events, one per entry; `id` is the entry's `seq`",
        }
    },
)
async def live_stream(
    request: Request,
    principal: AnyPrincipal,
    delegation: DelegationQuery = None,
    last_event_id: Annotated[
        int | None,
        Header(
            alias="Last-Event-ID",
            ge=0,
            le=MAX_BIGINT,
            description="Resume after this entry's `seq`",
        ),
    ] = None,
) -> StreamingResponse:
    """The delegation's live stream (Server-Sent Events). Each event is an entry of its inbox
    on the `stream` channel; a client that reconnects with `Last-Event-ID` gets everything it
    missed, in order, then new entries as they come. Without it, the stream starts now.
    A delegation may hold a capped number of streams open at once (429 beyond, `limit` names
    the cap)."""
    code = one_delegation(principal, delegation)
    state = request.app.state
    events = stream.events(
        state.sessions,
        state.listener.pulses[INBOX],
        code,
        last_event_id,
        keepalive=state.notifications_settings.stream_keepalive,
    )
    # Last, so that nothing can fail between taking the slot and the response that frees it.
    release = state.stream_slots.hold(code)
    return HeldStream(
        events,
        release=release,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
