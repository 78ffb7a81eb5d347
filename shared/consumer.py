"""The idempotent consumer runner: one consumer group per service.

For each message: validate the envelope, its provenance (its ``source`` must be the owner of
the topic it came from, and its type one that owner publishes: the broker lets only the
owner's principal write a topic, but an operator's principal or a bug could write anything)
and its contract, or park it on the dead-letter topic with the reason; then, in ONE database
transaction, record the event id in the service's ``processed_events`` table and apply the
handler's effect. A redelivered event finds its id already there and is skipped. The events
of one partition's fetched batch share that transaction (replayed one by one if any of them
fails). Offsets are committed only after the database commit, in batches (every
``commit_interval`` seconds and when partitions are revoked): a crash in between re-reads a
few messages, which the dedupe table absorbs.

Failures: a handler error is retried a bounded number of times, then the message goes to
the dead-letter topic and the consumer goes on; a handler raising ``InvalidEvent`` sends it
there at once. A message the dead-letter topic refuses (e.g. too large once the ``dlt.*``
headers are added) is recorded in the service's ``dead_letters`` table instead
(``shared/dead_letters.py``): no single message can stop the consumer. Transient database
errors are not the message's fault and are retried without limit, never dead-lettered: a lost
connection or a server going away (retried until the database is back; liveness stays good
meanwhile, since a restart cannot bring a database back) and a transaction that lost a race
(a deadlock, a serialization failure, a lock not available), which succeeds when tried again.
Broker trouble recreates the consumer, and a dead-letter send that fails while the broker
does not answer is waited out the same way.

A watchdog beside the consume loop asks the broker itself, every few seconds, whether it
answers and how far its end offsets are ahead of what the runner finished; it recreates the
consumer when that lag stays without progress, or when the member has no partitions (or no
known position) long after the broker answers again. It trusts nothing the Kafka client
believes: a client whose fetcher or group membership stopped after a broker restart keeps a
stale high-water mark (its lag reads 0) and can wait for an assignment without a timeout
inside ``getmany``, so a check inside the consume loop would never run or never see it. Nor
does the watchdog wait on the client: a position the client does not know counts as an
unknown lag after ``POSITION_WAIT``.

Replicas share the group's partitions. On ``stop`` (SIGTERM) the consumer finishes the batch
in hand, commits its offsets and leaves the group (``AIOKafkaConsumer.stop`` sends LeaveGroup),
so the others take its partitions at once rather than after its session timeout.
"""

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError, KafkaError
from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningInsert

from shared import failpoints, tracing
from shared.backoff import Backoff
from shared.bounded import cancel_all, finish_quietly
from shared.db import arrays_side_by_side, is_database_unavailable, is_lost_race, sqlstate
from shared.dead_letters import dead_letter_row, publish, refused_by_broker
from shared.events import CloudEvent, EventContract, InvalidEvent, parse_data
from shared.kafka_access import KafkaAccess
from shared.logging import bound
from shared.metrics import ConsumerMetrics
from shared.outbox import make_producer
from shared.prepared import Prepared
from shared.subscriptions import Batched, Handler
from shared.topics import OWNER_SOURCES, topic_of

log = structlog.get_logger(__name__)

