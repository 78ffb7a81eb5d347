"""The transactional outbox and its relay.

A change and the events it publishes commit in one PostgreSQL transaction: command functions
call ``Outbox.add`` with the session of their unit of work. The relay is the only writer to
Kafka. It claims unpublished rows (``FOR UPDATE``, see below) in id order, publishes them
with an idempotent producer, waits for the broker's acknowledgement of every one, and only
then marks them published in the same transaction that claimed them. A crash between the ack
and the commit republishes the rows: consumers are idempotent, so that is harmless.

One batch may be in flight while the next is claimed and sent: waiting for a batch's acks
took about two thirds of the relay's time, with nothing else to do. The batches commit in
claim order (each waits for the one before it), and a batch whose acks fail fails the one
behind it: both are rolled back and sent again in id order. Within a partition the idempotent
producer keeps the two batches' records in send order, as it does within one batch.

An insert trigger sends ``NOTIFY accord_outbox`` so the relay wakes at once instead of
polling; a slow fallback poll covers notifications lost while its connection was down.
With traces on, each row's publish is a span continuing the trace its event carries.
Only one relay per database publishes at a time (a session advisory lock, held by the
listening connection: it is released when its holder stops or dies, and a standby replica
takes it within ``fallback_poll_seconds``). Two relays claiming rows side by side could
reorder one aggregate's events, and a lock is released the moment its connection drops,
maybe while the old holder's batch is still open on another connection: so the claim waits
for rows another relay holds (``FOR UPDATE``, not ``SKIP LOCKED``) and reads them again once
that batch committed, which keeps publication in id order whoever claims.
On ``stop`` (SIGTERM) the relay finishes the batch it is publishing, then releases the lock.
"""

import asyncio
import contextlib
import functools
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Insert,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    insert,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import failpoints, metrics, tracing
from shared.backoff import Backoff
from shared.bounded import finish_quietly
from shared.db import insert_many, is_any_of_parameter
from shared.events import KAFKA_HEADERS, EventContract, envelope
from shared.kafka_access import KafkaAccess
from shared.prepared import Prepared, Row

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "accord_outbox"
# Any fixed number works: each service has its own database, so locks never collide.
RELAY_LOCK_KEY = 7_320_001
# Keys to partitions, for the producer and for the relay's own batches (``_send_all``).
PARTITIONER = DefaultPartitioner()


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


# Run by each service's first migration, after the table exists.
NOTIFY_TRIGGER_DDL = (
    f"""
    CREATE OR REPLACE FUNCTION accord_outbox_notify() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION accord_outbox_notify()
    """,
)


@dataclass(frozen=True)
class Outbox:
    """Where a service stages the events it publishes: its outbox table, its topic, its source,
    and the contract field whose value keys every event (so that one aggregate's events share
    a partition and keep their order). Command functions call ``add`` with the session of their
    unit of work; the relay publishes what committed."""

    table: Table
    topic: str
    source: str
    key: str

    async def add(self, session: AsyncSession, event: EventContract, *, subject: str) -> uuid.UUID:
        """Stage one event inside the caller's transaction; return its id."""
        row = self.row(event, subject)
        await _insert_into(self.table).execute(session, row)
        return row["event_id"]

    def staging(self) -> Insert:
        """The INSERT that stages one event, its values the parameters ``row`` gives: for a
        hot command that writes its event in the statement of its own writes (a CTE), one
        round trip instead of two."""
        return _staging_insert(self.table)

    async def add_many(
        self, session: AsyncSession, events: Sequence[tuple[EventContract, str]]
    ) -> None:
        """Stage many (event, subject) pairs in a few statements (bulk imports)."""
        await insert_many(
            session, self.table, [self.row(event, subject) for event, subject in events]
        )

    def row(self, event: EventContract, subject: str) -> dict[str, Any]:
        """The outbox row of ``event``, as the parameters of ``staging``'s INSERT."""
        key = getattr(event, self.key, None)
        if key is None:
            raise TypeError(f"{type(event).__name__} has no {self.key!r} to key it by")
        envelope_ = envelope(event, source=self.source, subject=subject, partitionkey=str(key))
        return {
            "event_id": uuid.UUID(envelope_.id),
            "topic": self.topic,
            "key": str(key),
            "event_type": envelope_.type,
            "payload": envelope_.to_bytes(),
        }


