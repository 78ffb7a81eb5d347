"""The webhook dispatcher: a background job that sends due deliveries and records each attempt.

Claiming: due rows are taken with ``FOR NO KEY UPDATE SKIP LOCKED`` (several instances never
send the same row at once; see shared/db.py for the lock mode) and their ``next_attempt_at`` is
pushed one lease ahead in the same statement. A take-in in this process may run the same
claim in its own transaction and hand what it claimed over at its commit (``claim_in``,
handoff.py): no wake-up and no claim of the dispatcher's own on a webhook's path.
A dispatcher that dies mid-flight leaves its rows to come due again when the lease runs out:
they are sent again with the same ``webhook-id``, which the receiver can dedupe.

Order: one endpoint gets the deliveries of one subject (e.g. one action line) one at a time,
in the order the events were taken in (delivery ids grow in consumption order, and Kafka keeps
one plan's events in order). A delivery waits while an earlier one of its endpoint and subject
is still pending (in flight, or waiting for its retry). Without this, a backlog (after a broker
outage, say) went out up to ``dispatcher_concurrency`` at a time and a receiver saw a line's
version 6 before its version 4. A delivery that fails for good stops holding the later ones.

An outage costs about a probe interval, not a step of the schedule. With the schedule 0, 5 s,
5 min, a receiver down for 30 s had its deliveries waiting five minutes, and every later
change of the same subject waited behind them. So: while an endpoint cannot be reached
(``AttemptResult.unreachable``) and its oldest pending delivery waits on the schedule, that
delivery is sent early every ``probe_interval``, more rarely as the outage goes on (a probe;
never sooner than a Retry-After asks; ``next_probe`` in ``domain.py``, stored by
``endpoint_health``). A failed probe costs the delivery nothing: it keeps its place in the
schedule. When the endpoint answers again (a probe's success or any other), what waited for
it to be reachable becomes due at once (``release.py``), and goes out in the order above. A probe
is an ordinary claim in all else (lease, same ``webhook-id``); sending the oldest pending
delivery early cannot break the order, since nothing of its endpoint is older.

Sending and recording are pipelined: up to ``dispatcher_concurrency`` requests are in flight,
and finished attempts are recorded in batches (one transaction for many), so the database is
not the bottleneck of the HTTP work.

Slots: one receiver must not hold every slot. An attempt has a total deadline
(``delivery_timeout``, counted from before its claim: connecting, sending, the answer's head
and the prefix of its body that is read); httpx's own timeouts apply to each read, so a
receiver trickling its answer a byte a second would otherwise hold the slot for ever. The
lease is the deadline plus ``LEASE_MARGIN``, so it never runs out under a live attempt (which
would send the same ``webhook-id`` a second time while the first is still open). And the
claim leaves alone the due deliveries of an endpoint, or of a delegation, that already has
``max_in_flight_per_endpoint`` (``max_in_flight_per_delegation``) attempts in flight: a slow
endpoint waits for its own slots while the others' deliveries keep flowing. The caps count
the leases in the database, so they hold across processes up to two claims racing; a claim
leaves out its own dispatcher's attempts that have ended and wait to be recorded (they hold
no slot of the receiver). Counted, they kept an endpoint at its cap until the recorder's
commit: a busy endpoint's slots stood empty for a record and a claim per round, and the
dispatcher sent at 0.78 of a plain httpx loop with a third of its CPU unused. For the same
reason an attempt that ends where its endpoint or delegation had all its slots taken by this
dispatcher wakes the claim at once: a due delivery may be waiting for that slot, and the
recorder's notification comes a commit later (other processes' slots still free up on it).

Replicas: dispatchers in several processes share the work through the claim (rows another
has locked are skipped, leased rows are not due) and keep the order above, which counts any
pending earlier delivery whoever holds it. Stopping (``stop``, on SIGTERM): no more claims,
the attempts in flight finish and are recorded, and whatever this dispatcher still holds is
handed back (due now, unleased) for another to send.

Answers: only the first ``response_prefix_bytes`` of a body are read (kept in the attempt's
record), then the connection is closed; a huge answer costs neither memory nor time.
"""

