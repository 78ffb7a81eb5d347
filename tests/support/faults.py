"""Fault injection: a stack of the fault tests' own, a steady driver of status changes, and the
oracle that checks what arrived once the system has drained.

The fault tests kill the broker, the database and the services, so they never touch the
session's stack: ``FaultStack`` is a PostgreSQL, a Kafka broker and the three services in a
runtime folder of their own, plus a signature-verifying webhook receiver.

A run: ``Workload.create`` makes a plan with ``lines`` action lines and ``delegations``
delegations, each following the plan through two subscriptions (the plan and its section)
with a webhook endpoint at the receiver. ``Driver`` toggles lines ongoing <-> on_hold at a
steady rate and records every 2xx with the version it made. ``drain`` waits (bounded) until
the outbox is empty, every consumer group has committed the end of every partition it reads
(asked of the broker) and no delivery is pending;
``Oracle.check`` then asserts the guarantees of ``docs/reliability.md``.

``ACCORD_FAULTS_BIG=1`` runs the big version (10,000 changes per scenario).
"""

import asyncio
import contextlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.local.processes import ServiceProcess
from shared.auth import Role
from shared.db import asyncpg_dsn
from shared.kafka_access import KafkaAccess
from shared.topics import MEETINGS_EVENTS, NOTIFICATIONS_EVENTS, PARTITIONS, PLANS_EVENTS
from tests.support.api import add_action_line, add_section, create_plan
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.receiver import Receiver
from tests.support.stack import (
    SERVICE_NAMES,
    Infrastructure,
    Services,
    new_infrastructure,
    token,
)
from tests.support.waiting import eventually

BIG = os.environ.get("ACCORD_FAULTS_BIG") == "1"
# Default: ~20 changes/s for ~12 s over 40 lines. Big: 10,000 changes at ~100/s.
CHANGES = 10_000 if BIG else 240
RATE = 100.0 if BIG else 20.0
LINES = 200 if BIG else 40
WORKERS = 10 if BIG else 4
DRAIN_TIMEOUT = 600.0 if BIG else 120.0
ONLY_STATUS_CHANGES = {"event_types": ["action_line.status_changed"]}


def secretariat() -> dict[str, str]:
    return {"Authorization": f"Bearer {token(Role.SECRETARIAT)}"}


class FaultStack:
    """PostgreSQL, Kafka, the three services and a webhook receiver, for the fault tests only."""

    def __init__(self, infra: Infrastructure, receiver: Receiver) -> None:
        self.infra = infra
        self.services = Services(infra)
        self.receiver = receiver
        # Services whose running process was started with a failpoint armed.
        self.armed: set[str] = set()

    def url(self, service: str) -> str:
        return self.services.url(service)

    def process(self, service: str) -> ServiceProcess:
        return self.services.processes[service]

    def start_services(self, *, wait_healthy: float = 60) -> None:
        """Start every service that is not running (``Services.start_all`` for the first)."""
        if not self.services.processes:
            self.services.start_all()
            return
        for name in SERVICE_NAMES:
            self.process(name).start(wait_healthy=wait_healthy)

    def restart(self, service: str) -> None:
        """Start ``service`` if it is not running (after a kill), without failpoints."""
        self.process(service).start(wait_healthy=60)
        self.armed.discard(service)

    def arm(self, service: str, failpoint: str, after: int) -> None:
        """Restart ``service`` with ``failpoint`` armed: the ``after``-th time the process gets
        there it kills itself (``shared/failpoints.py``). Its next start is a plain one."""
        process = self.process(service)
        process.stop()
        process.env["ACCORD_FAILPOINTS"] = f"{failpoint}:{after}"
        try:
            process.start(wait_healthy=60)
            self.armed.add(service)
        finally:
            del process.env["ACCORD_FAILPOINTS"]

    @contextlib.contextmanager
    def reconfigured(self, service: str, **settings: str) -> Iterator[None]:
        """``service`` restarted with ``settings`` in its environment, and restarted without
        them afterwards."""
        process = self.process(service)
        process.stop()
        process.env.update(settings)
        try:
            process.start(wait_healthy=60)
            yield
        finally:
            process.stop()
            for name in settings:
                del process.env[name]
            process.start(wait_healthy=60)

    def disarm(self) -> None:
        """Restart without failpoints whatever still runs with one, so that a scenario that
        failed half-way does not leave the next one a process that kills itself."""
        for service in sorted(self.armed):
            self.process(service).stop()
            self.restart(service)

    def log_count(self, service: str, text: str) -> int:
        """How many lines of ``service``'s log (every start of it) contain ``text``."""
        path = self.process(service).log_path
        with path.open(errors="replace") as log:
            return sum(text in line for line in log)

    async def diagnostics(self, http: httpx.AsyncClient, lines: int = 12) -> str:
        """What each service says about itself (/healthz) and the last warnings and errors of
        its log: printed when a scenario fails, so that a failure in CI tells its cause."""
        parts = []
        for name in SERVICE_NAMES:
            try:
                health = (await http.get(f"{self.url(name)}/healthz", timeout=5)).text
            except httpx.HTTPError as exc:
                health = f"no answer ({type(exc).__name__})"
            with self.process(name).log_path.open(errors="replace") as log:
                troubles = [
                    line.rstrip()[:400]
                    for line in log
                    if '"level": "warning"' in line or '"level": "error"' in line
                ]
            parts.append(f"--- {name}: /healthz {health}")
            parts.extend(troubles[-lines:])
        return "\n".join(parts)

    def pids(self) -> dict[str, int | None]:
        return {name: self.process(name).pid() for name in SERVICE_NAMES}

    async def scalar(self, service: str, sql: str, *args: object) -> Any:
        connection = await asyncpg.connect(
            asyncpg_dsn(self.infra.database_url(service)), timeout=10
        )
        try:
            return await connection.fetchval(sql, *args)
        finally:
            await connection.close()

    async def fetch(self, service: str, sql: str, *args: object) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(
            asyncpg_dsn(self.infra.database_url(service)), timeout=10
        )
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()