# The columns ``Outbox._row`` gives a staged event (the others are the table's own).
_STAGED = ("event_id", "topic", "key", "event_type", "payload")


def _staging_insert(table: Table) -> Insert:
    """The outbox's INSERT of one row, its values by name as parameters (``Outbox.row``)."""
    return insert(table).values({name: bindparam(name) for name in _STAGED})


@functools.cache
def _insert_into(table: Table) -> Prepared:
    """The outbox's INSERT, run with each row as its parameters: built anew with the row's
    values, the statement cost more to build (about 0.1 ms here) than the event's envelope
    and its JSON."""
    return Prepared(_staging_insert(table))


def make_producer(kafka: KafkaAccess, **overrides: object) -> AIOKafkaProducer:
    """A producer that does not lose acknowledged data: acks from all replicas, idempotent."""
    options: dict[str, object] = {
        **kafka.client_options(),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "request_timeout_ms": 15_000,
        "retry_backoff_ms": 200,
        "partitioner": PARTITIONER,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


@dataclass
class RelayState:
    """What health checks and tests read about a relay."""

    kafka_connected: bool = False
    is_leader: bool = False
    published_total: int = 0
    last_error: str | None = None
    wakeups: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class _Batch:
    """A claimed batch whose records the producer has: its row ids, and its task, which ends
    when the rows are marked published (or raises, and then they were not)."""

    ids: list[int]
    published: "asyncio.Task[None]"


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        listen_dsn: str,
        kafka: KafkaAccess,
        listen_connect_args: Mapping[str, Any] | None = None,
        batch_size: int = 500,
        send_timeout: float = 20.0,
        fallback_poll_seconds: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._listen_dsn = listen_dsn
        self._kafka = kafka
        # TLS to PostgreSQL (shared/config.py): asyncpg's arguments for the LISTEN connection.
        self._listen_connect_args = dict(listen_connect_args or {})
        self._batch_size = batch_size
        self._send_timeout = send_timeout
        self._fallback_poll = fallback_poll_seconds
        self._producer: AIOKafkaProducer | None = None
        self._listener: asyncpg.Connection | None = None
        self._stopping = False
        # The tasks of the batches in flight (``_publish``): at most two.
        self._batches: set[asyncio.Task[None]] = set()
        self.state = RelayState()
        # Every batch claims and marks its rows: built once, sent to asyncpg.
        self._claim = Prepared(
            table.select()
            .with_only_columns(
                table.c.id, table.c.topic, table.c.key, table.c.event_type, table.c.payload
            )
            # Locked by our own batch in flight: waiting for them would wait for ever.
            .where(table.c.published_at.is_(None), ~is_any_of_parameter(table.c.id, "in_flight"))
            .order_by(table.c.id)
            .limit(batch_size)
            .with_for_update()  # waits for an old leader's batch: see the module
        )
        self._mark_published = Prepared(
            table.update()
            .where(is_any_of_parameter(table.c.id, "ids"))
            .values(published_at=func.now())
        )

    def stop(self) -> None:
        """Finish the batches in hand, release leadership and return from ``run``."""
        self._stopping = True
        self.state.wakeups.set()

    async def run(self) -> None:
        """Publish until stopped or cancelled, riding out broker and database outages."""
        backoff = Backoff(0.2, 5.0)
        in_flight: _Batch | None = None
        try:
            while not self._stopping:
                try:
                    # The producer first: a standby replica is ready to publish the moment it
                    # takes the lock (and /readyz sees its broker meanwhile).
                    producer = await self._ensure_producer()
                    if not await self._ensure_leadership():
                        continue  # asked to stop while waiting for the lock
                    batch = await self._start_batch(producer, in_flight)
                    if in_flight is not None:
                        await in_flight.published  # never more than one batch behind
                    in_flight = batch
                    backoff.reset()
                    if len(batch.ids) < self._batch_size:
                        in_flight = None
                        await batch.published
                        await self._wait_for_work()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # every failure is retried; the rows stay unpublished
                    in_flight = None
                    await self._abandon_batches()
                    self.state.last_error = f"{type(exc).__name__}: {exc}"
                    metrics.RELAY_ERRORS.inc()
                    log.warning("outbox_relay_error", error=self.state.last_error)
                    await self._reset_after(exc)
                    await backoff.sleep()
            if in_flight is not None:  # stopping: the batch in hand goes out first
                with contextlib.suppress(Exception):
                    await in_flight.published
        finally:
            await self._abandon_batches()
            await self._close()

    async def _ensure_leadership(self) -> bool:
        """Hold the lock (True), waiting for it as a standby; False if asked to stop first."""
        if self._listener is not None and not self._listener.is_closed():
            return True
        self.state.is_leader = False
        metrics.RELAY_LEADER.set(0)  # until the lock is taken again, maybe by another replica
        connection = await asyncpg.connect(
            self._listen_dsn, timeout=10, **self._listen_connect_args
        )
        try:
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                self.state.wakeups.clear()
                if self._stopping:
                    await connection.close()
                    return False
                await self._wait_for_work()  # a stop wakes it; otherwise a poll interval
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except BaseException:
            await connection.close()
            raise
        self._listener = connection
        self.state.is_leader = True
        metrics.RELAY_LEADER.set(1)
        log.info("outbox_relay_leader")
        # Rows may have been written while nobody listened.
        self.state.wakeups.set()
        return True

    def _on_notify(self, *_: object) -> None:
        self.state.wakeups.set()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self._kafka)
            try:
                await asyncio.wait_for(producer.start(), self._send_timeout)
            except BaseException:
                await self._stop_producer(producer)
                raise
            self._producer = producer
            self.state.kafka_connected = True
            log.info("outbox_relay_connected")
        return self._producer

    async def _start_batch(self, producer: AIOKafkaProducer, previous: _Batch | None) -> _Batch:
        """Claim the next rows, except those of ``previous`` (still in flight), and hand them
        to the producer; return them once handed over, while a task waits for their acks and
        marks them published (``_publish``)."""
        self.state.wakeups.clear()
        claimed: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._publish(producer, previous, claimed))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        either: list[asyncio.Future[Any]] = [claimed, task]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not claimed.done():
            task.result()  # it failed before it had claimed: raise its error
        return _Batch(claimed.result(), task)

    async def _publish(
        self,
        producer: AIOKafkaProducer,
        previous: _Batch | None,
        claimed: "asyncio.Future[list[int]]",
    ) -> None:
        """One batch: claim, send (then tell ``claimed`` the ids), wait for every ack, wait for
        ``previous`` to commit, mark the rows published and commit."""
        async with self._sessions() as session, session.begin():
            in_flight = previous.ids if previous is not None else []
            rows = await self._claim.fetch(session, {"in_flight": in_flight})
            if not rows:
                claimed.set_result([])
                return
            sent = time.perf_counter()
            spans = _publish_spans(rows) if tracing.enabled() else []
            try:
                acks = await asyncio.wait_for(self._send_all(producer, rows), self._send_timeout)
                claimed.set_result([r.id for r in rows])
                # The batch counts as published when every ack is in.
                await asyncio.wait_for(asyncio.gather(*acks), self._send_timeout)
            except BaseException as exc:
                for span in spans:
                    span.record_exception(exc)
                    tracing.fail(span, type(exc).__name__)
                raise
            finally:
                for span in spans:  # each ends with its batch's last acknowledgement
                    span.end()
            metrics.RELAY_ACK.observe(time.perf_counter() - sent)
            failpoints.reach(failpoints.OUTBOX_AFTER_ACK)
            if previous is not None:
                await previous.published  # in claim order; its failure is this batch's too
            await self._mark_published.execute(session, {"ids": [r.id for r in rows]})
        self.state.published_total += len(rows)
        metrics.RELAY_PUBLISHED.inc(len(rows))
        metrics.RELAY_BATCH.observe(len(rows))

    async def _abandon_batches(self) -> None:
        """Cancel the batches in flight: their transactions roll back and their rows are
        claimed again (those the broker did take are sent twice, which consumers absorb)."""
        batches = list(self._batches)
        for task in batches:
            task.cancel()
        await asyncio.gather(*batches, return_exceptions=True)

    @staticmethod
    async def _send_all(
        producer: AIOKafkaProducer, rows: Sequence[Row]
    ) -> "list[asyncio.Future[object]]":
        """Append the rows to record batches, one open batch per partition in row order, and
        submit each when full; return the acknowledgements to wait for. A ``send()`` per row
        made a future and hashed its key per row, most of the time a batch took. Keys go to
        the partitions ``send()`` would choose (the producer's own partitioner), so a key's
        events stay on one partition whichever relay version published them."""
        acks = []
        open_batches: dict[tuple[str, int], BatchBuilder] = {}
        partitions: dict[str, list[int]] = {}  # of each topic, read once per batch
        partition_of: dict[tuple[str, str], int] = {}
        for row in rows:
            where = (row.topic, row.key)
            if where not in partition_of:
                if row.topic not in partitions:
                    partitions[row.topic] = sorted(await producer.partitions_for(row.topic))
                # The partition ``send()`` would choose for the key.
                partition_of[where] = int(
                    PARTITIONER(row.key.encode(), partitions[row.topic], partitions[row.topic])
                )
            tp = (row.topic, partition_of[where])
            batch = open_batches.get(tp) or producer.create_batch()
            if _append(batch, row) is None:  # full: submit it, start the next
                acks.append(await _submit(producer, batch, tp))
                batch = producer.create_batch()
                _append(batch, row)  # an empty batch takes any one record
            open_batches[tp] = batch
        for tp, batch in open_batches.items():
            acks.append(await _submit(producer, batch, tp))
        return acks

    async def _stop_producer(self, producer: AIOKafkaProducer) -> None:
        # stop() can hang while the broker is away; never let it block the relay.
        await finish_quietly(producer.stop(), self._send_timeout, what="relay producer stop")

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.state.wakeups.wait(), self._fallback_poll)

    async def _reset_after(self, exc: Exception) -> None:
        """Drop the connection that failed so the next round makes a fresh one."""
        if isinstance(exc, (KafkaError, TimeoutError)) and self._producer is not None:
            producer, self._producer = self._producer, None
            self.state.kafka_connected = False
            await self._stop_producer(producer)
        if isinstance(exc, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            await self._close_listener()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        self.state.is_leader = False
        metrics.RELAY_LEADER.set(0)
        if listener is not None and not listener.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.close(), 5)
            listener.terminate()

    async def _close(self) -> None:
        await self._close_listener()
        if self._producer is not None:
            await self._stop_producer(self._producer)
            self._producer = None


