"""The peer of the whole pipeline: the database transactions that one status change causes,
in plain SQL on asyncpg, without Kafka, HTTP or the services' Python, at the same concurrency
as the pipeline's load. Each transaction below writes what the named service code writes:

1. plans, the route (handlers.change_action_line_status): lock and update the line, its
   journal row, the outbox row of its event;
2. plans, the projection (rollups/projection.py, status_changed): dedupe row, lock the read
   model's line and update it, move it between buckets in its four scopes (plan, two tags, a
   lead), the counters before and after and the counting rule, and the outbox row of the
   one rollup.changed (version 2) listing the scopes whose figures changed;
3. meetings, its read model (consumers.status_changed): dedupe row, upsert of the line, the
   status-change row;
4. notifications, the take-in (intake/handlers.py, take_in): dedupe row, received event, read-model
   upsert, matching subscriptions, names, the delegation's next stream number, the inbox
   entry, the delivery row, both wake-up notifications;
5. notifications, the take-in of the rollup.changed event: dedupe row, received event, its
   subscription lookup (none matches);
6. notifications, the dispatcher's record (webhooks/dispatcher.py, _record): the attempt row, the
   delivery marked succeeded, the endpoint's health.
Left out is what only moves events between them (the relay's claim and mark of outbox rows,
the dispatcher's claim, consumer offsets): that is the transport the ratio is about.

The databases are fresh ones with the services' schemas (migrations), seeded with the same
plan shape as the pipeline's (pipeline_raw_seed): a running service must not see these rows.
"""

import asyncio
import json
import uuid
from datetime import date
from typing import Any

import asyncpg

from shared.db import asyncpg_dsn
from shared.topics import PLANS_EVENTS
from tests.benchmarks.measure import per_second, stopwatch
from tests.benchmarks.pipeline_raw_seed import DELEGATION, EVENT_ID, LINE_ID, Line, Seeded, seed
from tests.benchmarks.system import System

TRANSACTIONS_PER_CHANGE = 6


