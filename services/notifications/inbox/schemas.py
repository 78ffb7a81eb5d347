"""HTTP response models of the inbox (the live stream sends ``InboxEntryRead`` too)."""

from datetime import datetime

from pydantic import Field

from services.notifications.intake.context import NoticeContext
from shared.schemas import ResponseModel


class InboxEntryRead(ResponseModel):
    id: int
    seq: int = Field(description="The delegation's stream number: the SSE event id")
    delegation_code: str
    event_type: str
    title: str
    body: str
    context: NoticeContext | None = Field(
        default=None, description="What the event is about, by name (plan, line, who, figures)"
    )
    critical: bool
    read_at: datetime | None
    created_at: datetime


class UnreadCount(ResponseModel):
    delegation_code: str
    unread: int


class MarkedRead(ResponseModel):
    marked: int
