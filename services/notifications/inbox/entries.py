"""Writing inbox entries: one per (delegation, event), numbered per delegation for the stream.

Every feature that tells a delegation something writes here: the intake's fan-out, the
digests, and the webhooks' warnings about a failing endpoint."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm, wakeup
from services.notifications.bulk_insert import insert_rows
from services.notifications.domain import Channel
from shared.db import NO_KEY_UPDATE, is_any_of, is_any_of_parameter
from shared.prepared import Prepared

# Each delegation's next stream number, run for every notice (built once: see
# ``is_any_of_parameter``). On the table, not the mapped class: an ORM-enabled UPDATE first
# works out what to synchronise in the session, 0.6 ms of Python per notice here, for rows
# this session never loads.
_DELEGATIONS = cast(Table, orm.Delegation.__table__)
_NEXT_STREAM_NUMBERS = Prepared(
    update(_DELEGATIONS)
    .where(is_any_of_parameter(_DELEGATIONS.c.code, "codes"))
    .values(stream_seq=_DELEGATIONS.c.stream_seq + 1)
    .returning(_DELEGATIONS.c.code, _DELEGATIONS.c.stream_seq)
)


@dataclass(frozen=True)
class Notice:
    event_type: str
    title: str
    body: str
    critical: bool = False
    event_row_id: int | None = None
    # What the event is about, by name (intake/context.py), as JSON.
    context: Mapping[str, object] | None = None


async def add_entries(
    session: AsyncSession, notice: Notice, channels_by_delegation: Mapping[str, Sequence[str]]
) -> None:
    """Give each delegation the notice on its inbox/stream channels (webhooks go elsewhere)."""
    wanted = {
        code: sorted(set(channels) & {Channel.INBOX, Channel.STREAM})
        for code, channels in channels_by_delegation.items()
    }
    codes = sorted(code for code, channels in wanted.items() if channels)
    if not codes:
        return
    # Lock in code order (two consumers fanning out to overlapping delegations cannot
    # deadlock), then take each delegation's next stream number. Not FOR UPDATE: rows that
    # reference a delegation (digest items, entries) are inserted meanwhile (shared/db.py).
    # One row has no order to keep: the update below locks it.
    if len(codes) > 1:
        await session.execute(
            select(orm.Delegation.code)
            .where(is_any_of(orm.Delegation.code, codes))
            .order_by(orm.Delegation.code)
            .with_for_update(**NO_KEY_UPDATE)
        )
    numbered = await _NEXT_STREAM_NUMBERS.fetch(session, {"codes": codes})
    rows = [
        {
            "delegation_code": code,
            "seq": seq,
            "event_row_id": notice.event_row_id,
            "event_type": notice.event_type,
            "title": notice.title,
            "body": notice.body,
            "context": notice.context,
            "channels": wanted[code],
            "critical": notice.critical,
        }
        for code, seq in ((row["code"], row["stream_seq"]) for row in numbered)
    ]
    if rows:
        await insert_rows(session, orm.InboxEntry, rows)
        await wakeup.notify(session, wakeup.INBOX)