import asyncio
import contextlib
import contextvars
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import httpx
import structlog
from sqlalchemy import (
    Table,
    bindparam,
    event,
    null,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from services.notifications import metrics, orm, wakeup
from services.notifications.bulk_insert import insert_rows
from services.notifications.config import NotificationsSettings
from services.notifications.webhooks import handoff, ssrf
from services.notifications.webhooks.domain import (
    AttemptResult,
    DeliveryStatus,
    RetryDecision,
    after_attempt,
    after_probe,
    parse_retry_after,
)
from services.notifications.webhooks.endpoint_health import record_endpoint_health
from services.notifications.webhooks.keyring import SecretNotDecryptable
from services.notifications.webhooks.payloads import webhook_body
from services.notifications.webhooks.release import release_after_answer
from services.notifications.webhooks.secrets_at_rest import active_secrets
from services.notifications.webhooks.signing import signature_headers
from services.notifications.webhooks.transport import WebhookTransport
from shared import failpoints, tracing
from shared.backoff import Backoff
from shared.db import NO_KEY_UPDATE, arrays_side_by_side, is_any_of_parameter
from shared.prepared import Prepared

log = structlog.get_logger(__name__)

USER_AGENT = "Accord-Webhooks/1.0"

_K = TypeVar("_K")

# A pending delivery ``d`` that no earlier pending delivery of the same endpoint and subject
# holds back. Served by ix_deliveries_pending_by_subject: one index probe per candidate, which
# keeps the claim cheap with thousands pending even before the table's statistics catch up.
# A scalar subquery, not NOT EXISTS: the planner turns NOT EXISTS into an anti-join, and with
# statistics taken while the table was small (or a generic plan of the cached statement) it
# picked one that read every pending row of the endpoint for each candidate. The claim then
# grew with the square of the backlog: 2 to 3 s per claim with 2,000 pending, a fifth of the
# dispatcher's rate. A subquery with LIMIT cannot be made a join: it stays a probe per
# candidate, by this index whenever the statistics know the table (docs/performance.md).
_NOT_HELD_BACK = """
    (
        SELECT p.id FROM deliveries p
        WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject
            AND p.status = 'pending' AND p.id < d.id
        LIMIT 1
    ) IS NULL
"""


def _count_out(counter: Counter[_K], key: _K) -> None:
    """One less of ``key``, forgotten at none (endpoints come and go)."""
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def _in_flight(column: str) -> str:
    """Per value of ``column`` (endpoint or delegation), how many deliveries have an attempt in
    flight (claimed, lease running, not recorded yet, not among ``:finished``, the attempts the
    claiming dispatcher has seen end), for the values that have any. Read once
    per claim from the partial index on leased rows (migration 0008), which holds only what
    is in flight: counting per candidate instead read every attempt in flight for each due
    delivery, 50 ms per claim with 2,000 due at an endpoint with no slot left."""
    return f"""
        SELECT {column} AS key, count(*) AS n FROM deliveries
        WHERE status = 'pending' AND leased_by IS NOT NULL AND next_attempt_at > now()
            AND id <> ALL(:finished)
        GROUP BY {column}
    """


# What an attempt needs besides the claimed delivery (the endpoint's URL and secrets, the
# event), read by the claiming statement itself from its ``claimed`` rows: two statements and
# their ORM objects fewer per claim, on the path of every webhook's latency.
_JOBS_OF_CLAIMED = """
    SELECT claimed.*, e.url, e.secret_key_id, e.secret_ciphertext, e.previous_secret_key_id,
        e.previous_secret_ciphertext, e.previous_secret_until, r.event_id, r.event_type,
        r.occurred_at, r.data, r.schema_version, r.context, r.trace_context
    FROM claimed
    JOIN endpoints e ON e.id = claimed.endpoint_id
    JOIN received_events r ON r.id = claimed.event_row_id
"""


_DELIVERIES = cast(Table, orm.Delivery.__table__)
# Of the deliveries a batch attempted, those still leased in this dispatcher's name (``owner``)
# and pending, locked to record their outcome.
_STILL_OURS = Prepared(
    select(_DELIVERIES.c.id)
    .where(
        is_any_of_parameter(_DELIVERIES.c.id, "ids"),
        _DELIVERIES.c.leased_by == bindparam("owner"),
        _DELIVERIES.c.status == DeliveryStatus.PENDING.value,
    )
    .order_by(_DELIVERIES.c.id)
    .with_for_update(**NO_KEY_UPDATE)
)
# Each attempted delivery's outcome (its lease ends), from one array per column: one statement
# for the batch, where the ORM's update by primary key ran one per delivery.
_OUTCOME_COLUMNS = (
    "id",
    "status",
    "next_attempt_at",
    "not_before",
    "last_status_code",
    "last_error",
    "succeeded_at",
)
_OUTCOMES = arrays_side_by_side(
    {name: _DELIVERIES.c[name].type for name in _OUTCOME_COLUMNS}, "outcome"
)
_RECORD_OUTCOMES = Prepared(
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == _OUTCOMES.c.id)
    .values(leased_by=null(), **{name: _OUTCOMES.c[name] for name in _OUTCOME_COLUMNS[1:]})
)


def _was_at_its_cap(column: str, cap: str) -> str:
    """Whether a value of ``column`` (endpoint or delegation) among the ``recorded`` attempts
    had ``:cap`` attempts in flight with them: those in flight as a claim counts them, plus
    these (no longer leased once their outcomes are written)."""
    return f"""
        EXISTS (
            SELECT 1 FROM (SELECT {column} AS key, count(*) AS n FROM recorded GROUP BY 1) r
            LEFT JOIN ({_in_flight(column)}) busy ON busy.key = r.key
            WHERE r.n + coalesce(busy.n, 0) >= :{cap}
        )
    """


