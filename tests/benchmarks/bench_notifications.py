"""Benchmarks of the notifications service (a script, not a test: figures are ratios measured
in one run on one machine, because these machines are shared and noisy).

    .venv/bin/python -m tests.benchmarks.bench_notifications [--deliveries 2000] [--concurrency 32]

1. Dispatcher deliveries/s as a share of a raw ``httpx.AsyncClient`` POST loop to the same
   local receiver at the same concurrency (the receiver is uvicorn in another process).
2. The cost of signing one webhook (Standard Webhooks, one secret and two).
3. The time to fan one event out to 1,000 matching subscriptions (inbox entries + deliveries).
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select, text

from deploy.local.postgres import Postgres
from deploy.local.processes import free_port
from services.notifications import orm
from services.notifications.config import NotificationsSettings
from services.notifications.intake.handlers import TakeIn, new_webhook_id, take_in
from services.notifications.wakeup import Pulse
from services.notifications.webhooks.dispatcher import Dispatcher
from services.notifications.webhooks.keyring import Keyring, new_key_entry, parse_keys
from services.notifications.webhooks.payloads import webhook_body
from services.notifications.webhooks.secrets_at_rest import store_secret
from services.notifications.webhooks.signing import new_secret, signature_headers
from shared import collector
from shared.contracts import plans as plan_events
from shared.db import make_engine, make_session_factory
from shared.events import envelope
from shared.migrations import upgrade
from tests.benchmarks.measure import per_second
from tests.benchmarks.rounds import alternating
from tests.benchmarks.stopping import stoppable
from tests.benchmarks.webhook_sink import Sink

REPO = Path(__file__).resolve().parents[2]


def status_changed(plan_id: uuid.UUID) -> plan_events.ActionLineStatusChanged:
    return plan_events.ActionLineStatusChanged(
        plan_id=plan_id,
        action_line_id=uuid.uuid4(),
        section_path=[],
        code="1.2.3",
        tags=["peacekeeping"],
        leads=[],
        old_status="ongoing",
        new_status="completed",
        version=2,
        effective_date=date(2020, 9, 15),
        target_date=None,
        actor="bench",
        source=plan_events.ChangeSource(kind="api"),
        changed_at=datetime.now(UTC),
    )


def sample_webhook_body() -> str:
    event = envelope(status_changed(uuid.uuid4()), source="/bench", subject="bench")
    return webhook_body(
        event_id=event.id,
        event_type=event.type,
        occurred_at=event.time,
        delegation="BENCH01",
        data=event.data,
    )


async def raw_posts(url: str, body: str, count: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=15) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                response = await client.post(url, content=body.encode())
                assert response.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def seed_deliveries(sessions, url: str, count: int, keyring: Keyring) -> str:
    event = envelope(status_changed(uuid.uuid4()), source="/bench", subject="bench")
    async with sessions() as session, session.begin():
        code = "B" + uuid.uuid4().hex[:6].upper()
        session.add(orm.Delegation(code=code, name="Bench", timezone="UTC", stream_seq=0))
        endpoint = orm.Endpoint(id=uuid.uuid4(), delegation_code=code, url=url, event_types=[])
        store_secret(endpoint, keyring, new_secret())
        session.add(endpoint)
        row = orm.ReceivedEvent(
            event_id=event.id,
            event_type=event.type,
            data=event.data,
            occurred_at=event.time,
            subject=event.subject,
        )
        session.add(row)
        await session.flush()
        # Many events to one endpoint: each delivery is its own (event, endpoint) row.
        rows = [
            {
                "event_id": f"{event.id}-{i}",
                "event_type": event.type,
                "data": event.data,
                "occurred_at": event.time,
            }
            for i in range(count)
        ]
        ids = (
            await session.scalars(insert(orm.ReceivedEvent).returning(orm.ReceivedEvent.id), rows)
        ).all()
        await session.execute(
            insert(orm.Delivery),
            [
                {
                    "webhook_id": new_webhook_id(),
                    "event_row_id": event_row_id,
                    "endpoint_id": endpoint.id,
                    "delegation_code": code,
                    "status": "pending",
                    "next_attempt_at": datetime(2000, 1, 1, tzinfo=UTC),
                    # Each about another action line, as a backlog of status changes is.
                    "subject": f"action-lines/{uuid.uuid4()}",
                }
                for event_row_id in ids
            ],
        )
    async with sessions() as session:
        # As autovacuum has done on a running system: the dispatcher is measured with the
        # statistics it would have there (docs/performance.md, on the claim's plan).
        await session.execute(text("ANALYZE deliveries"))
    return code


async def dispatcher_run(sessions, settings, code: str, count: int) -> float:
    """Seconds from the dispatcher's start until the last delivery was recorded as succeeded.
    The end is that delivery's ``succeeded_at`` (wall clock, this machine), so the polling
    below can be slow: it shares the event loop with the dispatcher it measures."""
    dispatcher = Dispatcher(sessions, settings, allow_loopback=True, pulse=Pulse())
    started = datetime.now(UTC)
    task = asyncio.create_task(dispatcher.run())
    try:
        while True:
            async with sessions() as session:
                done, last = (
                    await session.execute(
                        select(func.count(), func.max(orm.Delivery.succeeded_at)).where(
                            orm.Delivery.delegation_code == code,
                            orm.Delivery.status == "succeeded",
                        )
                    )
                ).one()
            if done == count:
                return (last - started).total_seconds()
            await asyncio.sleep(0.25)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def fan_out_to(sessions, recipients: int) -> float:
    plan_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        codes = [f"F{uuid.uuid4().hex[:9].upper()}" for _ in range(recipients)]
        await session.execute(
            insert(orm.Delegation),
            [{"code": c, "name": c, "timezone": "UTC", "stream_seq": 0} for c in codes],
        )
        await session.execute(
            insert(orm.Subscription),
            [
                {
                    "id": uuid.uuid4(),
                    "delegation_code": c,
                    "target_kind": "plan",
                    "target_key": str(plan_id),
                    "event_types": [],
                    "statuses": [],
                    "channels": ["webhook", "inbox", "stream"],
                    "cadence": "immediate",
                }
                for c in codes
            ],
        )
        # Secrets are stored encrypted (services/notifications/webhooks/keyring.py).
        keyring = parse_keys(new_key_entry(), "the benchmark's key")
        endpoints = []
        for c in codes:
            endpoint_id = uuid.uuid4()
            sealed = keyring.seal(endpoint_id, new_secret())
            endpoints.append(
                {
                    "id": endpoint_id,
                    "delegation_code": c,
                    "url": "https://hooks.example/",
                    "secret_key_id": sealed.key_id,
                    "secret_ciphertext": sealed.ciphertext,
                    "event_types": [],
                    "enabled": False,  # nothing is sent: this measures the fan-out only
                }
            )
        await session.execute(insert(orm.Endpoint), endpoints)
    payload = status_changed(plan_id)
    event = envelope(payload, source="/bench", subject="bench")
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        await take_in(session, TakeIn(envelope=event, event=payload))
    return time.perf_counter() - started


def signing_cost(rounds: int = 5000) -> tuple[float, float]:
    body = '{"type":"x","data":{"a":"' + "x" * 400 + '"}}'
    one, two = [new_secret()], [new_secret(), new_secret()]
    now = datetime.now(UTC)
    results = []
    for secrets in (one, two):
        started = time.perf_counter()
        for _ in range(rounds):
            signature_headers("msg_1", body, secrets, now)
        results.append((time.perf_counter() - started) / rounds * 1e6)
    return results[0], results[1]


async def measure(
    database_url: str,
    receiver_url: str,
    deliveries: int,
    concurrency: int,
    rounds: int = 3,
    fan_outs: tuple[int, ...] = (1000, 10_000),
) -> dict:
    """Every figure of this module, on a migrated notifications database of its own (a running
    service's dispatcher must not take the seeded deliveries) and a running receiver. The
    dispatcher and the raw loop alternate ``rounds`` times, after a warm-up of 200 each."""
    collector.freeze_startup_objects()  # as a started service does; both sides gain alike
    settings = NotificationsSettings(
        database_url=database_url,
        dispatcher_concurrency=concurrency,
        # Every delivery goes to one endpoint here: let it use every slot, like the raw loop
        # (the caps are a policy against slow receivers, not part of what is measured).
        max_in_flight_per_endpoint=concurrency,
        max_in_flight_per_delegation=concurrency,
        poll_interval=0.05,
        allow_http_webhooks=True,
    )
    engine = make_engine(database_url, pool_size=20)
    sessions = make_session_factory(engine)
    body = sample_webhook_body()  # the raw loop posts what the dispatcher posts

    async def raw() -> float:
        return per_second(deliveries, await raw_posts(receiver_url, body, deliveries, concurrency))

    async def dispatched(count: int = deliveries) -> float:
        code = await seed_deliveries(sessions, receiver_url, count, settings.keyring)
        return per_second(count, await dispatcher_run(sessions, settings, code, count))

    async def warm_up() -> None:
        await raw_posts(receiver_url, body, 200, concurrency)
        await dispatched(200)

    try:
        measured = await alternating(rounds, dispatched, raw, warm_up)
        one, two = signing_cost()
        # Warmed like the other figures: the first fan-out of a process pays for compiling its
        # statements (about twice the time), which a running consumer has long done.
        await fan_out_to(sessions, 100)
        fan = {n: await fan_out_to(sessions, n) for n in fan_outs}
    finally:
        await engine.dispose()
    return {
        "deliveries": deliveries,
        "concurrency": concurrency,
        "webhook_body_bytes": len(body.encode()),
        "dispatcher": {
            "raw_httpx_per_s": measured["peer"]["median"],
            "dispatcher_per_s": measured["ours"]["median"],
            "rounds": measured,
        },
        "signing_us": {"one_secret": round(one, 1), "two_secrets": round(two, 1)},
        "fan_out_ms": {str(n): round(seconds * 1000, 1) for n, seconds in fan.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        postgres = Postgres(Path(runtime), free_port())
        Postgres.install()
        postgres.start()
        sink = Sink.start(Path(runtime))
        try:
            postgres.create_database("accord_notifications")
            url = postgres.url("accord_notifications")
            upgrade(REPO / "services" / "notifications" / "migrations", url)
            work = measure(url, sink.url(), args.deliveries, args.concurrency)
            figures = asyncio.run(stoppable(work))
            print(json.dumps(figures, indent=2))
        finally:
            sink.stop()
            postgres.stop()
            postgres.remove()


if __name__ == "__main__":
    main()