# How often a consumer asks the broker whether it answers, and how long it waits for that.
PROBE_INTERVAL = 2.0
PROBE_TIMEOUT = 3.0
# How long a lag measurement waits for the client to know a partition's position. aiokafka's
# ``position()`` waits without limit while the member has no valid position (it waits for the
# group and the committed offsets), and a client whose group membership stalled after a broker
# restart never gets one: the consume loop and the watchdog both hung on it, so the watchdog
# read a broker that answered as one that did not and never recreated the consumer.
POSITION_WAIT = 0.5
# How long the broker may hold a fetch that finds no new data. aiokafka sends one fetch at a
# time to a broker, for every partition of it that has nothing buffered; once a partition's
# records have waited in the buffer longer than its prefetch backoff (0.1 s: a batch that takes
# longer to apply), it fetches the other, quiet partitions without it. That fetch waits at the
# broker for new data on them, and the busy partition cannot be fetched until it returns: with
# Kafka's default (0.5 s) a consumer whose batches took over 0.1 s stayed in a regime of 0.6 s
# waits and ever larger batches at half the load it kept up with otherwise. The cost of a
# shorter hold is an empty fetch this often per idle consumer.
FETCH_MAX_WAIT_MS = 100
# The group forgets a killed member after this long; a join waits at most for that (plus the
# others' rejoin), which is why lag may stay unknown this much longer than the stall limit.
SESSION_TIMEOUT = 10.0
# How long the runner waits for a Kafka client to stop, and for its consume loop and watchdog
# to end once cancelled, before leaving them behind (see shared/bounded.py).
STOP_WAIT = 10.0
# A dead-letter send that fails while the broker answers is tried this many times in all
# before the message is recorded in the database instead (see shared/dead_letters.py).
DEAD_LETTER_ATTEMPTS = 3
DEAD_LETTER_SEND_TIMEOUT = 30.0
# The pause after the first failed try; it doubles after each.
DEAD_LETTER_RETRY_PAUSE = 1.0


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("event_id", String(200), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def mark_processed_statement(table: Table) -> ReturningInsert[tuple[str]]:
    """Record events as processed, returning the ids not recorded before: one statement
    whatever the number of events (as arrays), where a VALUES list per event made a new
    statement for each batch size, compiled and prepared again on each connection."""
    given = arrays_side_by_side({"ids": String(), "types": String()})
    return (
        pg_insert(table)
        .from_select(["event_id", "event_type"], select(given.c.ids, given.c.types))
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )


def check_provenance(
    topic: str, event: CloudEvent, owners: Mapping[str, str] = OWNER_SOURCES
) -> None:
    """Refuse (``InvalidEvent``) an event that the owner of ``topic`` did not emit: its source
    must be the topic's owner, and its type one that source publishes. Checked before any
    handler sees the event, since handlers trust the type to say whose fact it is."""
    owner = owners.get(topic)
    if event.source != owner:
        raise InvalidEvent(
            f"source {event.source!r} is not the owner of {topic} (owner: {owner!r}): refused"
        )
    try:
        publisher = OWNER_SOURCES[topic_of(event.type)]
    except ValueError:
        return  # an unknown type: refused by its contract lookup, with that reason
    if publisher != event.source:
        raise InvalidEvent(f"{event.type} is not an event of {event.source!r}: refused")


@dataclass(frozen=True)
class _Work:
    record: ConsumerRecord
    event: CloudEvent
    data: EventContract
    handler: Handler


class ConsumerStalled(Exception):
    """Lag is waiting but nothing was processed for too long, or the member cannot tell its
    lag long after the broker answers: recreate the consumer."""


@dataclass
class ConsumerState:
    """What health checks and tests read about a consumer."""

    group_id: str
    stall_seconds: float
    connected: bool = False
    # Whether the broker answered the last probe: a frozen broker keeps its connections open
    # and a consumer reading from it just sees no new messages, so only asking tells.
    broker_answering: bool = False
    # None until the group has assigned this member its partitions and the lag was measured
    # on them: a member that is still (re)joining, e.g. after a restart while the group
    # waits out the dead member's session, has not caught up, whatever 0 would suggest.
    lag: int | None = None
    # Since when (monotonic) the lag measured from the broker's end offsets has been unknown
    # (no partitions assigned, or no position on one of them) while the broker answers; None
    # while it is known. Restarted when the broker comes back.
    lag_unknown_since: float | None = None
    processed_total: int = 0
    duplicates_skipped: int = 0
    dead_lettered_total: int = 0
    # True while the consumer waits for its database to come back.
    waiting_for_database: bool = False
    # True while the consume loop applies a fetched batch: a batch can take long on a busy
    # machine, and recreating the consumer would throw that work away (a handler that hangs
    # shows as ``stalled`` in /healthz instead).
    applying: bool = False
    # Messages the dead-letter topic refused, recorded in the service's dead_letters table:
    # each is an alert for an operator.
    dead_letters_recorded: int = 0
    last_progress_at: float = field(default_factory=time.monotonic)
    # When the broker last answered a probe (monotonic; 0: never).
    broker_answered_at: float = 0.0
    last_error: str | None = None

    def touch(self) -> None:
        self.last_progress_at = time.monotonic()

    @property
    def stalled(self) -> bool:
        """Lag, and no progress for ``stall_seconds`` although the broker answers and the
        database is there: something in this process is stuck, and a restart would help. An
        unreachable broker or database is not that (the consumer is not ready, not dead); the
        stall clock starts again when they are back (see ``touch``).

        "The broker answers" means it answered a probe after the stall limit ran out, not just
        that the last probe before then succeeded: a broker that has just died is only noticed
        by the next probe (up to ``PROBE_INTERVAL + PROBE_TIMEOUT`` later), and a stall limit
        shorter than that must not call the consumer dead meanwhile."""
        if not self.lag or not self.broker_answering or self.waiting_for_database:
            return False
        return self.broker_answered_at - self.last_progress_at > self.stall_seconds

    def stuck_reason(self, broker_lag: int | None) -> str | None:
        """Why the consumer should be recreated, given the lag just measured from the broker's
        end offsets (None: unknown), or None while all is well. The broker answered just now.
        Only a consumer waiting for records can be stuck this way."""
        if self.waiting_for_database or self.applying:
            return None
        now = self.broker_answered_at
        if broker_lag is None:
            since = self.lag_unknown_since
            if since is not None and now - since > self.stall_seconds + SESSION_TIMEOUT:
                return f"lag unknown (no partitions or no position) for {now - since:.0f}s"
            return None
        if broker_lag and now - self.last_progress_at > self.stall_seconds:
            return f"lag {broker_lag} and no progress for {now - self.last_progress_at:.0f}s"
        return None


class ConsumerRunner:
    def __init__(
        self,
        *,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, Handler],
        sessions: async_sessionmaker[AsyncSession],
        processed_table: Table,
        dead_letters_table: Table,
        kafka: KafkaAccess,
        max_attempts: int = 5,
        commit_interval: float = 0.5,
        stall_seconds: float = 60.0,
        owners: Mapping[str, str] = OWNER_SOURCES,
    ) -> None:
        self._group_id = group_id
        # The CloudEvents source of each topic's one writer.
        self._owners = owners
        self._topics = topics
        self._handlers = handlers
        self._sessions = sessions
        self._processed = processed_table
        # Every transaction of the consumer starts with it: built once, sent to asyncpg.
        self._record_processed = Prepared(mark_processed_statement(processed_table))
        self._dead_letters = dead_letters_table
        self._kafka = kafka
        self._max_attempts = max_attempts
        self._commit_interval = commit_interval
        self._pending: dict[TopicPartition, int] = {}
        # The live Kafka consumer, for the lag measured when metrics are scraped.
        self._consumer: AIOKafkaConsumer | None = None
        # Of each partition in the batch being processed, the first offset not processed yet:
        # the consumer's position is already past what it handed over (see partition_lag).
        self._unprocessed_from: dict[TopicPartition, int] = {}
        self.metrics = ConsumerMetrics(group_id, topics)
        # Set by the rebalance listener once the group has given this member its partitions.
        self._assigned = False
        self._stopping = False
        self.state = ConsumerState(group_id=group_id, stall_seconds=stall_seconds)

    def stop(self) -> None:
        """Finish the batch in hand, commit, leave the group and return from ``run``."""
        self._stopping = True

    async def run(self) -> None:
        """Consume until stopped or cancelled, recreating the Kafka clients after any broker
        trouble."""
        backoff = Backoff(0.5, 5.0)
        while not self._stopping:
            consumer = self._make_consumer()
            dead_letters = make_producer(self._kafka)
            try:
                await asyncio.wait_for(consumer.start(), 30)
                await asyncio.wait_for(dead_letters.start(), 30)
                self.state.connected = True
                self._consumer = consumer
                self.state.touch()
                log.info("consumer_started", group=self._group_id, topics=self._topics)
                backoff.reset()
                await _first_to_end(self._consume(consumer, dead_letters), self._watch(consumer))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "consumer_restarting", group=self._group_id, error=self.state.last_error
                )
                await backoff.sleep()
            finally:
                self.state.connected = self.state.broker_answering = False
                self._consumer = None
                self._unprocessed_from.clear()
                self.state.lag = None
                self.state.lag_unknown_since = None
                self._assigned = False
                self._pending.clear()
                for client in (consumer, dead_letters):
                    await finish_quietly(client.stop(), STOP_WAIT, what="kafka client stop")

    async def _watch(self, consumer: AIOKafkaConsumer) -> None:
        """Every few seconds ask the broker for its metadata (readiness follows the answer)
        and for the end offsets of the assigned partitions; raise ``ConsumerStalled`` when
        ``ConsumerState.stuck_reason`` finds the consumer stuck (see the module's docstring)."""
        self.state.lag_unknown_since = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.state.broker_answering:
                    log.warning("consumer_broker_not_answering", error=f"{type(exc).__name__}")
                self.state.broker_answering = False
            else:
                # The broker answered; a lag the client cannot measure now is unknown, which
                # recreates the consumer if it lasts (``stuck_reason``), not a silent broker.
                try:
                    broker_lag = await asyncio.wait_for(self._broker_lag(), PROBE_TIMEOUT)
                except (TimeoutError, KafkaError):
                    broker_lag = None
                now = time.monotonic()
                if not self.state.broker_answering:
                    # Back: the clocks start again now, not when the broker went away.
                    self.state.touch()
                    if self.state.lag_unknown_since is not None:
                        self.state.lag_unknown_since = now
                self.state.broker_answering = True
                self.state.broker_answered_at = now
                if broker_lag is None:
                    if self.state.lag_unknown_since is None:
                        self.state.lag_unknown_since = now
                else:
                    self.state.lag_unknown_since = None
                    if broker_lag == 0:
                        self.state.touch()  # caught up: nothing waits
                reason = self.state.stuck_reason(broker_lag)
                if reason is not None:
                    raise ConsumerStalled(reason)
            await asyncio.sleep(PROBE_INTERVAL)

    async def _broker_lag(self) -> int | None:
        """The lag over the assigned partitions against the broker's end offsets (asked now);
        None while no partition is assigned or a position is not known yet."""
        consumer = self._consumer
        if consumer is None or not self._assigned:
            return None
        assigned = consumer.assignment()
        for tp in assigned:
            if tp not in self._unprocessed_from and consumer.highwater(tp) is None:
                return None  # not fetched once yet: its position may still be resolving
        lags = (await self.partition_lag()).values()
        return None if None in lags else sum(lag for lag in lags if lag is not None)

    def _make_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **self._kafka.client_options(),
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            # Dynamic membership: a killed member's partitions wait this long for the group to
            # give up on it. (Static membership would avoid the wait, but with aiokafka 0.14 a
            # restarted member once ended up with no partitions in the fault tests.)
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        consumer.subscribe(self._topics, listener=_CommitOnRevoke(self, consumer))
        return consumer

    async def _consume(self, consumer: AIOKafkaConsumer, dead_letters: AIOKafkaProducer) -> None:
        last_commit = time.monotonic()
        while not self._stopping:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            self._unprocessed_from = {tp: records[0].offset for tp, records in batch.items()}
            self.state.applying = True
            try:
                for tp, records in batch.items():
                    started = time.perf_counter()
                    if await self._process_batch(records, dead_letters):
                        failpoints.reach(failpoints.CONSUMER_AFTER_DB_COMMIT)
                    self.metrics.batch_took(tp.topic, tp.partition, time.perf_counter() - started)
                    self._unprocessed_from.pop(tp, None)
                    self._pending[tp] = records[-1].offset + 1
                    self.state.touch()
            finally:
                self.state.applying = False
            if self._pending and time.monotonic() - last_commit >= self._commit_interval:
                await self.commit(consumer)
                last_commit = time.monotonic()
            await self._measure_lag(consumer)
        await self.commit(consumer)  # stopping: what was applied, before leaving the group
        log.info("consumer_stopping", group=self._group_id)

    async def commit(
        self, consumer: AIOKafkaConsumer, only: set[TopicPartition] | None = None
    ) -> None:
        # A partition the group took away (a rebalance while its batch was being applied) is
        # not ours to commit: its new owner reads it again from the last commit and skips what
        # was applied here. Committing it would raise and restart this consumer, which would
        # rebalance the group again.
        assigned = consumer.assignment()
        for tp in [tp for tp in self._pending if tp not in assigned]:
            del self._pending[tp]
        offsets = {tp: o for tp, o in self._pending.items() if only is None or tp in only}
        if not offsets:
            return
        await consumer.commit(offsets)
        for tp in offsets:
            self._pending.pop(tp, None)

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Lag over the assigned partitions from the client's high-water marks, fresh after
        each fetch (what /healthz shows between two watchdog rounds); unknown (None) until the
        broker has told the high-water mark of each of them. Never taken as progress: a client
        that stopped fetching keeps a stale mark (see ``_watch``)."""
        if not self._assigned:
            return
        # Every mark first, with no await between: a rebalance may take partitions away while
        # positions are awaited, and the client's ``highwater`` asserts on a partition it no
        # longer holds (that restarted the consumer mid-rebalance, found with replicas).
        highwaters = {tp: consumer.highwater(tp) for tp in consumer.assignment()}
        if None in highwaters.values():
            self.state.lag = None
            return
        positions = await asyncio.gather(*(_known_position(consumer, tp) for tp in highwaters))
        lag = 0
        for highwater, position in zip(highwaters.values(), positions, strict=True):
            if highwater is None or position is None:  # unknown, or revoked meanwhile
                self.state.lag = None
                return
            lag += max(0, highwater - position)
        self.state.lag = lag

    async def partition_lag(self) -> dict[tuple[str, int], int | None]:
        """Per assigned partition, the broker's end offset (asked now, one request) minus the
        offset after the last event processed: an event handed over but still being processed
        counts as lag, so a handler that hangs shows. None for a partition whose position the
        client does not know (see ``POSITION_WAIT``); empty while no partition is assigned."""
        consumer = self._consumer
        if consumer is None or not self._assigned:
            return {}
        assigned = list(consumer.assignment())
        ends = await consumer.end_offsets(assigned) if assigned else {}
        done: dict[TopicPartition, int | None] = dict(self._unprocessed_from)
        asked = [tp for tp in assigned if tp not in done]
        # All at once: an unknown position costs one wait, not one per partition.
        positions = await asyncio.gather(*(_known_position(consumer, tp) for tp in asked))
        done.update(zip(asked, positions, strict=True))
        return {
            (tp.topic, tp.partition): None if done[tp] is None else max(0, ends[tp] - done[tp])
            for tp in assigned
        }

    async def _process_batch(
        self, records: list[ConsumerRecord], dead_letters: AIOKafkaProducer
    ) -> bool:
        """Apply one partition's batch in a single transaction: one commit for many events is
        what lets the consumer keep up with the broker. If anything in it fails, the batch is
        rolled back and replayed one event at a time, so that only the culprit is retried and,
        if it must be, dead-lettered. Returns whether it committed events to the database."""
        work: list[_Work] = []
        for record in records:
            try:
                event = CloudEvent.from_bytes(record.value)
                check_provenance(record.topic, event, self._owners)
                data = parse_data(event)
            except InvalidEvent as exc:
                await self._dead_letter(record, dead_letters, str(exc), "invalid_event")
                continue
            handler = self._handlers.get(event.type)
            if handler is not None:  # otherwise a valid event this service has no interest in
                work.append(_Work(record, event, data, handler))
            else:
                self.metrics.count(record.topic, record.partition, "ignored")
        if not work:
            return False
        if len(work) > 1:
            try:
                applied, skipped = await self._apply_together(work)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("consumer_batch_replayed_one_by_one", size=len(work), error=str(exc)[:300])
            else:
                self.state.processed_total += applied
                self.state.duplicates_skipped += skipped
                first = work[0].record
                self.metrics.count(first.topic, first.partition, "applied", applied)
                self.metrics.count(first.topic, first.partition, "duplicate", skipped)
                return True
        for item in work:
            with (
                bound(event_id=item.event.id, event_type=item.event.type),
                _process_span(item.record, item.event),
            ):
                await self._apply(item.record, item.event, item.data, item.handler, dead_letters)
        return True

    async def _apply_together(self, work: list["_Work"]) -> tuple[int, int]:
        async with self._sessions() as session, session.begin():
            inserted = await self._record_processed.fetch(
                session, {"ids": [w.event.id for w in work], "types": [w.event.type for w in work]}
            )
            fresh = {row.event_id for row in inserted}
            todo = []
            for item in work:
                if item.event.id in fresh:
                    fresh.discard(item.event.id)  # the same event twice in one batch applies once
                    todo.append(item)
            for run in _runs(todo):
                first = run[0]
                with (
                    bound(event_id=first.event.id, event_type=first.event.type, events=len(run)),
                    _process_span(first.record, first.event, len(run)),
                ):
                    if isinstance(first.handler, Batched):
                        await first.handler.handle_all(session, [(w.event, w.data) for w in run])
                    else:
                        await first.handler(session, first.event, first.data)
        return len(todo), len(work) - len(todo)

    async def _apply(
        self,
        record: ConsumerRecord,
        event: CloudEvent,
        data: EventContract,
        handler: Handler,
        dead_letters: AIOKafkaProducer,
    ) -> None:
        # Only the handler's own failures count against the message; transient database
        # errors are waited out, however many, and never lead to the dead-letter topic.
        attempt = 0
        waits = Backoff(0.1, 5.0)
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    first_time = await self._mark_processed(session, event)
                    if first_time:
                        await handler(session, event, data)
                if first_time:
                    self.state.processed_total += 1
                else:
                    self.state.duplicates_skipped += 1
                outcome = "applied" if first_time else "duplicate"
                self.metrics.count(record.topic, record.partition, outcome)
                self._database_back()
                return
            except asyncio.CancelledError:
                raise
            except InvalidEvent as exc:
                # The handler found the event can never apply (e.g. it names an unknown
                # aggregate): retrying cannot help.
                await self._dead_letter(record, dead_letters, str(exc), "rejected")
                return
            except Exception as exc:
                if is_lost_race(exc):
                    log.info("consumer_transaction_retried", sqlstate=sqlstate(exc))
                    await waits.sleep()
                    continue
                if is_database_unavailable(exc):
                    # Not the message's fault: wait for the database, however long it takes.
                    if not self.state.waiting_for_database:
                        log.warning("consumer_database_unavailable", error=str(exc)[:300])
                    self.state.waiting_for_database = True
                    await waits.sleep()
                    continue
                self._database_back()
                attempt += 1
                if attempt >= self._max_attempts:
                    reason = f"handler failed {attempt} times: {type(exc).__name__}: {exc}"
                    await self._dead_letter(record, dead_letters, reason, "handler_failed")
                    return
                log.warning("consumer_handler_retry", attempt=attempt, error=str(exc)[:300])
                await asyncio.sleep(0.1 * 2**attempt)

    def _database_back(self) -> None:
        if self.state.waiting_for_database:
            log.info("consumer_database_back")
            self.state.waiting_for_database = False
            self.state.touch()  # the stall clock starts again now

    async def _mark_processed(self, session: AsyncSession, event: CloudEvent) -> bool:
        inserted = await self._record_processed.fetchrow(
            session, {"ids": [event.id], "types": [event.type]}
        )
        return inserted is not None

    async def _dead_letter(
        self, record: ConsumerRecord, dead_letters: AIOKafkaProducer, reason: str, kind: str
    ) -> None:
        """Park the message on its dead-letter topic, awaited before the offset moves on (a
        parked message is never lost). If the broker refuses it, or sending keeps failing
        while the broker answers, record it in the database instead and go on: one message
        must never stop the consumer. If the broker does not answer, raise: the runner
        recreates its clients and waits for the broker, and the message is read again.
        ``kind`` classes the reason for the metrics (``shared.metrics.DEAD_LETTER_REASONS``)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await publish(
                    dead_letters,
                    record,
                    group_id=self._group_id,
                    reason=reason,
                    timeout=DEAD_LETTER_SEND_TIMEOUT,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if refused_by_broker(exc) or (
                    attempt >= DEAD_LETTER_ATTEMPTS and self.state.broker_answering
                ):
                    await self._record_dead_letter(record, reason, exc)
                    self.metrics.dead_lettered(record.topic, record.partition, kind, "table")
                    return
                if not self.state.broker_answering:
                    raise
                log.warning(
                    "dead_letter_send_retry", attempt=attempt, error=f"{type(exc).__name__}: {exc}"
                )
                await asyncio.sleep(DEAD_LETTER_RETRY_PAUSE * 2 ** (attempt - 1))
                continue
            self.state.dead_lettered_total += 1
            self.metrics.dead_lettered(record.topic, record.partition, kind, "topic")
            log.warning(
                "event_dead_lettered", topic=record.topic, offset=record.offset, reason=reason
            )
            return

    async def _record_dead_letter(
        self, record: ConsumerRecord, reason: str, publish_error: Exception
    ) -> None:
        row = dead_letter_row(
            record, group_id=self._group_id, reason=reason, publish_error=publish_error
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._sessions() as session, session.begin():
                    await session.execute(
                        pg_insert(self._dead_letters).values(**row).on_conflict_do_nothing()
                    )
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not (is_database_unavailable(exc) or is_lost_race(exc)):
                    raise
                log.warning("consumer_database_unavailable", error=str(exc)[:300])
                await asyncio.sleep(min(0.2 * attempt, 5.0))
        self.state.dead_letters_recorded += 1
        # The alert: the message is neither processed nor on the dead-letter topic.
        log.error(
            "event_dead_letter_recorded_in_database",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            size=row["value_size"],
            reason=reason,
            publish_error=row["publish_error"],
        )


async def _known_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The partition's position if the client knows it within ``POSITION_WAIT``; None if not,
    or if the partition was revoked meanwhile (a rebalance is under way)."""
    try:
        position: int = await asyncio.wait_for(consumer.position(tp), POSITION_WAIT)
    except (TimeoutError, IllegalStateError):
        return None
    return position


async def _first_to_end(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run the coroutines together until the first one ends; re-raise what ended it and
    cancel the others (the consume loop and its watchdog: either may end the pair)."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        # Bounded: the one still running may be inside the Kafka client (see shared/bounded.py).
        await cancel_all(tasks, STOP_WAIT, what="consume loop or watchdog")


def _runs(work: list[_Work]) -> list[list[_Work]]:
    """``work`` cut into what each handler call takes, in order: a run of consecutive events of
    one ``Batched`` handler, or a single event."""
    runs: list[list[_Work]] = []
    for item in work:
        last = runs[-1][-1] if runs else None
        if isinstance(item.handler, Batched) and last is not None and last.handler is item.handler:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _process_span(
    record: ConsumerRecord, event: CloudEvent, count: int = 1
) -> AbstractContextManager[tracing.Span | None]:
    """The consumer span of one event, child of the trace context the event carries: what its
    handler stages or records continues the same trace. A run of ``count`` events handled at
    once (``Batched``) has one span, in the first event's trace."""
    attributes = None
    if tracing.enabled():
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.message.id": event.id,
            "cloudevents.event_type": event.type,
        }
        if count > 1:
            attributes["messaging.batch.message_count"] = count
    return tracing.span(
        f"{record.topic} process",
        kind=tracing.SpanKind.CONSUMER,
        parent={"traceparent": event.traceparent, "tracestate": event.tracestate},
        attributes=attributes,
    )


class _CommitOnRevoke(ConsumerRebalanceListener):
    """Commit what was processed before partitions move to another member."""

    def __init__(self, runner: ConsumerRunner, consumer: AIOKafkaConsumer) -> None:
        self._runner = runner
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._runner._assigned = False
        self._runner.state.lag = None
        with contextlib.suppress(KafkaError):
            await self._runner.commit(self._consumer, only=set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._runner._assigned = True
        self._runner.state.touch()