class RawChange:
    """The six transactions of one status change, on one connection per database."""

    def __init__(self, connections: dict[str, asyncpg.Connection], seeded: Seeded) -> None:
        self.plans = connections["plans"]
        self.meetings = connections["meetings"]
        self.notifications = connections["notifications"]
        self.seeded = seeded

    async def run(self, line: Line, old: str = "not_started", new: str = "ongoing") -> None:
        event_id = str(uuid.uuid4())
        payload = self.seeded.status_changed.replace(EVENT_ID, event_id)
        payload = payload.replace(LINE_ID, str(line.id))
        version = await self.plans_write(line, old, new, event_id, payload)
        rollup_id = await self.projection(line, new, version, event_id, old)
        await self.meetings_read_model(line, old, new, version, event_id)
        delivery_id = await self.take_in(line, old, new, event_id, payload)
        await self.take_in_rollup(rollup_id)
        await self.record_delivery(delivery_id)

    async def plans_write(self, line: Line, old: str, new: str, event_id: str, payload: str) -> int:
        """The route's transaction; the line's new version (the event carries it)."""
        c, plan_id = self.plans, self.seeded.plan_id
        async with c.transaction():
            row = await c.fetchrow("SELECT * FROM action_lines WHERE id = $1 FOR UPDATE", line.id)
            version = row["version"] + 1
            await c.execute(
                "UPDATE action_lines SET status = $2, version = $3, updated_at = now() "
                "WHERE id = $1",
                line.id,
                new,
                version,
            )
            await c.fetchrow(
                "INSERT INTO status_journal (plan_id, action_line_id, from_status, to_status, "
                "version, effective_date, actor, note, source_kind, source_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, 'bench-secretariat', NULL, 'api', NULL) "
                "RETURNING id, recorded_at",
                plan_id,
                line.id,
                old,
                new,
                version,
                date.today(),
            )
            await self._outbox(c, event_id, payload, "action_line.status_changed")
        return int(version)

    async def projection(self, line: Line, new: str, version: int, event_id: str, old: str) -> str:
        c, plan_id = self.plans, self.seeded.plan_id
        async with c.transaction():
            await self._dedupe(c, [event_id], "org.accord.plans.action_line.status_changed")
            await c.fetchrow(
                "SELECT * FROM rollup_lines WHERE action_line_id = $1 FOR UPDATE", line.id
            )
            await c.execute(
                "UPDATE rollup_lines SET status = $2, completed_on = NULL, version = $3 "
                "WHERE action_line_id = $1",
                line.id,
                new,
                version,
            )
            await self._counters(c, line.scopes)
            # Lines leave the old bucket and enter the new one in each scope; rows in one
            # order, so concurrent changes lock them in the same order.
            moves = sorted((s, st, d) for s in line.scopes for st, d in ((old, -1.0), (new, 1.0)))
            await c.execute(
                "INSERT INTO rollup_buckets (plan_id, scope, status, ahead, count, weight) "
                "SELECT $1::uuid, * FROM unnest($2::text[], $3::text[], $4::bool[], "
                "$5::float8[], $6::float8[]) "
                "ON CONFLICT (plan_id, scope, status, ahead) DO UPDATE SET "
                "count = rollup_buckets.count + excluded.count, "
                "weight = rollup_buckets.weight + excluded.weight",
                plan_id,
                [m[0] for m in moves],
                [m[1] for m in moves],
                [False] * len(moves),
                [m[2] for m in moves],
                [m[2] for m in moves],
            )
            await self._counters(c, line.scopes)
            await c.fetchrow("SELECT * FROM counting_rules WHERE is_default ORDER BY version DESC")
            rollup_id = str(uuid.uuid4())
            payload = self.seeded.rollup_changed.replace(EVENT_ID, rollup_id, 1)
            await self._outbox(c, rollup_id, payload, "rollup.changed")
        return rollup_id

    async def meetings_read_model(
        self, line: Line, old: str, new: str, version: int, event_id: str
    ) -> None:
        c, plan_id = self.meetings, self.seeded.plan_id
        async with c.transaction():
            await self._dedupe(c, [event_id], "org.accord.plans.action_line.status_changed")
            await c.execute(
                "INSERT INTO known_action_lines (action_line_id, plan_id, initial_status, code, "
                "section_path, status, version) VALUES ($1, $2, $3, $4, '{}', $5, $6) "
                "ON CONFLICT (action_line_id) DO UPDATE SET code = excluded.code, "
                "section_path = excluded.section_path, status = excluded.status, "
                "version = excluded.version WHERE known_action_lines.version <= $6",
                line.id,
                plan_id,
                old,
                line.code,
                new,
                version,
            )
            await c.execute(
                "INSERT INTO known_status_changes (plan_id, action_line_id, old_status, "
                "new_status, effective_date, version) VALUES ($1, $2, $3, $4, $5, $6)",
                plan_id,
                line.id,
                old,
                new,
                date.today(),
                version,
            )

    async def take_in(self, line: Line, old: str, new: str, event_id: str, payload: str) -> int:
        c, plan_id = self.notifications, self.seeded.plan_id
        event_type = "org.accord.plans.action_line.status_changed"
        data = json.dumps(json.loads(payload)["data"])
        async with c.transaction():
            await self._dedupe(c, [event_id], event_type)
            row_id, received_at = await self._receive(
                c, event_id, event_type, f"action-lines/{line.id}", data
            )
            await c.execute(
                "INSERT INTO plan_nodes (id, kind, plan_id, code, name, section_path, tags, "
                "status) VALUES ($1, 'action_line', $2, $3, $4, '{}', $5, $6) "
                "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, plan_id = excluded.plan_id, "
                "code = excluded.code, section_path = excluded.section_path, "
                "tags = excluded.tags, status = excluded.status",
                line.id,
                plan_id,
                line.code,
                line.code,  # a status change carries no text: the line's code names it
                line.tags,
                new,
            )
            kinds = ["plan", "action_line", *(["tag"] * len(line.tags))]
            await self._subscriptions(c, kinds, [str(plan_id), str(line.id), *line.tags])
            await c.fetch(
                "SELECT id, name FROM plan_nodes WHERE id = ANY($1::uuid[])", [plan_id, line.id]
            )
            await c.fetch(
                "SELECT code FROM delegations WHERE code = ANY($1::text[]) ORDER BY code "
                "FOR UPDATE",
                [DELEGATION],
            )
            seq = await c.fetchrow(
                "UPDATE delegations SET stream_seq = stream_seq + 1 WHERE code = ANY($1::text[]) "
                "RETURNING code, stream_seq",
                [DELEGATION],
            )
            await c.execute(
                "INSERT INTO inbox_entries (delegation_code, seq, event_row_id, event_type, "
                "title, body, channels, critical) VALUES ($1, $2, $3, $4, $5, $6, $7, false) "
                "ON CONFLICT DO NOTHING",
                DELEGATION,
                seq["stream_seq"],
                row_id,
                event_type,
                f"Action line {line.code}: {old.replace('_', ' ')} -> {new}",
                f"The raw loop's plan: action line {line.code} (Action line {line.code}) is now "
                f"{new} (was {old.replace('_', ' ')}), effective {date.today()}.",
                ["inbox", "stream"],
            )
            await c.execute("SELECT pg_notify('accord_inbox', '')")
            await c.fetch(
                "SELECT id, delegation_code, event_types FROM endpoints "
                "WHERE delegation_code = ANY($1::text[])",
                [DELEGATION],
            )
            delivery_id: int = await c.fetchval(
                "INSERT INTO deliveries (webhook_id, event_row_id, endpoint_id, delegation_code, "
                "subject, status, tries, attempts_total, next_attempt_at) "
                "VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6) "
                "ON CONFLICT DO NOTHING RETURNING id",
                f"msg_{uuid.uuid4().hex}",
                row_id,
                self.seeded.endpoint_id,
                DELEGATION,
                f"action-lines/{line.id}",
                received_at,
            )
            await c.execute("SELECT pg_notify('accord_deliveries', '')")
        return delivery_id

    async def take_in_rollup(self, event_id: str) -> None:
        c, plan_id = self.notifications, self.seeded.plan_id
        event_type = "org.accord.plans.rollup.changed"
        data = json.dumps(json.loads(self.seeded.rollup_changed)["data"])
        async with c.transaction():
            await self._dedupe(c, [event_id], event_type)
            await self._receive(c, event_id, event_type, f"plans/{plan_id}/rollups", data)
            await self._subscriptions(c, ["plan", "tag", "tag"], [str(plan_id), "tag-1", "all"])

    async def record_delivery(self, delivery_id: int) -> None:
        c = self.notifications
        async with c.transaction():
            await c.execute(
                "INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, "
                "latency_ms, error) VALUES ($1, now(), 204, 1.0, NULL)",
                delivery_id,
            )
            await c.execute(
                "UPDATE deliveries SET status = 'succeeded', next_attempt_at = NULL, "
                "last_status_code = 204, last_error = NULL, succeeded_at = now() WHERE id = $1",
                delivery_id,
            )
            await c.execute("SELECT pg_notify('accord_deliveries', '')")
            await c.execute(
                "UPDATE endpoints SET failing_since = NULL, warned_at = NULL "
                "WHERE id = ANY($1::uuid[]) AND failing_since IS NOT NULL",
                [self.seeded.endpoint_id],
            )

    async def _outbox(self, c: asyncpg.Connection, event_id: str, payload: str, kind: str) -> None:
        await c.execute(
            "INSERT INTO outbox (event_id, topic, key, event_type, payload) "
            "VALUES ($1, $2, $3, $4, $5)",
            uuid.UUID(event_id),
            PLANS_EVENTS,
            str(self.seeded.plan_id),
            f"org.accord.plans.{kind}",
            payload.encode(),
        )

    async def _receive(
        self, c: asyncpg.Connection, event_id: str, event_type: str, subject: str, data: str
    ) -> asyncpg.Record:
        return await c.fetchrow(
            "INSERT INTO received_events (event_id, event_type, plan_id, subject, data, "
            "occurred_at) VALUES ($1, $2, $3, $4, $5::jsonb, now()) RETURNING id, received_at",
            event_id,
            event_type,
            self.seeded.plan_id,
            subject,
            data,
        )

    @staticmethod
    async def _dedupe(c: asyncpg.Connection, event_ids: list[str], event_type: str) -> None:
        await c.fetch(
            "INSERT INTO processed_events (event_id, event_type) "
            "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING "
            "RETURNING event_id",
            event_ids,
            [event_type] * len(event_ids),
        )

    async def _counters(self, c: asyncpg.Connection, scopes: list[str]) -> None:
        for table in ("rollup_buckets", "rollup_open_targets"):
            await c.fetch(
                f"SELECT * FROM {table} WHERE plan_id = $1 AND scope = ANY($2::text[])",
                self.seeded.plan_id,
                scopes,
            )

    @staticmethod
    async def _subscriptions(c: asyncpg.Connection, kinds: list[str], keys: list[str]) -> None:
        await c.fetch(
            "SELECT * FROM subscriptions WHERE (target_kind, target_key) IN "
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            kinds,
            keys,
        )


