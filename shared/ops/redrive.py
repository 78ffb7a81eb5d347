"""Sending parked messages back to the topic they came from, once a fix is deployed.

A redrive republishes the original message (its key, value and own headers; the ``dlt.*``
headers are dropped) to its original topic, where every consumer group reads it again: the
ones that had applied it skip it by its event id (``processed_events``), the one that parked
it applies it now (or parks it again, with new coordinates, if the fix did not help). Each
redrive is recorded in the ``redrives`` table of the database of the service that owns the
topic, keyed by the original coordinates, in the same transaction that waits for the broker's
acknowledgement (a batch of messages per transaction): a second redrive of the same message,
from any copy of it and any operator, finds the row and is skipped. (A crash between the
acknowledgement and the commit, or a send failing in a batch whose other messages went out,
leaves messages redriven but not recorded; a later redrive sends them again, which the
consumers' deduplication absorbs.)"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, select, tuple_, update
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
# Messages claimed, sent and recorded per transaction.
BATCH = 200

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
            kafka = sources.kafka_access()
            producer = make_producer(
                kafka,
                max_request_size=MAX_REQUEST_BYTES,
                request_timeout_ms=int(timeout * 1000),
            )
            await sources.start_client(
                producer.start, producer.stop, kafka.bootstrap_servers, timeout
            )
        who = getpass.getuser()
        for owner, mine in by_owner.items():
            async with sources.database(owner, timeout) as connection:
                for first in range(0, len(mine), BATCH):
                    batch = mine[first : first + BATCH]
                    try:
                        outcomes += await _batch(connection, producer, batch, who)
                        await connection.commit()
                    except BaseException:
                        await connection.rollback()
                        raise
                    progress.advance(len(batch))
    finally:
        if producer is not None:
            await producer.stop()
    return outcomes


def _coordinates(original: Original) -> tuple[str, int, int]:
    return original.topic, original.partition, original.offset


async def _batch(
    connection: AsyncConnection, producer: Any, batch: list[Candidate], who: str
) -> list[Outcome]:
    """One transaction: claim the rows of the messages not redriven before (a concurrent
    redrive of the same message waits on the claim, then finds it and skips), send those
    messages, wait for every acknowledgement, record where they landed. Without a producer
    (a dry run), only look. The caller commits."""
    keys = [_coordinates(c.original) for c in batch]
    sent: dict[int, Any] = {}  # index in the batch -> the broker's acknowledgement
    if producer is not None:
        claimed = {
            (row.topic, row.partition, row.offset): row.id
            for row in await connection.execute(
                pg_insert(REDRIVES)
                .values(
                    [
                        {
                            "topic": c.original.topic,
                            "partition": c.original.partition,
                            "offset": c.original.offset,
                            "parked_as": c.parked_as,
                            "group_id": c.group,
                            "reason": c.reason[:10_000],
                            "redriven_by": who[:200],
                        }
                        for c in batch
                    ]
                )
                # Two copies of one message in the batch: the first claims it.
                .on_conflict_do_nothing()
                .returning(REDRIVES.c.id, REDRIVES.c.topic, REDRIVES.c.partition, REDRIVES.c.offset)
            )
        }
        sending: list[tuple[int, int, Awaitable[Any]]] = []
        for index, (candidate, key) in enumerate(zip(batch, keys, strict=True)):
            row_id = claimed.pop(key, None)
            if row_id is not None:
                message_key, value, headers = await candidate.load()
                delivery = await producer.send(
                    candidate.original.topic, value=value, key=message_key, headers=headers
                )
                sending.append((index, row_id, delivery))
        acks = await asyncio.wait_for(
            asyncio.gather(*(delivery for _, _, delivery in sending)), SEND_TIMEOUT
        )
        for (index, row_id, _), ack in zip(sending, acks, strict=True):
            sent[index] = ack
            await connection.execute(
                update(REDRIVES)
                .where(REDRIVES.c.id == row_id)
                .values(new_partition=ack.partition, new_offset=ack.offset)
            )
    rows = {
        (row.topic, row.partition, row.offset): row
        for row in await connection.execute(
            select(REDRIVES).where(
                tuple_(REDRIVES.c.topic, REDRIVES.c.partition, REDRIVES.c.offset).in_(keys)
            )
        )
    }
    outcomes = []
    for index, (candidate, key) in enumerate(zip(batch, keys, strict=True)):
        row = rows.get(key)
        if row is None:
            outcomes.append(Outcome(candidate.parked_as, candidate.original, "would redrive"))
            continue
        outcomes.append(
            Outcome(
                candidate.parked_as,
                candidate.original,
                "redriven" if index in sent else "already redriven",
                row.new_partition,
                row.new_offset,
                row.redriven_at.isoformat(timespec="seconds"),
                row.redriven_by,
            )
        )
    return outcomes


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