# Whether recording these attempts (``:recorded``, their outcomes written) may let a claim take
# a due delivery it could not take before, so that DELIVERIES must be notified: a finished
# delivery held back a later one of its endpoint and subject (see _NOT_HELD_BACK), or an
# attempt's endpoint or delegation had every slot taken (its cap counts what is in flight,
# and these attempts were until this transaction). Otherwise nobody waits for the news, and
# the notification only woke every dispatcher for a claim that found nothing: one
# transaction of three per webhook when changes come one by one.
_RELEASES = Prepared(
    text(
        f"""
        WITH recorded AS (
            SELECT id, status, endpoint_id, delegation_code, subject FROM deliveries
            WHERE id = ANY(CAST(:recorded AS bigint[]))
        )
        SELECT EXISTS (
            SELECT 1 FROM recorded f
            WHERE f.status <> 'pending' AND EXISTS (
                SELECT 1 FROM deliveries p
                WHERE p.endpoint_id = f.endpoint_id AND p.subject = f.subject
                    AND p.status = 'pending' AND p.id > f.id
            )
        )
        OR {_was_at_its_cap("endpoint_id", "per_endpoint")}
        OR {_was_at_its_cap("delegation_code", "per_delegation")}
        AS releases
        """
    )
)


def _claiming(sql: str) -> Prepared:
    """A claim (its last CTE, ``claimed``, updates and returns the deliveries) that returns
    each claimed delivery with its job's data. It starts its transaction: sent to asyncpg as
    the hot statements are, it is built once and its rows are asyncpg's (the JSON columns
    decoded by the codecs SQLAlchemy's dialect sets on each connection)."""
    return Prepared(text(sql + _JOBS_OF_CLAIMED))


# Candidates are taken only where there is room, so that a capped endpoint's backlog does not
# fill the LIMIT; then one claim takes no more than the room left per endpoint and delegation.
_CLAIM = _claiming(
    f"""
    WITH endpoint_busy AS ({_in_flight("endpoint_id")}
    ), delegation_busy AS ({_in_flight("delegation_code")}
    ), candidate AS (
        SELECT d.id, d.endpoint_id, d.delegation_code, d.next_attempt_at
        FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled
            AND d.endpoint_id NOT IN (SELECT key FROM endpoint_busy WHERE n >= :per_endpoint)
            AND d.delegation_code NOT IN (
                SELECT key FROM delegation_busy WHERE n >= :per_delegation
            )
            AND {_NOT_HELD_BACK}
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR NO KEY UPDATE OF d SKIP LOCKED
    ), ranked AS (
        SELECT c.id,
            row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id)
                + coalesce(eb.n, 0) AS endpoint_slot,
            row_number() OVER (PARTITION BY c.delegation_code ORDER BY c.next_attempt_at, c.id)
                + coalesce(db.n, 0) AS delegation_slot
        FROM candidate c
        LEFT JOIN endpoint_busy eb ON eb.key = c.endpoint_id
        LEFT JOIN delegation_busy db ON db.key = c.delegation_code
    ), due AS (
        SELECT id FROM ranked
        WHERE endpoint_slot <= :per_endpoint AND delegation_slot <= :per_delegation
    ), claimed AS (
        -- The lease from the statement's own time, not its transaction's start: a take-in
        -- claims in a transaction that began earlier (handoff.py), and the attempt's deadline
        -- is counted from just before this statement.
        UPDATE deliveries
        SET next_attempt_at = clock_timestamp() + make_interval(secs => :lease),
            leased_by = :owner, tries = tries + 1, attempts_total = attempts_total + 1
        FROM due WHERE deliveries.id = due.id
        RETURNING deliveries.id, deliveries.webhook_id, deliveries.tries,
            deliveries.endpoint_id, deliveries.event_row_id, deliveries.delegation_code,
            NULL::timestamptz AS resume_at, (SELECT count(*) FROM candidate) AS candidates
    )
    """
)

