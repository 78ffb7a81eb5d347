"""The operator's command (``python -m shared.ops``) against the suite's real broker and
PostgreSQL, run as operators run it: a process reading its settings from the environment.

The databases it reads for plans and notifications are scratch databases of this module,
migrated like the real ones, so that no running service's relay or dispatcher changes what a
test put there; meetings' is the suite's."""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from deploy.local.processes import free_port
from services.notifications.webhooks.keyring import parse_keys
from services.notifications.webhooks.secrets_at_rest import store_secret
from services.plans import orm as plans_orm
from shared.consumer import ConsumerRunner
from shared.events import CloudEvent, EventContract, InvalidEvent
from shared.kafka_acls import PRINCIPALS, consumer_group
from shared.migrations import upgrade
from shared.topics import PLANS_EVENTS, dead_letter_topic
from tests.support.kafka import produce, read_all, status_changed_event
from tests.support.stack import REPO, SECRET_KEYS, Infrastructure, Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

STATUS_CHANGED = "org.accord.plans.action_line.status_changed"


@dataclass(frozen=True)
class Ops:
    """Runs the command with the environment the services would have."""

    environment: dict[str, str]

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "shared.ops", *args],
            env={**os.environ, **self.environment},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


def _scratch_database(infra: Infrastructure, service: str) -> str:
    name = f"accord_ops_{service}"
    infra.postgres.drop_database(name)
    infra.postgres.create_database(name)
    url = infra.postgres.url(name)
    upgrade(REPO / "services" / service / "migrations", url)
    return url


@pytest.fixture(scope="module")
def ops(infra: Infrastructure) -> Iterator[Ops]:
    environment = {
        "ACCORD_ENVIRONMENT": "development",
        # As operators run it: the broker's admin, who may describe every group and read
        # and write every topic.
        **infra.kafka.client_env(),
        "PLANS_DATABASE_URL": _scratch_database(infra, "plans"),
        "MEETINGS_DATABASE_URL": infra.database_url("meetings"),
        "NOTIFICATIONS_DATABASE_URL": _scratch_database(infra, "notifications"),
    }
    yield Ops(environment)


@contextlib.asynccontextmanager
async def _sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def _execute(url: str, sql: str, **params: Any) -> None:
    async with _sessions(url) as sessions, sessions() as session, session.begin():
        await session.execute(text(sql), params)


def test_help_explains_every_command_with_examples(ops: Ops) -> None:
    top = ops.run("--help").stdout
    assert "examples:" in top
    for command in ("groups", "outbox", "dlt", "dlt-table", "endpoints", "deliveries"):
        assert command in top
    redrive = ops.run("dlt", "redrive", "--help").stdout
    assert "dry run unless --yes" in redrive.replace("A dry run", "dry run")
    assert "redriven once" in redrive