@contextlib.contextmanager
def running_fault_stack(runtime_dir: Path, *, brokers: int = 1) -> Iterator[FaultStack]:
    """A ``FaultStack`` started in ``runtime_dir`` (Kafka: one broker, or a cluster of
    ``brokers`` nodes), with its topics and services; everything stopped at the end."""
    infra = new_infrastructure(runtime_dir, brokers=brokers)
    with Receiver().running() as receiver:
        stack = FaultStack(infra, receiver)
        try:
            infra.start()
            asyncio.run(infra.create_topics())
            stack.start_services()
            yield stack
        finally:
            stack.services.stop_all()
            infra.stop()


@dataclass
class Workload:
    plan_id: str
    lines: list[dict[str, Any]]
    # delegation code -> receiver path
    paths: dict[str, str]
    # delegation code -> webhook endpoint id
    endpoints: dict[str, str]

    @classmethod
    async def create(
        cls, http: httpx.AsyncClient, stack: FaultStack, *, lines: int = LINES, delegations: int = 2
    ) -> "Workload":
        plans, base = stack.url("plans"), stack.url("notifications")
        headers = secretariat()
        plan = await create_plan(http, plans, headers)
        section = await add_section(http, plans, headers, plan["id"], code="1")
        made = [
            await add_action_line(
                http, plans, headers, plan["id"], section_id=section["id"], code=f"1.{i}"
            )
            for i in range(lines)
        ]
        paths: dict[str, str] = {}
        endpoints: dict[str, str] = {}
        for _ in range(delegations):
            code = await new_delegation(http, base, headers)
            path = f"/faults/{code}"
            endpoint = await register_endpoint(http, base, code, stack.receiver.url(path))
            stack.receiver.route(path, endpoint["secret"])
            # Two subscriptions matching every line: the delegation is still told once.
            await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
            await subscribe(http, base, code, "section", section["id"], **ONLY_STATUS_CHANGES)
            paths[code] = path
            endpoints[code] = endpoint["id"]
        return cls(plan_id=plan["id"], lines=made, paths=paths, endpoints=endpoints)