# Probes: of each unreachable endpoint whose probe time has come (``probe_at`` is set only
# then), the oldest pending delivery if
# it waits on the schedule (one due now is sent anyway, one in flight probes already). Leased
# like any claim, but ``tries`` is left alone and its due time kept in ``resume_at`` for the
# recorder (``after_probe``). It reads the pending rows of failing endpoints whose probe time
# has come, and runs once per poll interval at most.
_CLAIM_PROBES = _claiming(
    """
    WITH probe AS (
        SELECT d.id, d.next_attempt_at AS resume_at
        FROM endpoints e
        CROSS JOIN LATERAL (
            SELECT p.id FROM deliveries p
            WHERE p.endpoint_id = e.id AND p.status = 'pending'
            ORDER BY p.id LIMIT 1
        ) oldest
        JOIN deliveries d ON d.id = oldest.id
        WHERE e.enabled AND e.failing_since IS NOT NULL
            AND e.probe_at <= now()
            AND d.status = 'pending' AND d.leased_by IS NULL AND d.next_attempt_at > now()
        LIMIT :limit
        FOR NO KEY UPDATE OF d SKIP LOCKED
    ), claimed AS (
        UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => :lease),
            leased_by = :owner, attempts_total = attempts_total + 1
        FROM probe WHERE deliveries.id = probe.id
        RETURNING deliveries.id, deliveries.webhook_id, deliveries.tries,
            deliveries.endpoint_id, deliveries.event_row_id, deliveries.delegation_code,
            probe.resume_at
    )
    """
)


# What this process's previous incarnation had in flight when it died: due again now.
_TAKE_BACK = text(
    """
    UPDATE deliveries SET next_attempt_at = now(), leased_by = NULL
    WHERE status = 'pending' AND leased_by = :owner AND next_attempt_at > now()
    RETURNING id
    """
)

# When a pending delivery next comes due (a retry's time, a lease's end). Only times still to
# come: what is due now and was not claimed waits for something that notifies DELIVERIES (an
# earlier delivery of its subject or an attempt holding a slot recorded, an endpoint enabled),
# or is another replica's. Counting it made the dispatcher claim again at once, without end,
# for a disabled endpoint's due deliveries; asking which of them the claim could take (the
# ordering check and the caps per row) read the whole backlog: 57 ms per look with 2,000
# pending at the endpoint's cap, a third of the dispatcher's time in the benchmark. This
# reads the first entry of ix_deliveries_due past now.
_NEXT_DUE = Prepared(
    text(
        """
        SELECT extract(epoch FROM min(next_attempt_at) - now()) AS seconds
        FROM deliveries WHERE status = 'pending' AND next_attempt_at > now()
        """
    )
)

# Between the lease and the attempt's deadline: time to record the attempt before the
# delivery could be claimed again.
LEASE_MARGIN = 30.0


