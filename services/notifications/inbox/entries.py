"""Writing inbox entries: one per (delegation, event), numbered per delegation for the stream.

Every feature that tells a delegation something writes here: the intake's fan-out, the
digests, and the webhooks' warnings about a failing endpoint."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Boolean, String, Table, Text, bindparam, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm, wakeup
from services.notifications.bulk_insert import ARRAY_SEPARATOR
from services.notifications.domain import Channel
from shared.db import NO_KEY_UPDATE, arrays_side_by_side, is_any_of
from shared.prepared import Prepared


def _write_entries() -> Prepared:
    """Each delegation's next stream number, its entry with that number, and the wake-up of
    the live streams, as one statement run for every notice: three round trips were three
    of the dozen of a take-in, each costing about as much as the Python around it.

    On the tables, not the mapped classes: an ORM-enabled UPDATE first works out what to
    synchronise in the session, 0.6 ms of Python per notice here, for rows this session never
    loads. An entry that exists for its (delegation, event) is skipped, its number unused; the
    wake-up goes out (at the commit, as every NOTIFY) only if an entry was written."""
    delegations = cast(Table, orm.Delegation.__table__)
    entries = cast(Table, orm.InboxEntry.__table__)
    # Each delegation's code and its channels (joined: see bulk_insert), side by side.
    wanted = arrays_side_by_side({"codes": String(), "channels": Text()}, "wanted")
    numbered = (
        update(delegations)
        .where(delegations.c.code.in_(select(wanted.c.codes)))
        .values(stream_seq=delegations.c.stream_seq + 1)
        .returning(delegations.c.code, delegations.c.stream_seq)
        .cte("numbered")
    )
    channels = entries.c.channels.type
    written = (
        insert(entries)
        .from_select(
            [
                "delegation_code",
                "seq",
                "event_row_id",
                "event_type",
                "title",
                "body",
                "context",
                "channels",
                "critical",
            ],
            select(
                numbered.c.code,
                numbered.c.stream_seq,
                *(
                    bindparam(name, type_=entries.c[name].type)
                    for name in ("event_row_id", "event_type", "title", "body", "context")
                ),
                func.string_to_array(wanted.c.channels, ARRAY_SEPARATOR).cast(channels),
                bindparam("critical", type_=Boolean()),
            ).join_from(numbered, wanted, wanted.c.codes == numbered.c.code),
        )
        .on_conflict_do_nothing()
        .returning(entries.c.id)
        .cte("written")
    )
    wake = func.pg_notify(literal(wakeup.INBOX), "")
    return Prepared(select(wake).where(select(written.c.id).exists()))


_WRITE_ENTRIES = _write_entries()


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
    await _WRITE_ENTRIES.execute(
        session,
        {
            "codes": codes,
            "channels": [ARRAY_SEPARATOR.join(wanted[code]) for code in codes],
            "event_row_id": notice.event_row_id,
            "event_type": notice.event_type,
            "title": notice.title,
            "body": notice.body,
            "context": notice.context,
            "critical": notice.critical,
        },
    )