def _append(batch: BatchBuilder, row: Row) -> object:
    return batch.append(
        timestamp=None, key=row.key.encode(), value=row.payload, headers=list(KAFKA_HEADERS)
    )


async def _submit(
    producer: AIOKafkaProducer, batch: BatchBuilder, tp: tuple[str, int]
) -> "asyncio.Future[object]":
    batch.close()  # nothing else may join it: its records are exactly these rows
    return await producer.send_batch(batch, tp[0], partition=tp[1])


def _publish_spans(rows: Sequence[Row]) -> list[tracing.Span]:
    """One producer span per row, child of the trace context its event carries (read back
    from the staged envelope: the request that staged it finished long ago)."""
    spans = []
    for row in rows:
        carried = _envelope_fields(row.payload)
        span = tracing.start_span(
            f"{row.topic} publish",
            kind=tracing.SpanKind.PRODUCER,
            parent={k: carried.get(k) for k in ("traceparent", "tracestate")},
        )
        if span is not None:
            span.set_attributes(
                {
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": row.topic,
                    "messaging.message.id": str(carried.get("id", "")),
                    "cloudevents.event_type": row.event_type,
                }
            )
            spans.append(span)
    return spans


def _envelope_fields(payload: bytes) -> dict[str, Any]:
    """A staged envelope's top-level fields, for its span; none from a payload that is not a
    JSON object. Tracing must not stop a row from being published: the relay raised on such a
    row (one staged by hand, by an older version or by a test) and retried it for ever."""
    try:
        fields = json.loads(payload)
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return fields if isinstance(fields, dict) else {}