@dataclass(frozen=True)
class Job:
    delivery_id: int
    webhook_id: str
    tries: int
    endpoint_id: object
    delegation_code: str
    url: str
    secrets: tuple[str, ...]
    body: str
    # Why the endpoint's secrets could not be decrypted (then nothing is sent, see _claim).
    unsigned_because: str | None = None
    # A probe's: when the delivery was due before it was sent early (None: not a probe).
    resume_at: datetime | None = None
    # The trace of the event's intake, which the attempt continues (None: not traced).
    trace_context: dict[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    job: Job
    attempted_at: datetime
    latency_ms: float
    result: AttemptResult
    error: str | None
    # The first bytes of the receiver's answer (see _read_prefix).
    response_body: str | None = None


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: NotificationsSettings,
        *,
        allow_loopback: bool,
        pulse: wakeup.Pulse,
        instance_id: str | None = None,
    ) -> None:
        """``instance_id``: this process's stable name (``ACCORD_INSTANCE_ID``); without one,
        leases carry a name of this run only and a dead run's leases just expire."""
        self._sessions = sessions
        self._instance_id = instance_id
        self._owner = instance_id or f"run-{uuid.uuid4()}"
        self._settings = settings
        self._allow_loopback = allow_loopback
        self._pulse = pulse
        self._lease = settings.delivery_timeout + LEASE_MARGIN
        self._caps = {
            "per_endpoint": settings.max_in_flight_per_endpoint,
            "per_delegation": settings.max_in_flight_per_delegation,
        }
        self._outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self._in_flight: set[asyncio.Task[None]] = set()
        # Slots promised to take-ins' claims whose transactions have not ended (handoff.py).
        self._reserved = 0
        # Made by ``run``: the attempts' client, and the context they run in.
        self._client: httpx.AsyncClient | None = None
        self._context = contextvars.Context()
        # Deliveries whose attempt has ended here and waits for the recorder: no longer in
        # flight, whatever their lease in the database says (see "Slots" above).
        self._finished: set[int] = set()
        # This dispatcher's attempts in flight per endpoint and per delegation (see "Slots").
        self._per_endpoint: Counter[object] = Counter()
        self._per_delegation: Counter[str] = Counter()
        # Made by ``run`` (its client's); it pins each endpoint's checked address.
        self._transport: WebhookTransport | None = None
        # Probes are looked for once per poll interval, not on every wake-up.
        self._next_probe_look = 0.0
        self._stopping = False

    def stop(self) -> None:
        """Claim nothing more; ``run`` returns once the attempts in flight are recorded and
        what is left is handed back."""
        self._stopping = True
        self._pulse.fire()

    async def run(self) -> None:
        limits = httpx.Limits(
            max_connections=self._settings.dispatcher_concurrency,
            max_keepalive_connections=self._settings.dispatcher_concurrency,
        )
        self._transport = WebhookTransport(limits)
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=self._settings.delivery_timeout,
            transport=self._transport,
            # Bodies are read raw and only in part (see _read_prefix): ask for no compression.
            headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
        ) as client:
            tracing.instrument_http_client(client)
            self._client = client
            # The attempts run in this context, also those a take-in's commit starts (whose
            # own context holds the consumer's log fields and span).
            self._context = contextvars.copy_context()
            recorder = asyncio.create_task(self._record_forever())
            try:
                await self._take_back_what_a_previous_run_left()
                with handoff.running_here(self):
                    await self._dispatch_forever()
                # Stopping: the attempts in flight end (each within its deadline) and are
                # recorded; then anything still leased in this name goes back.
                if self._in_flight:
                    await asyncio.wait(set(self._in_flight))
                await self._outcomes.join()
                await self._hand_back()
            finally:
                recorder.cancel()
                for task in self._in_flight:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(recorder, *self._in_flight, return_exceptions=True)

    async def _take_back_what_a_previous_run_left(self) -> None:
        """A process with a stable name that finds leases in that name holds them from a
        previous run that died (two live processes never share a name): sent again now,
        with the same webhook-ids, rather than when the leases run out."""
        if self._instance_id is None:
            return
        backoff = self._database_backoff()
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    taken = len((await session.execute(_TAKE_BACK, {"owner": self._owner})).all())
                break
            except Exception as exc:  # the database is away: try again shortly
                log.warning("dispatcher_take_back_failed", error=f"{type(exc).__name__}: {exc}")
                await backoff.sleep()
        if taken:
            log.info("dispatcher_took_back_leases", deliveries=taken)

    async def _hand_back(self) -> None:
        async with self._sessions() as session, session.begin():
            handed = len((await session.execute(_TAKE_BACK, {"owner": self._owner})).all())
            if handed:
                await wakeup.notify(session, wakeup.DELIVERIES)
        log.info("dispatcher_stopped", handed_back=handed)

    def _free_slots(self) -> int:
        return self._settings.dispatcher_concurrency - len(self._in_flight) - self._reserved

    async def _dispatch_forever(self) -> None:
        backoff = self._database_backoff()
        while not self._stopping:
            ticket = self._pulse.ticket()
            free = self._free_slots()
            jobs: list[Job] = []
            more_due = False
            wait = self._settings.poll_interval
            if free > 0:
                # Taken before the claim, which starts the lease: the attempt ends before it.
                deadline = asyncio.get_running_loop().time() + self._settings.delivery_timeout
                # Promised while the claim runs, so that a take-in's claim meanwhile (handoff.py)
                # cannot take them too.
                self._reserved += free
                try:
                    jobs, more_due, wait = await self._claim(free)
                    backoff.reset()
                except Exception as exc:  # the database is away: try again shortly
                    log.warning("dispatcher_claim_failed", error=f"{type(exc).__name__}: {exc}")
                    await backoff.sleep()
                    continue
                finally:
                    self._reserved -= free
            self._start(jobs, deadline)
            if free > 0 and more_due:
                continue
            if free <= 0 and self._in_flight:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            # (Every slot may be promised to take-ins' claims: a rollback wakes this one, a
            # commit starts their attempts, and the wait below is at most the poll interval.)
            if self._stopping:
                break
            await wakeup.Pulse.wait(ticket, wait)

    def _start(self, jobs: list[Job], deadline: float) -> None:
        assert self._client is not None  # attempts start inside ``run``
        for job in jobs:
            self._per_endpoint[job.endpoint_id] += 1
            self._per_delegation[job.delegation_code] += 1
            task = asyncio.create_task(
                self._send(self._client, job, deadline), context=self._context.copy()
            )
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def claim_in(self, session: AsyncSession, most: int) -> set[str]:
        """Claim up to ``most`` due deliveries in the caller's transaction, and send them once
        it commits (handoff.py); return their webhook ids. Nothing when this dispatcher is
        stopping or has no free slot."""
        limit = min(most, self._free_slots())
        if limit <= 0 or self._stopping or self._client is None:
            return set()
        claim = _ClaimInTransaction(self, session.sync_session, limit)
        try:
            claimed = await _CLAIM.fetch(session, self._claim_parameters(limit))
        except BaseException:
            claim.settle()
            raise
        claim.rows = claimed
        return {row.webhook_id for row in claimed}

    def _hand_over(self, claimed: list[Any], claimed_at: float) -> None:
        """Start a committed take-in's claim. Its leases began after ``claimed_at``: the
        attempts' deadline from now stays inside them if the transaction committed within
        ``LEASE_MARGIN``; otherwise (or when stopping) they are left to their leases, which run
        out and a claim takes them again (or the stop hands them back)."""
        now = asyncio.get_running_loop().time()
        if self._stopping or now - claimed_at > LEASE_MARGIN:
            log.info("dispatcher_handoff_left_to_leases", deliveries=len(claimed))
            return
        # The jobs (secrets, bodies) are made after the commit: not in the take-in's
        # transaction, and not at all for a claim rolled back.
        self._start(self._jobs(claimed), now + self._settings.delivery_timeout)

    def _database_backoff(self) -> Backoff:
        """The pause between tries while the database is away: jittered, and never longer than
        the poll interval, so that the dispatcher is back within one poll of the database."""
        return Backoff(self._settings.poll_interval, self._settings.poll_interval)

    async def _claim(self, limit: int) -> tuple[list[Job], bool, float]:
        """Claim up to ``limit`` attempts; return their jobs, whether more may be due right
        now (the claim was full, or its window of candidates was: the caps per endpoint and
        delegation trim a window, and due deliveries of other endpoints may wait behind it),
        and otherwise how long to wait for a wake-up before claiming again."""
        params = self._claim_parameters(limit)
        async with self._sessions() as session, session.begin():
            claimed = await _CLAIM.fetch(session, params)
            # A full claim had a full window (the window is at least what it claimed).
            more_due = bool(claimed) and claimed[0].candidates == limit
            if len(claimed) < limit and time.monotonic() >= self._next_probe_look:
                self._next_probe_look = time.monotonic() + self._settings.poll_interval
                params["limit"] = limit - len(claimed)
                claimed += await _CLAIM_PROBES.fetch(session, params)
            # In the claim's transaction rather than one of its own: one transaction fewer
            # each time the dispatcher wakes, twice per webhook when changes come one by one
            # (the claim that sends it, and the one that the recorder's notification wakes).
            wait = 0.0 if more_due else await self._seconds_until_next_due(session)
        return self._jobs(claimed), more_due, wait

    def _claim_parameters(self, limit: int) -> dict[str, object]:
        # The probes' statement takes no caps: it claims one delivery per failing endpoint.
        return {
            "limit": limit,
            "lease": self._lease,
            "owner": self._owner,
            "finished": list(self._finished),
            **self._caps,
        }

    def _jobs(self, claimed: list[Any]) -> list[Job]:
        """The claimed rows as attempts to make: the endpoint's secrets and the body."""
        now = datetime.now(UTC)
        # The endpoint's part of each row, once per endpoint (not attached to the session).
        endpoints = {
            c.endpoint_id: orm.Endpoint(
                id=c.endpoint_id,
                secret_key_id=c.secret_key_id,
                secret_ciphertext=c.secret_ciphertext,
                previous_secret_key_id=c.previous_secret_key_id,
                previous_secret_ciphertext=c.previous_secret_ciphertext,
                previous_secret_until=c.previous_secret_until,
            )
            for c in claimed
        }
        signing = {
            endpoint_id: self._signing_secrets(endpoint, now)
            for endpoint_id, endpoint in endpoints.items()
        }
        return [
            Job(
                delivery_id=c.id,
                webhook_id=c.webhook_id,
                tries=c.tries,
                endpoint_id=c.endpoint_id,
                delegation_code=c.delegation_code,
                url=c.url,
                secrets=signing[c.endpoint_id][0],
                unsigned_because=signing[c.endpoint_id][1],
                body=webhook_body(
                    event_id=c.event_id,
                    event_type=c.event_type,
                    occurred_at=c.occurred_at,
                    delegation=c.delegation_code,
                    data=c.data,
                    context=c.context,
                    schema_version=c.schema_version,
                ),
                resume_at=c.resume_at,
                trace_context=c.trace_context,
            )
            for c in claimed
        ]

    def _signing_secrets(
        self, endpoint: orm.Endpoint, now: datetime
    ) -> tuple[tuple[str, ...], str | None]:
        """The endpoint's active secrets, or none and why: a secret the keyring cannot
        decrypt (a key removed too early, or the wrong key under its id) fails the attempt
        like an unreachable receiver, so the delivery waits on its schedule until the
        operator gives the key back; it never stops the dispatcher."""
        try:
            return active_secrets(endpoint, self._settings.keyring, now), None
        except SecretNotDecryptable as exc:
            log.error(
                "webhook_secret_not_decryptable", endpoint_id=str(endpoint.id), reason=str(exc)
            )
            return (), "the endpoint's signing secret cannot be decrypted (see the service's log)"

    async def _seconds_until_next_due(self, session: AsyncSession) -> float:
        # Only times still to come (see _NEXT_DUE): what is due now and was not claimed is woken
        # for by DELIVERIES, which recording an attempt notifies.
        row = await _NEXT_DUE.fetchrow(session)
        if row is None or row["seconds"] is None:
            return self._settings.poll_interval
        return max(0.0, min(float(row["seconds"]), self._settings.poll_interval))

    async def _send(self, client: httpx.AsyncClient, job: Job, deadline: float) -> None:
        # A span per attempt continuing the trace of the event's intake; httpx's client span
        # under it sends its context to the receiver in ``traceparent`` (the header set here
        # passes an event's context on when this service does not trace).
        with tracing.span(
            "webhook attempt",
            kind=tracing.SpanKind.INTERNAL,
            parent=job.trace_context,
            attributes={"http.request.method": "POST", "webhook.delivery_id": job.delivery_id}
            if tracing.enabled()
            else None,
        ) as span:
            outcome, seconds = await self._attempt(client, job, deadline)
            if span is not None:
                if outcome.result.status_code is not None:
                    span.set_attribute("http.response.status_code", outcome.result.status_code)
                if outcome.error is not None:
                    tracing.fail(span, outcome.error)
        metrics.count_attempt(outcome.result, probe=job.resume_at is not None, seconds=seconds)
        self._finished.add(job.delivery_id)
        self._outcomes.put_nowait(outcome)
        self._free_slot(job)

    def _free_slot(self, job: Job) -> None:
        """Count the ended attempt out; wake the claim if it ends a cap (see "Slots")."""
        capped = (
            self._per_endpoint[job.endpoint_id] >= self._caps["per_endpoint"]
            or self._per_delegation[job.delegation_code] >= self._caps["per_delegation"]
        )
        _count_out(self._per_endpoint, job.endpoint_id)
        _count_out(self._per_delegation, job.delegation_code)
        if capped:
            self._pulse.fire()

    async def _attempt(
        self, client: httpx.AsyncClient, job: Job, deadline: float
    ) -> tuple["Outcome", float]:
        attempted_at = datetime.now(UTC)
        started = time.perf_counter()
        status_code: int | None = None
        retry_after: float | None = None
        error: str | None = None
        body: str | None = None
        try:
            if job.unsigned_because is not None:
                raise _NotSent(job.unsigned_because)
            async with asyncio.timeout_at(deadline):
                target = await ssrf.check_url(
                    job.url,
                    allow_loopback=self._allow_loopback,
                    allow_http=self._settings.allow_http_webhooks,
                )
                headers = signature_headers(job.webhook_id, job.body, job.secrets, attempted_at)
                headers["content-type"] = "application/json"
                headers.update(tracing.current_context())
                assert self._transport is not None  # attempts run inside ``run``
                request = _pinned_request(self._transport, target, headers, job.body.encode())
                response = await client.send(request, stream=True)
                try:
                    body = await _read_prefix(response, self._settings.response_prefix_bytes)
                finally:
                    await response.aclose()  # closes the connection if the body was not all read
            failpoints.reach(failpoints.DISPATCHER_AFTER_RESPONSE)
            status_code = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"), attempted_at)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except TimeoutError:
            error = f"no complete answer within the attempt's {self._settings.delivery_timeout:g} s"
        except ssrf.UnsafeURL as exc:
            # The delivery log is the delegation's to read: it gets the refusal, the log why.
            log.info("webhook_target_refused", delivery_id=job.delivery_id, reason=exc.detail)
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        except _NotSent as exc:
            error = str(exc)
        seconds = time.perf_counter() - started
        outcome = Outcome(
            job=job,
            attempted_at=attempted_at,
            latency_ms=round(seconds * 1000, 2),
            result=AttemptResult(status_code=status_code, retry_after=retry_after),
            error=error,
            response_body=body,
        )
        return outcome, seconds

    async def _record_forever(self) -> None:
        while True:
            batch = [await self._outcomes.get()]
            while not self._outcomes.empty() and len(batch) < 500:
                batch.append(self._outcomes.get_nowait())
            backoff = self._database_backoff()
            while True:
                try:
                    async with self._sessions() as session, session.begin():
                        finished = await self._record(session, batch)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Unrecorded attempts come due again when their lease ends; keep trying
                    # meanwhile so that a short database outage costs no resend.
                    log.warning("dispatcher_record_failed", error=f"{type(exc).__name__}: {exc}")
                    await backoff.sleep()
            self._finished.difference_update(o.job.delivery_id for o in batch)
            # Counted once committed: a batch recorded again after a failure counts once.
            for status in finished:
                metrics.WEBHOOK_DELIVERIES_FINISHED.labels(status).inc()
            for _ in batch:
                self._outcomes.task_done()

    async def _record(self, session: AsyncSession, batch: list[Outcome]) -> list[str]:
        """Record a batch of attempts; return the statuses of the deliveries it finished."""
        now = datetime.now(UTC)
        attempts = [
            {
                "delivery_id": o.job.delivery_id,
                "attempted_at": o.attempted_at,
                "status_code": o.result.status_code,
                "latency_ms": o.latency_ms,
                "error": o.error,
                "response_body": o.response_body,
            }
            for o in batch
        ]
        await insert_rows(session, orm.DeliveryAttempt, attempts)
        updates = []
        for o in batch:
            decision = self._decide(o, now)
            updates.append(
                {
                    "id": o.job.delivery_id,
                    "status": decision.status.value,
                    "next_attempt_at": decision.next_attempt_at,
                    "not_before": decision.not_before,
                    "last_status_code": o.result.status_code,
                    "last_error": o.error,
                    "succeeded_at": now if o.result.succeeded else None,
                }
            )
        # Only deliveries still leased in this name: recorded late (the database away longer
        # than the lease's margin), another instance may have sent one again and recorded
        # that, and this record must not undo it (a late "retry" would send it once more).
        # The attempts themselves are kept above either way: they happened.
        still_ours = await _STILL_OURS.fetch(
            session, {"ids": [u["id"] for u in updates], "owner": self._owner}
        )
        ours = {row["id"] for row in still_ours}
        if len(ours) < len(updates):
            late = [u["id"] for u in updates if u["id"] not in ours]
            log.warning("webhook_attempts_recorded_late", delivery_ids=late)
            updates = [u for u in updates if u["id"] in ours]
        if updates:
            await _RECORD_OUTCOMES.execute(
                session, {name: [u[name] for u in updates] for name in _OUTCOME_COLUMNS}
            )
            releases = await _RELEASES.fetchrow(
                session,
                {
                    "recorded": [u["id"] for u in updates],
                    "finished": list(self._finished),
                    **self._caps,
                },
            )
            if releases is not None and releases["releases"]:
                await wakeup.notify(session, wakeup.DELIVERIES)
        answered_again = await record_endpoint_health(
            session, self._settings, [(o.job.endpoint_id, o.result) for o in batch], now
        )
        # After the updates above, so that this batch's own failures to an endpoint that
        # answered again are released with the rest.
        released = await release_after_answer(session, answered_again)
        if released:
            log.info("deliveries_released", endpoints=len(answered_again), deliveries=released)
        pending = DeliveryStatus.PENDING.value
        return [str(u["status"]) for u in updates if u["status"] != pending]

    def _decide(self, outcome: Outcome, now: datetime) -> RetryDecision:
        if outcome.job.resume_at is not None:
            return after_probe(
                outcome.result, outcome.job.resume_at, now, self._settings.max_retry_after
            )
        return after_attempt(
            outcome.result,
            outcome.job.tries,
            self._settings.retry_schedule,
            now,
            self._settings.max_retry_after,
        )