async def test_lag_per_partition_after_producing_and_partially_consuming(
    infra: Infrastructure, ops: Ops
) -> None:
    topic = f"ops-test-lag-{uuid.uuid4().hex[:8]}"
    group = f"ops-test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**infra.kafka_admin.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    messages = [(b"k", f"m{i}".encode()) for i in range(5)]
    # The admin writes and reads this topic (a super user): it needs no ACL.
    await produce(infra.kafka_admin, topic, messages, partition=0)
    await produce(infra.kafka_admin, topic, messages[:3], partition=1)

    consumer = AIOKafkaConsumer(
        topic,
        **infra.kafka_admin.client_options(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await eventually(lambda: _fetched(consumer), what="the group's member to read something")
        # Partly consumed: two of partition 0's five messages, nothing of partition 1.
        await consumer.commit({TopicPartition(topic, 0): 2})

        [found] = await asyncio.to_thread(ops.json, "groups", "--group", group)
        by_partition = {p["partition"]: p for p in found["partitions"] if p["topic"] == topic}
        assert found["group"] == group
        assert found["state"] == "Stable"
        assert len(found["members"]) == 1
        assert by_partition[0]["committed"] == 2 and by_partition[0]["end"] == 5
        assert by_partition[0]["lag"] == 3
        assert by_partition[1]["committed"] is None and by_partition[1]["end"] == 3
        assert by_partition[1]["lag"] == 3
        assert found["lag"] == 6
        assert {p["member"] for p in by_partition.values()} == set(found["members"])

        people = (await asyncio.to_thread(ops.run, "groups", "--group", group)).stdout
        assert group in people and "lag 6" in people
    finally:
        await consumer.stop()


async def test_groups_lists_every_group_the_services_included(services: Services, ops: Ops) -> None:
    """Without ``--group``: every group the broker knows, each running service's with its
    members and the partitions of every topic it reads."""
    wanted = {consumer_group(service.name): service.consumes for service in PRINCIPALS}

    async def listed() -> dict[str, Any] | None:
        groups = {g["group"]: g for g in await asyncio.to_thread(ops.json, "groups")}
        mine = {name: groups[name] for name in wanted if name in groups}
        return (
            mine if len(mine) == len(wanted) and all(g["members"] for g in mine.values()) else None
        )

    found = await eventually(listed, timeout=60, what="the services' groups with their members")
    for name, consumes in wanted.items():
        assert {p["topic"] for p in found[name]["partitions"]} == set(consumes), found[name]


async def _fetched(consumer: AIOKafkaConsumer) -> bool:
    return bool(await consumer.getmany(timeout_ms=500))


async def test_outbox_backlog_counts_unpublished_rows_and_the_oldest_age(ops: Ops) -> None:
    url = ops.environment["PLANS_DATABASE_URL"]
    await _execute(url, "DELETE FROM outbox")
    # Nothing pending for notifications: its migrations seed delegations and announce them
    # (0014) through the outbox, which no relay publishes from this scratch database.
    await _execute(ops.environment["NOTIFICATIONS_DATABASE_URL"], "DELETE FROM outbox")
    for age, published in ((90, False), (30, False), (10, False), (500, True)):
        await _execute(
            url,
            "INSERT INTO outbox (event_id, topic, key, event_type, payload, created_at,"
            " published_at) VALUES (:id, 'accord.plans.events', 'k', 't', 'x',"
            " now() - make_interval(secs => :age),"
            " CASE WHEN :published THEN now() ELSE NULL END)",
            id=uuid.uuid4(),
            age=age,
            published=published,
        )

    backlogs = {b["service"]: b for b in await asyncio.to_thread(ops.json, "outbox")}

    assert set(backlogs) == {"plans", "meetings", "notifications"}
    assert backlogs["plans"]["pending"] == 3
    assert 90 <= backlogs["plans"]["oldest_age_seconds"] < 90 + 60
    assert backlogs["notifications"] == {
        "service": "notifications",
        "pending": 0,
        "oldest_created_at": None,
        "oldest_age_seconds": 0,
    }


class _Broken:
    """A consumer's handler with a bug for some plans, then the fix."""

    def __init__(self, plan_id: uuid.UUID) -> None:
        self.plan_id = str(plan_id)
        self.fixed = False
        self.applied: list[str] = []

    async def __call__(self, session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
        if str(getattr(data, "plan_id", "")) != self.plan_id:
            return
        if not self.fixed:
            raise InvalidEvent(f"ops-test bug: plan {self.plan_id} cannot be applied")
        self.applied.append(event.id)


async def test_a_poison_message_is_shown_redriven_once_and_consumed_after_the_fix(
    infra: Infrastructure, ops: Ops
) -> None:
    plan_id = uuid.uuid4()
    group = f"ops-test-{uuid.uuid4().hex[:8]}"
    handler = _Broken(plan_id)
    event = status_changed_event(plan_id)
    dlt = dead_letter_topic(PLANS_EVENTS)
    # This group reads the topic from its start: it may park other tests' poison too.
    mine = ("--group", group, "--reason", f"plan {plan_id}")
    async with _sessions(ops.environment["PLANS_DATABASE_URL"]) as sessions:
        runner = ConsumerRunner(
            group_id=group,
            topics=[PLANS_EVENTS],
            handlers={STATUS_CHANGED: handler},
            sessions=sessions,
            processed_table=plans_orm.processed_events,
            dead_letters_table=plans_orm.dead_letters,
            # The admin: a service's principal may only use its own consumer group.
            kafka=infra.kafka_admin,
        )
        consuming = asyncio.create_task(runner.run())
        try:
            await produce(
                infra.kafka_as("plans"), PLANS_EVENTS, [(str(plan_id).encode(), event.to_bytes())]
            )

            async def parked() -> list[dict[str, Any]] | None:
                listed = await asyncio.to_thread(ops.json, "dlt", "list", dlt, *mine)
                return listed or None

            [entry] = await eventually(parked, timeout=60, what="the poison message parked")
            assert "ops-test bug" in entry["reason"]
            assert entry["original"]["topic"] == PLANS_EVENTS
            where = f"{dlt}/{entry['partition']}/{entry['offset']}"

            shown = await asyncio.to_thread(ops.json, "dlt", "show", where)
            headers = dict(shown["headers"])
            assert headers["dlt.group"] == group
            assert "ops-test bug" in headers["dlt.reason"]
            assert headers["dlt.topic"] == PLANS_EVENTS
            assert shown["payload"]["id"] == event.id
            assert shown["key"] == str(plan_id)
            assert shown["redrive"]["status"] == "would redrive"
            people = (await asyncio.to_thread(ops.run, "dlt", "show", where)).stdout
            assert "dlt.reason" in people and event.id in people
            # The record of redrives out of reach: the message is still shown.
            nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/accord_plans"
            blind = Ops({**ops.environment, "PLANS_DATABASE_URL": nowhere})
            degraded = await asyncio.to_thread(blind.json, "dlt", "show", where, "--timeout", "3")
            assert degraded["payload"]["id"] == event.id
            assert degraded["redrive"]["status"].startswith("unknown (cannot reach the plans")

            # Without a selection, nothing: a redrive of everything must be asked for.
            refused = await asyncio.to_thread(ops.run, "dlt", "redrive", dlt, expect=2)
            assert "--all" in refused.stderr
            dry = await asyncio.to_thread(ops.json, "dlt", "redrive", dlt, *mine)
            assert dry["sent"] is False and dry["counts"] == {"would redrive": 1}

            handler.fixed = True
            coordinates = ("--partition", str(entry["partition"]), "--offset", str(entry["offset"]))
            first = await asyncio.to_thread(ops.json, "dlt", "redrive", dlt, *coordinates, "--yes")
            assert first["counts"] == {"redriven": 1}
            [outcome] = first["outcomes"]

            await eventually(
                lambda: _true(handler.applied == [event.id]),
                timeout=60,
                what="the redriven event applied by the fixed consumer",
            )

            second = await asyncio.to_thread(ops.json, "dlt", "redrive", dlt, *mine, "--yes")
            assert second["counts"] == {"already redriven": 1}
            assert second["outcomes"][0]["new_offset"] == outcome["new_offset"]
            copies = [
                r
                for r in await read_all(infra.kafka_admin, PLANS_EVENTS, settle=1)
                if r.value == event.to_bytes()
            ]
            assert len(copies) == 2  # the original and one redrive
            assert not any(name.startswith("dlt.") for name, _ in copies[1].headers or ())

            recorded = await asyncio.to_thread(ops.json, "dlt", "redrives", "--service", "plans")
            assert [(r["parked_as"], r["group_id"]) for r in recorded] == [(where, group)]
        finally:
            consuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consuming


async def _true(value: bool) -> bool:
    return value


async def test_a_dead_letters_row_is_listed_shown_and_redriven_once(
    infra: Infrastructure, ops: Ops
) -> None:
    url = ops.environment["NOTIFICATIONS_DATABASE_URL"]
    plan_id = uuid.uuid4()
    event = status_changed_event(plan_id)
    await produce(
        infra.kafka_as("plans"), PLANS_EVENTS, [(str(plan_id).encode(), event.to_bytes())]
    )
    [original] = [
        r
        for r in await read_all(infra.kafka_admin, PLANS_EVENTS, settle=1)
        if r.value == event.to_bytes()
    ]
    await _execute(
        url,
        'INSERT INTO dead_letters (topic, partition, "offset", group_id, reason, publish_error,'
        " key, headers, value_prefix, value_size) VALUES (:topic, :partition, :offset,"
        " 'accord-notifications', 'ops-test: too big', 'MessageSizeTooLargeError', :key,"
        " '[]', :prefix, :size)",
        topic=PLANS_EVENTS,
        partition=original.partition,
        offset=original.offset,
        key=original.key,
        prefix=event.to_bytes()[:20],
        size=len(event.to_bytes()),
    )

    rows = await asyncio.to_thread(ops.json, "dlt-table", "list", "--service", "notifications")
    [row] = [r for r in rows if r["reason"] == "ops-test: too big"]
    assert row["original"] == {
        "topic": PLANS_EVENTS,
        "partition": original.partition,
        "offset": original.offset,
    }
    shown = await asyncio.to_thread(ops.json, "dlt-table", "show", "notifications", str(row["id"]))
    assert shown["publish_error"] == "MessageSizeTooLargeError"
    assert shown["payload_prefix"] == event.to_bytes()[:20].decode()

    sent = await asyncio.to_thread(
        ops.json, "dlt-table", "redrive", "notifications", str(row["id"]), "--yes"
    )
    assert sent["counts"] == {"redriven": 1}
    again = await asyncio.to_thread(
        ops.json, "dlt-table", "redrive", "notifications", str(row["id"]), "--yes"
    )
    assert again["counts"] == {"already redriven": 1}
    copies = [
        r
        for r in await read_all(infra.kafka_admin, PLANS_EVENTS, settle=1)
        if r.value == event.to_bytes()
    ]
    # The whole message went back, read from its topic (the row kept 20 bytes of it).
    assert [(c.partition, c.offset) for c in copies] == [
        (original.partition, original.offset),
        (sent["outcomes"][0]["new_partition"], sent["outcomes"][0]["new_offset"]),
    ]


def test_a_broker_or_database_that_does_not_answer_is_one_line_and_exit_status_1(
    ops: Ops,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    broker = Ops({**ops.environment, "ACCORD_KAFKA_BOOTSTRAP_SERVERS": nobody})
    done = broker.run("groups", "--timeout", "3", expect=1)
    assert f"cannot reach the Kafka broker at {nobody}" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""

    database = Ops(
        {
            **ops.environment,
            "PLANS_DATABASE_URL": f"postgresql+asyncpg://postgres@{nobody}/accord_plans",
        }
    )
    done = database.run("outbox", "--service", "plans", "--timeout", "3", expect=1)
    assert f"cannot reach the plans database at postgresql+asyncpg://postgres@{nobody}" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


async def test_endpoints_in_trouble_and_stuck_deliveries(ops: Ops) -> None:
    from services.notifications import orm as n

    now = datetime.now(UTC)
    code = f"T{uuid.uuid4().hex[:6].upper()}"

    # Stored as the service stores them: encrypted with the suite's key.
    keyring = parse_keys(SECRET_KEYS, "the suite's keys")

    def endpoint(name: str, **state: Any) -> Any:
        row = n.Endpoint(
            id=uuid.uuid4(),
            delegation_code=code,
            url=f"https://{name}.example.org/hook",
            event_types=[],
            **state,
        )
        store_secret(row, keyring, "whsec_test")
        return row

    healthy = endpoint("healthy", enabled=True)
    disabled = endpoint("gone", enabled=False, disabled_reason="gone", disabled_at=now)
    failing = endpoint("failing", enabled=True, failing_since=now - timedelta(hours=1))
    quiet = endpoint("quiet", enabled=True)
    # One delivery per (event, endpoint): an event of its own for each.
    events = [
        n.ReceivedEvent(
            event_id=str(uuid.uuid4()), event_type=STATUS_CHANGED, data={}, occurred_at=now
        )
        for _ in range(5)
    ]

    def delivery(target: Any, due_seconds_ago: float, leased_by: str | None = None) -> Any:
        event = events.pop()
        return n.Delivery(
            webhook_id=f"msg_{uuid.uuid4().hex}",
            event_row_id=event.id,
            endpoint_id=target.id,
            delegation_code=code,
            status="pending",
            tries=1,
            attempts_total=1,
            next_attempt_at=now - timedelta(seconds=due_seconds_ago),
            leased_by=leased_by,
        )

    async with (
        _sessions(ops.environment["NOTIFICATIONS_DATABASE_URL"]) as sessions,
        sessions() as session,
        session.begin(),
    ):
        session.add(n.Delegation(code=code, name="ops test", timezone="UTC"))
        await session.flush()
        session.add_all([healthy, disabled, failing, quiet, *events])
        await session.flush()
        overdue = delivery(healthy, 600)
        lease_ran_out = delivery(healthy, 1200, leased_by="notifications-2")
        session.add_all(
            [
                overdue,
                lease_ran_out,
                delivery(healthy, 60),  # late, but not by --late
                delivery(healthy, -60),  # not due yet
                delivery(disabled, 3600),  # parked on purpose: its endpoint is disabled
            ]
        )

    listed = await asyncio.to_thread(ops.json, "endpoints")
    mine = {e["url"]: e for e in listed if e["delegation"] == code}
    assert set(mine) == {disabled.url, failing.url}
    assert mine[disabled.url]["enabled"] is False
    assert mine[disabled.url]["disabled_reason"] == "gone"
    assert mine[disabled.url]["waiting"] == 1
    assert mine[failing.url]["failing_since"] != ""
    assert mine[failing.url]["endpoint_id"] == str(failing.id)

    stuck = await asyncio.to_thread(ops.json, "deliveries", "--late", "300")
    assert [(d["delivery_id"], d["why"]) for d in stuck if d["delegation"] == code] == [
        (lease_ran_out.id, "lease ran out"),
        (overdue.id, "due, not sent"),
    ]
    people = (await asyncio.to_thread(ops.run, "deliveries", "--late", "300")).stdout
    assert "lease ran out (notifications-2)" in people


async def test_two_groups_copies_of_one_message_are_redriven_once_in_one_run(
    infra: Infrastructure, ops: Ops
) -> None:
    plan_id = uuid.uuid4()
    event = status_changed_event(plan_id)
    marker = f"ops-test copies {uuid.uuid4()}"
    # Where the original would have been: the same for both copies (far past the topic's end,
    # so that it never names a real message of another test).
    offset = str(10**9 + uuid.uuid4().int % 10**6).encode()
    for group in (b"accord-plans", b"accord-notifications"):
        await produce(
            infra.kafka_admin,
            dead_letter_topic(PLANS_EVENTS),
            [(str(plan_id).encode(), event.to_bytes())],
            headers=[
                ("dlt.reason", marker.encode()),
                ("dlt.group", group),
                ("dlt.topic", PLANS_EVENTS.encode()),
                ("dlt.partition", b"0"),
                ("dlt.offset", offset),
            ],
        )

    sent = await asyncio.to_thread(
        ops.json, "dlt", "redrive", dead_letter_topic(PLANS_EVENTS), "--reason", marker, "--yes"
    )

    assert sorted(o["status"] for o in sent["outcomes"]) == ["already redriven", "redriven"]
    assert len({(o["new_partition"], o["new_offset"]) for o in sent["outcomes"]}) == 1
    copies = [
        r
        for r in await read_all(infra.kafka_admin, PLANS_EVENTS, settle=1)
        if r.value == event.to_bytes()
    ]
    assert len(copies) == 1