async def measure(system: System, changes: int, concurrency: int) -> dict[str, Any]:
    """``changes`` status changes, each through all six transactions, ``concurrency`` at a
    time (one connection per database each), on databases of their own."""
    urls = {
        name: await system.database(f"accord_bench_raw_{name}", name)
        for name in ("plans", "meetings", "notifications")
    }
    seeded = await seed(urls, changes, system.sink.url())
    pools = {
        name: await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=concurrency, max_size=concurrency
        )
        for name, url in urls.items()
    }
    queue: asyncio.Queue[Line] = asyncio.Queue()
    for line in seeded.lines:
        queue.put_nowait(line)

    async def worker() -> None:
        async with (
            pools["plans"].acquire() as plans,
            pools["meetings"].acquire() as meetings,
            pools["notifications"].acquire() as notifications,
        ):
            change = RawChange(
                {"plans": plans, "meetings": meetings, "notifications": notifications}, seeded
            )
            while not queue.empty():
                await change.run(queue.get_nowait())

    try:
        elapsed = stopwatch()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = elapsed()
    finally:
        for pool in pools.values():
            await pool.close()
    return {
        "changes": changes,
        "concurrency": concurrency,
        "transactions_per_change": TRANSACTIONS_PER_CHANGE,
        "seconds": round(seconds, 2),
        "per_s": per_second(changes, seconds),
        "status_changed_event_bytes": len(seeded.status_changed.encode()),
        "rollup_changed_event_bytes": len(seeded.rollup_changed.encode()),
    }
