"""Commands on statement drafts: make one from the frozen snapshot, edit its text."""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import orm
from services.meetings.domain import meeting_date
from services.meetings.statements.domain import (
    Kind,
    draft_text,
    from_json,
    snapshot_figures,
    to_json,
    unknown_markers,
)
from shared.errors import Conflict, Invalid, NotFound, Stale


@dataclass(frozen=True)
class EditDraft:
    meeting_id: uuid.UUID
    kind: Kind
    text: str
    expected_version: int | None


async def create_draft(
    session: AsyncSession, meeting_id: uuid.UUID, kind: Kind
) -> tuple[orm.StatementDraft, bool]:
    """The meeting's draft of this kind, made now from its frozen snapshot if it has none;
    and whether it was made now."""
    meeting = await orm.load(session, orm.Meeting, meeting_id, lock=True)
    existing = await session.get(orm.StatementDraft, (meeting_id, kind))
    if existing is not None:
        return existing, False
    snapshot = await session.get(orm.BriefingSnapshot, meeting_id)
    if snapshot is None:
        raise Conflict(
            "the meeting's briefing is not frozen yet: a draft takes its figures from the "
            "frozen snapshot of a concluded meeting"
        )
    figures = snapshot_figures(snapshot.content)
    text = draft_text(kind, await _meeting_words(session, meeting), figures)
    draft = orm.StatementDraft(
        meeting_id=meeting_id, kind=kind, text=text, figures=to_json(figures), version=1
    )
    session.add(draft)
    await session.flush()
    return draft, True


async def edit_draft(session: AsyncSession, command: EditDraft) -> orm.StatementDraft:
    """New text for the draft; its markers must be the draft's figures (one may be left
    out, none invented), so every figure in it stays the snapshot's."""
    draft = await session.get(
        orm.StatementDraft, (command.meeting_id, command.kind), with_for_update=True
    )
    if draft is None:
        raise NotFound(f"{command.kind} draft of meeting", command.meeting_id)
    if command.expected_version is not None and command.expected_version != draft.version:
        raise Stale("the draft", expected=command.expected_version, current=draft.version)
    unknown = unknown_markers(command.text, from_json(draft.figures))
    if unknown:
        raise Invalid(
            "text",
            f"the text has figure markers the draft does not have: {', '.join(unknown)}; a "
            "figure comes from the meeting's snapshot, write [[F1]] to place one of its own",
        )
    draft.text = command.text
    draft.version += 1
    await session.flush()
    return draft


async def _meeting_words(session: AsyncSession, meeting: orm.Meeting) -> dict[str, Any]:
    codes = [p.delegation for p in meeting.participants if p.attendance == "present"] or [
        p.delegation for p in meeting.participants
    ]
    names = dict(
        (
            await session.execute(
                select(orm.KnownDelegation.code, orm.KnownDelegation.name).where(
                    orm.KnownDelegation.code.in_(codes)
                )
            )
        ).all()
    )
    day = meeting_date(meeting.starts_at, meeting.timezone)
    return {
        "place": meeting.place or "",
        "day": _long_date(day),
        "meeting_title": meeting.title,
        "format": meeting.format.replace("_", "-"),
        "parties": _listed([names.get(c, c) for c in codes]) or "the participants",
        "co_chairs": _listed([f"{c['title']} {c['name']}".strip() for c in meeting.co_chairs]),
    }


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _listed(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