class _NotSent(Exception):
    """An attempt given up before anything was sent."""


class _ClaimInTransaction:
    """A take-in's claim (``Dispatcher.claim_in``): the slots it took stay promised to it
    until its transaction ends; its jobs start if that transaction commits."""

    def __init__(self, dispatcher: Dispatcher, session: Session, slots: int) -> None:
        self._dispatcher = dispatcher
        self._slots = slots
        self._transaction = session.get_transaction()
        self._claimed_at = asyncio.get_running_loop().time()
        self._settled = False
        self.rows: list[Any] = []  # the claimed deliveries, as the claim returned them
        dispatcher._reserved += slots
        # Not ``once``: a savepoint's end, or a transaction of another claim, must not use
        # them up (each checks that the transaction is its own).
        event.listen(session, "after_commit", self._committed)
        event.listen(session, "after_transaction_end", self._ended)

    def settle(self) -> bool:
        """Give the promised slots back (once); whether this call did."""
        if self._settled:
            return False
        self._settled = True
        self._dispatcher._reserved -= self._slots
        return True

    def _committed(self, session: Session) -> None:
        if session.get_transaction() is self._transaction and self.settle():
            self._dispatcher._hand_over(self.rows, self._claimed_at)

    def _ended(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction is self._transaction and self.settle():
            # Rolled back, and the claim with it: the slots are free for a claim again.
            self._dispatcher._pulse.fire()


async def _read_prefix(response: httpx.Response, budget: int) -> str:
    """At most ``budget`` bytes of the body, as text for the delivery log. Raw bytes (the
    request asks for no compression), so a small compressed answer cannot inflate either."""
    prefix = bytearray()
    async for chunk in response.aiter_raw():
        prefix += chunk[: budget - len(prefix)]
        if len(prefix) >= budget:
            break
    # PostgreSQL text holds no NUL.
    return prefix.decode(errors="replace").replace("\x00", "\ufffd")


def _pinned_request(
    transport: WebhookTransport, target: ssrf.Target, headers: dict[str, str], body: bytes
) -> httpx.Request:
    """The webhook's request, its host pinned to the address that was checked (see
    transport.py); the URL, the Host header and the name TLS checks stay the endpoint's."""
    url = httpx.URL(target.url)
    transport.pin(url, target.addresses[0])
    return httpx.Request("POST", url, headers=headers, content=body)