@dataclass
class Driver:
    """Status changes at a steady rate, each line owned by one worker so that its versions are
    made in order. Every 2xx is recorded with the version it produced. A failed request (the
    service or its database away) is not acknowledged; the worker then reads the line's
    current version again before going on, since the change may have committed anyway."""

    http: httpx.AsyncClient
    plans: str
    lines: list[dict[str, Any]]
    total: int = CHANGES
    rate: float = RATE
    workers: int = WORKERS
    acknowledged: list[tuple[str, int]] = field(default_factory=list)
    failures: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        per_worker = self.rate / self.workers
        share = [self.lines[i :: self.workers] for i in range(self.workers)]
        quota = [self.total // self.workers] * self.workers
        quota[0] += self.total - sum(quota)
        await asyncio.gather(
            *(self._work(mine, n, per_worker) for mine, n in zip(share, quota, strict=True))
        )

    def stop(self) -> None:
        self._stop.set()

    @property
    def done(self) -> bool:
        return len(self.acknowledged) >= self.total

    async def _work(self, lines: list[dict[str, Any]], quota: int, rate: float) -> None:
        headers = secretariat()
        interval = 1.0 / rate
        next_at = time.monotonic()
        made = 0
        index = 0
        while made < quota and not self._stop.is_set():
            line = lines[index % len(lines)]
            index += 1
            target = "on_hold" if line["status"] == "ongoing" else "ongoing"
            try:
                response = await self.http.patch(
                    f"{self.plans}/action-lines/{line['id']}/status",
                    json={"status": target, "expected_version": line["version"]},
                    headers=headers,
                    timeout=10,
                )
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                body = response.json()
                line["version"], line["status"] = body["version"], body["status"]
                self.acknowledged.append((line["id"], body["version"]))
                made += 1
            else:
                self.failures += 1
                await self._resync(line, headers)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _resync(self, line: dict[str, Any], headers: dict[str, str]) -> None:
        while not self._stop.is_set():
            try:
                response = await self.http.get(
                    f"{self.plans}/action-lines/{line['id']}", headers=headers, timeout=5
                )
                if response.status_code == 200:
                    line["version"], line["status"] = (
                        response.json()["version"],
                        response.json()["status"],
                    )
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def _consumer_lag(http: httpx.AsyncClient, base: str) -> int | None:
    try:
        body = (await http.get(f"{base}/healthz", timeout=5)).json()
    except (httpx.HTTPError, ValueError):
        return None
    consumer = body.get("consumer")
    return None if consumer is None or consumer["lag"] is None else int(consumer["lag"])


# Each consumer group of the stack and the topics it reads.
GROUPS = {
    "accord-plans": (PLANS_EVENTS, MEETINGS_EVENTS),
    "accord-meetings": (PLANS_EVENTS, NOTIFICATIONS_EVENTS),
    "accord-notifications": (PLANS_EVENTS, MEETINGS_EVENTS),
}


async def groups_caught_up(kafka: KafkaAccess) -> bool:
    """Whether every group has committed the end offset of every partition it reads, as the
    broker sees it. A service's own lag covers only the partitions assigned to it: while a
    killed member's session lasts, its partitions are nobody's and the live member reports 0."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    reader = AIOKafkaConsumer(**kafka.client_options())
    await admin.start()
    await reader.start()
    try:
        for group, topics in GROUPS.items():
            committed = await admin.list_consumer_group_offsets(group)
            partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
            ends = await reader.end_offsets(partitions)
            for tp in partitions:
                done = committed[tp].offset if tp in committed else 0
                if done < ends[tp]:
                    return False
        return True
    finally:
        await reader.stop()
        await admin.close()


async def not_ready(http: httpx.AsyncClient, stack: FaultStack) -> list[str]:
    """The services whose ``/readyz`` (as a client reaches it) does not answer 200, each with
    what it answered: empty when every service is ready."""
    found = []
    for name in SERVICE_NAMES:
        try:
            response = await http.get(f"{stack.url(name)}/readyz", timeout=5)
        except httpx.HTTPError as exc:
            found.append(f"{name}: {type(exc).__name__}")
            continue
        if response.status_code != 200:
            found.append(f"{name}: {response.status_code} {response.text[:300]}")
    return found


async def all_ready(http: httpx.AsyncClient, stack: FaultStack) -> bool:
    return not await not_ready(http, stack)


async def drain(
    http: httpx.AsyncClient, stack: FaultStack, acknowledged: list[tuple[str, int]]
) -> float:
    """Wait until every acknowledged change was taken in by notifications, every outbox is
    empty, every consumer group's lag is 0 and no delivery is pending; return the seconds."""
    started = time.monotonic()
    wanted = {(line, version) for line, version in acknowledged}
    lines = sorted({line for line, _ in acknowledged})

    async def taken_in() -> bool:
        rows = await stack.fetch(
            "notifications",
            "SELECT data->>'action_line_id' AS line, (data->>'version')::int AS version"
            " FROM received_events WHERE event_type = $1 AND data->>'action_line_id' = ANY($2)",
            "org.accord.plans.action_line.status_changed",
            lines,
        )
        return wanted <= {(r["line"], r["version"]) for r in rows}

    # What the last look found still going on: a timeout says which part never drained.
    waiting: list[str] = ["nothing looked at yet"]

    async def drained() -> bool:
        try:
            for name in SERVICE_NAMES:
                unpublished = await stack.scalar(
                    name, "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
                if unpublished:
                    waiting[0] = f"{name}'s outbox ({unpublished} unpublished)"
                    return False
            for name in SERVICE_NAMES:
                lag = await _consumer_lag(http, stack.url(name))
                if lag != 0:
                    waiting[0] = f"{name}'s consumer (lag {lag})"
                    return False
            if not await groups_caught_up(stack.infra.kafka_admin):
                waiting[0] = "a consumer group's committed offsets, as the broker sees them"
                return False
            if not await taken_in():
                waiting[0] = "notifications taking in every acknowledged change"
                return False
            pending = await stack.scalar(
                "notifications", "SELECT count(*) FROM deliveries WHERE status = 'pending'"
            )
            waiting[0] = f"{pending} pending deliveries"
            return pending == 0
        except (OSError, asyncpg.PostgresError, KafkaError) as exc:
            waiting[0] = f"an answer ({type(exc).__name__})"
            return False

    try:
        await eventually(drained, timeout=DRAIN_TIMEOUT, interval=0.5, what="the system drained")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still waiting for {waiting[0]}") from None
    return time.monotonic() - started


@dataclass
class Figures:
    scenario: str
    changes: int
    failed_requests: int
    webhooks_received: int
    webhooks_accepted: int
    duplicate_ids: int
    recovery_seconds: float
    drain_seconds: float

    def report(self) -> str:
        return (
            f"[faults] {self.scenario}: changes={self.changes}"
            f" failed_requests={self.failed_requests}"
            f" webhooks_received={self.webhooks_received} accepted={self.webhooks_accepted}"
            f" duplicate_webhook_ids={self.duplicate_ids}"
            f" recovery={self.recovery_seconds:.1f}s drain={self.drain_seconds:.1f}s"
        )


def _hook(body: bytes) -> tuple[str, str, int]:
    payload = json.loads(body)
    return payload["delegation"], payload["data"]["action_line_id"], int(payload["data"]["version"])


async def check(
    http: httpx.AsyncClient,
    stack: FaultStack,
    workload: Workload,
    driver: Driver,
    *,
    scenario: str,
    recovery_seconds: float,
    duplicates_allowed: bool = False,
) -> Figures:
    """The oracle, after ``drain``: nothing acknowledged lost, no user-visible duplicate,
    per (delegation, line) versions never go backwards, rollups equal a recount, services
    ready."""
    drain_seconds = await drain(http, stack, driver.acknowledged)
    acknowledged = set(driver.acknowledged)
    assert len(acknowledged) == len(driver.acknowledged), "a version acknowledged twice"
    received_total = accepted_total = duplicate_ids = 0
    for code, path in workload.paths.items():
        received = stack.receiver.at(path)
        assert all(r.verified for r in received), f"{code}: a webhook failed verification"
        accepted = stack.receiver.accepted(path)
        received_total += len(received)
        accepted_total += len(accepted)
        ids = Counter(r.webhook_id for r in accepted)
        twice = {i: n for i, n in ids.items() if n > 1}
        duplicate_ids += sum(n - 1 for n in twice.values())
        if not duplicates_allowed:
            assert not twice, f"{code}: webhook-ids received more than once: {twice}"
        # One delivery (one webhook-id) per change and delegation, whatever the redeliveries;
        # a redelivery carries the same change as the first attempt.
        by_change: dict[tuple[str, int], set[str]] = defaultdict(set)
        for r in accepted:
            delegation, line, version = _hook(r.body)
            assert delegation == code
            by_change[(line, version)].add(r.webhook_id)
        doubled = {k: v for k, v in by_change.items() if len(v) > 1}
        assert not doubled, f"{code}: one change delivered under several webhook-ids: {doubled}"
        missing = acknowledged - set(by_change)
        assert not missing, f"{code}: {len(missing)} acknowledged changes never arrived"
        # Per (delegation, line): receive order never goes back to an older version.
        last: dict[str, int] = {}
        backwards = []
        for r in accepted:
            _, line, version = _hook(r.body)
            if version < last.get(line, 0):
                backwards.append((line, last[line], version))
            last[line] = max(version, last.get(line, 0))
        assert not backwards, f"{code}: versions went backwards: {backwards[:10]}"
    if duplicates_allowed:
        await _repeats_are_dispatcher_retries(stack, workload)
    check_response = await http.get(f"{stack.url('plans')}/rollups/check", headers=secretariat())
    assert check_response.status_code == 200, check_response.text
    assert check_response.json()["consistent"], check_response.json()["differences"][:5]
    unready = await not_ready(http, stack)
    assert not unready, f"not ready after the run: {unready}"
    return Figures(
        scenario=scenario,
        changes=len(driver.acknowledged),
        failed_requests=driver.failures,
        webhooks_received=received_total,
        webhooks_accepted=accepted_total,
        duplicate_ids=duplicate_ids,
        recovery_seconds=recovery_seconds,
        drain_seconds=drain_seconds,
    )


async def _repeats_are_dispatcher_retries(stack: FaultStack, workload: Workload) -> None:
    """A webhook-id may arrive twice only as the dispatcher's retry of an attempt it did not
    see succeed: one it never recorded (it died between sending and recording; the process
    that hosts the consumer hosts the dispatcher, so killing one kills the other), or one it
    recorded as failed (e.g. the receiver answered after the timeout). The dispatcher never
    sends again after recording a success."""
    received: Counter[str] = Counter()
    for path in workload.paths.values():
        received.update(r.webhook_id for r in stack.receiver.at(path))
    repeated = [webhook_id for webhook_id, n in received.items() if n > 1]
    rows = await stack.fetch(
        "notifications",
        "SELECT d.webhook_id, count(a.id) AS recorded,"
        " count(a.id) FILTER (WHERE a.status_code BETWEEN 200 AND 299) AS succeeded"
        " FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id"
        " WHERE d.webhook_id = ANY($1) GROUP BY d.webhook_id",
        repeated,
    )
    # Drained: every delivery has exactly one recorded success, so each other arrival of its
    # id was an attempt the dispatcher did not see succeed.
    unexplained = {
        row["webhook_id"]: (received[row["webhook_id"]], row["recorded"], row["succeeded"])
        for row in rows
        if row["succeeded"] != 1
    }
    assert len(rows) == len(repeated), "a repeated webhook-id that no delivery has"
    assert not unexplained, f"repeats not explained (received, recorded, succeeded): {unexplained}"


async def time_until_ready(
    http: httpx.AsyncClient, stack: FaultStack, timeout: float = 120
) -> float:
    started = time.monotonic()
    await eventually(lambda: all_ready(http, stack), timeout=timeout, interval=0.2, what="ready")
    return time.monotonic() - started


def self_connected(port: int) -> bool:
    """Whether a TCP socket on this machine is connected to itself on ``port``: a client that
    got the port as its source port while no server held it (TCP simultaneous open), which
    keeps a server from binding the port again."""
    suffix = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as sockets:
            for line in list(sockets)[1:]:
                local, remote = line.split()[1:3]
                if local == remote and local.endswith(suffix):
                    return True
    return False


def write_figures(runtime_dir: Path, figures: Figures | str) -> None:
    """Print the figures (shown with -s) and append them to the stack's folder."""
    line = figures if isinstance(figures, str) else figures.report()
    print(line)
    with (runtime_dir / "faults-figures.txt").open("a") as out:
        out.write(line + "\n")
