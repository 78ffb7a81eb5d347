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
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

from deploy.localstack import Postgres, free_port
from services.notifications import fanout, orm
from services.notifications.config import NotificationsSettings
from services.notifications.dispatcher import Dispatcher
from services.notifications.signing import new_secret, signature_headers
from services.notifications.wakeup import Pulse
from shared.contracts import plans as plan_events
from shared.db import make_engine, make_session_factory
from shared.events import envelope
from shared.migrations import upgrade

REPO = Path(__file__).resolve().parents[2]
RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


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


async def seed_deliveries(sessions, url: str, count: int) -> str:  # type: ignore[no-untyped-def]
    event = envelope(status_changed(uuid.uuid4()), source="/bench", subject="bench")
    async with sessions() as session, session.begin():
        code = "B" + uuid.uuid4().hex[:6].upper()
        session.add(orm.Delegation(code=code, name="Bench", timezone="UTC", stream_seq=0))
        endpoint = orm.Endpoint(
            id=uuid.uuid4(), delegation_code=code, url=url, secret=new_secret(), event_types=[]
        )
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
                    "webhook_id": fanout.new_webhook_id(),
                    "event_row_id": event_row_id,
                    "endpoint_id": endpoint.id,
                    "delegation_code": code,
                    "status": "pending",
                    "next_attempt_at": datetime(2000, 1, 1, tzinfo=UTC),
                }
                for event_row_id in ids
            ],
        )
    return code


async def dispatcher_run(sessions, settings, code: str, count: int) -> float:  # type: ignore[no-untyped-def]
    dispatcher = Dispatcher(sessions, settings, allow_loopback=True, pulse=Pulse())
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run())
    try:
        while True:
            async with sessions() as session:
                done = await session.scalar(
                    select(func.count()).where(
                        orm.Delivery.delegation_code == code, orm.Delivery.status == "succeeded"
                    )
                )
            if done == count:
                return time.perf_counter() - started
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def fan_out_to(sessions, recipients: int) -> float:  # type: ignore[no-untyped-def]
    plan_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        codes = [f"F{i:06d}{uuid.uuid4().hex[:3].upper()}" for i in range(recipients)]
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
        await session.execute(
            insert(orm.Endpoint),
            [
                {
                    "id": uuid.uuid4(),
                    "delegation_code": c,
                    "url": "https://hooks.example/",
                    "secret": new_secret(),
                    "event_types": [],
                    "enabled": False,  # nothing is sent: this measures the fan-out only
                }
                for c in codes
            ],
        )
    payload = status_changed(plan_id)
    event = envelope(payload, source="/bench", subject="bench")
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        await fanout.take_in(session, event, payload)
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


async def main_async(args: argparse.Namespace, database_url: str, receiver_url: str) -> None:
    settings = NotificationsSettings(
        database_url=database_url,
        dispatcher_concurrency=args.concurrency,
        poll_interval=0.05,
        allow_http_webhooks=True,
    )
    engine = make_engine(database_url, pool_size=10)
    sessions = make_session_factory(engine)
    try:
        body = '{"type":"org.accord.plans.action_line.status_changed","data":{}}' + " " * 600
        await raw_posts(receiver_url, body, 200, args.concurrency)  # warm up
        raw = await raw_posts(receiver_url, body, args.deliveries, args.concurrency)
        code = await seed_deliveries(sessions, receiver_url, args.deliveries)
        dispatched = await dispatcher_run(sessions, settings, code, args.deliveries)
        raw_rate, rate = args.deliveries / raw, args.deliveries / dispatched
        print(f"raw httpx POST loop: {raw_rate:8.0f} requests/s (concurrency {args.concurrency})")
        print(f"dispatcher:          {rate:8.0f} deliveries/s ({rate / raw_rate:.0%} of raw)")
        one, two = signing_cost()
        print(f"signing: {one:.1f} us per webhook (one secret), {two:.1f} us (two, rotation)")
        fan = await fan_out_to(sessions, 1000)
        print(f"fan-out of one event to 1,000 subscriptions: {fan * 1000:.0f} ms")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        postgres = Postgres(Path(runtime), free_port())
        Postgres.install()
        postgres.start()
        port = free_port()
        app_file = Path(runtime) / "bench_receiver.py"
        app_file.write_text(RECEIVER)
        receiver = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench_receiver:app", "--port", str(port),
             "--log-level", "warning", "--app-dir", runtime],
        )  # fmt: skip
        try:
            postgres.create_database("accord_notifications")
            url = postgres.url("accord_notifications")
            upgrade(REPO / "services" / "notifications" / "migrations", url)
            time.sleep(1.0)
            asyncio.run(main_async(args, url, f"http://127.0.0.1:{port}/hook"))
        finally:
            receiver.terminate()
            receiver.wait(10)
            postgres.stop()
            postgres.remove()


if __name__ == "__main__":
    main()
