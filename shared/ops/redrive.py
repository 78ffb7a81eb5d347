"""Sending parked messages back to the topic they came from, once a fix is deployed.

A redrive republishes the original message (its key, value and own headers; the ``dlt.*``
headers are dropped) to its original topic, where every consumer group reads it again: the
ones that had applied it skip it by its event id (``processed_events``), the one that parked
it applies it now (or parks it again, with new coordinates, if the fix did not help). Each
redrive is recorded in the ``redrives`` table of the database of the service that owns the
topic, keyed by the original coordinates, in the same transaction that waits for the broker's
acknowledgement: a second redrive of the same message, from any copy of it and any operator,
finds the row and is skipped. (A crash between the acknowledgement and the commit leaves the
message redriven but not recorded; a later redrive sends it again, which the consumers'
deduplication absorbs.)"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.ops import sources
from shared.ops.parked import Original, Progress
from shared.ops.redrives import redrives_table
from shared.outbox import make_producer

REDRIVES = redrives_table(MetaData())
# Up to what the broker accepts: it, not this client, decides (a parked message was accepted
# once already, without the dlt.* headers it no longer carries).
MAX_REQUEST_BYTES = 64 * 1024 * 1024
SEND_TIMEOUT = 30.0

# The message to send: key, value, headers.
Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


@dataclass(frozen=True)
class Candidate:
    """One parked message to send back, and how to get its original content."""

    original: Original
    parked_as: str
    group: str
    reason: str
    load: Callable[[], Awaitable[Message]]


@dataclass(frozen=True)
class Outcome:
    parked_as: str
    original: Original
    # "would redrive" (dry run), "redriven", "already redriven"
    status: str
    new_partition: int | None = None
    new_offset: int | None = None
    redriven_at: str | None = None
    redriven_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "original": self.original.__dict__}


def _key(original: Original) -> Any:
    return (
        (REDRIVES.c.topic == original.topic)
        & (REDRIVES.c.partition == original.partition)
        & (REDRIVES.c.offset == original.offset)
    )


async def _earlier(connection: AsyncConnection, candidate: Candidate) -> Outcome | None:
    row = (await connection.execute(select(REDRIVES).where(_key(candidate.original)))).first()
    if row is None:
        return None
    return Outcome(
        candidate.parked_as,
        candidate.original,
        "already redriven",
        row.new_partition,
        row.new_offset,
        row.redriven_at.isoformat(timespec="seconds"),
        row.redriven_by,
    )


async def redrive(
    candidates: Sequence[Candidate],
    *,
    send: bool,
    timeout: float,
    progress: Progress,
) -> list[Outcome]:
    """Redrive each candidate not redriven before (``send``), or say what would happen."""
    outcomes: list[Outcome] = []
    by_owner: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_owner.setdefault(sources.owner_of(candidate.original.topic), []).append(candidate)
    progress.start(len(candidates), "redriving" if send else "checking")
    producer = None
    try:
        if send:
            producer = make_producer(
                sources.bootstrap_servers(),
                max_request_size=MAX_REQUEST_BYTES,
                request_timeout_ms=int(timeout * 1000),
            )
            await sources.start_client(
                producer.start, producer.stop, sources.bootstrap_servers(), timeout
            )
        who = getpass.getuser()
        for owner, mine in by_owner.items():
            async with sources.database(owner, timeout) as connection:
                for candidate in mine:
                    outcomes.append(
                        await _one(connection, producer, candidate, who)
                        if producer is not None
                        else await _earlier(connection, candidate)
                        or Outcome(candidate.parked_as, candidate.original, "would redrive")
                    )
                    await connection.commit()
                    progress.advance()
    finally:
        if producer is not None:
            await producer.stop()
    return outcomes


async def _one(
    connection: AsyncConnection, producer: Any, candidate: Candidate, who: str
) -> Outcome:
    original = candidate.original
    # The row is claimed first: a concurrent redrive of the same message waits on it here,
    # then finds it and skips. It commits only after the broker acknowledged the message.
    claimed = (
        await connection.execute(
            pg_insert(REDRIVES)
            .values(
                topic=original.topic,
                partition=original.partition,
                offset=original.offset,
                parked_as=candidate.parked_as,
                group_id=candidate.group,
                reason=candidate.reason[:10_000],
                redriven_by=who[:200],
            )
            .on_conflict_do_nothing()
            .returning(REDRIVES.c.id)
        )
    ).scalar()
    if claimed is None:
        earlier = await _earlier(connection, candidate)
        assert earlier is not None
        return earlier
    try:
        key, value, headers = await candidate.load()
        sent = await asyncio.wait_for(
            producer.send_and_wait(original.topic, value=value, key=key, headers=headers),
            SEND_TIMEOUT,
        )
        row = (
            await connection.execute(
                update(REDRIVES)
                .where(REDRIVES.c.id == claimed)
                .values(new_partition=sent.partition, new_offset=sent.offset)
                .returning(REDRIVES.c.redriven_at)
            )
        ).one()
    except BaseException:
        await connection.rollback()
        raise
    return Outcome(
        candidate.parked_as,
        original,
        "redriven",
        sent.partition,
        sent.offset,
        row.redriven_at.isoformat(timespec="seconds"),
        who,
    )


async def recorded(service: str, timeout: float) -> list[dict[str, Any]]:
    """The redrives recorded in a service's database (for the topics it owns)."""
    async with sources.database(service, timeout) as connection:
        rows = await connection.execute(select(REDRIVES).order_by(REDRIVES.c.id))
        return [
            {
                **row._asdict(),
                "redriven_at": row.redriven_at.isoformat(timespec="seconds"),
            }
            for row in rows
        ]
