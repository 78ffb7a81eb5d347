"""The peers of the API write path: the smallest FastAPI apps that answer the status-change
route's PATCH (a JSON body pydantic parses, answered with JSON), without token check or
middleware.

    .venv/bin/python -m tests.benchmarks.bare_api --port 8099 [--database DSN]

With ``--database`` it is the fair peer: the same database work as the route, in one
transaction on a raw asyncpg pool (lock and update the line, append its journal row, stage
the outbox row of its event), answering the line with the service's own response model. Without, it touches no
database: a figure for information (what HTTP and pydantic alone cost).

It is served exactly as ``shared/cli.py`` serves the services (same ``uvicorn.run``
arguments), so that the ratio measures what the services do per request, not the server.
"""

import argparse
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from services.plans.schemas import ActionLineRead
from shared.topics import PLANS_EVENTS

DATABASE = "ACCORD_BARE_API_DATABASE"  # the DSN, handed to the factory through the environment
LINE_COLUMNS = (
    "id, plan_id, section_id, code, ordering_key, text, leads, tags, target_date, weight, "
    "status, version, carried_over_from, carried_over_to, updated_at"
)


class StatusChange(BaseModel):
    status: str
    expected_version: int


class Changed(BaseModel):
    id: uuid.UUID
    status: str
    version: int


def _event(line: asyncpg.Record, old: str, journal_id: int) -> tuple[uuid.UUID, bytes]:
    """A CloudEvent of the size the service writes (structured mode, JSON)."""
    event_id = uuid.uuid4()
    now = datetime.now(UTC).isoformat()
    data = {
        "plan_id": str(line["plan_id"]),
        "action_line_id": str(line["id"]),
        "section_path": [],
        "code": line["code"],
        "tags": line["tags"],
        "leads": line["leads"],
        "old_status": old,
        "new_status": line["status"],
        "version": line["version"],
        "effective_date": date.today().isoformat(),
        "target_date": line["target_date"].isoformat() if line["target_date"] else None,
        "actor": "bench-secretariat",
        "source": {"kind": "api", "id": None},
        "journal_entry_id": journal_id,
        "changed_at": now,
    }
    event = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": "/accord/plans",
        "type": "org.accord.plans.action_line.status_changed",
        "subject": f"action-lines/{line['id']}",
        "time": now,
        "datacontenttype": "application/json",
        "dataschema": "urn:accord:plans:action_line.status_changed:1",
        "data": data,
    }
    return event_id, json.dumps(event).encode()


def create() -> FastAPI:
    dsn = os.environ.get(DATABASE)
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        if dsn:
            # As many connections as the services' engines may open (shared/db.py).
            pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        yield
        if pool is not None:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    if dsn:

        @app.patch("/action-lines/{line_id}/status")
        async def change_with_database(line_id: uuid.UUID, body: StatusChange) -> ActionLineRead:
            assert pool is not None
            async with pool.acquire() as c, c.transaction():
                found = await c.fetchrow(
                    "SELECT status, version FROM action_lines WHERE id = $1 FOR UPDATE", line_id
                )
                if found is None:
                    raise HTTPException(404)
                if found["version"] != body.expected_version:
                    raise HTTPException(409)
                line = await c.fetchrow(
                    "UPDATE action_lines SET status = $2, version = version + 1, "
                    f"updated_at = now() WHERE id = $1 RETURNING {LINE_COLUMNS}",
                    line_id,
                    body.status,
                )
                journal_id = await c.fetchval(
                    "INSERT INTO status_journal (plan_id, action_line_id, from_status, "
                    "to_status, version, effective_date, actor, note, source_kind, source_id) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'bench-secretariat', NULL, 'api', NULL) "
                    "RETURNING id",
                    line["plan_id"],
                    line_id,
                    found["status"],
                    body.status,
                    line["version"],
                    date.today(),
                )
                event_id, payload = _event(line, found["status"], journal_id)
                await c.execute(
                    "INSERT INTO outbox (event_id, topic, key, event_type, payload) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    event_id,
                    PLANS_EVENTS,
                    str(line["plan_id"]),
                    "org.accord.plans.action_line.status_changed",
                    payload,
                )
            return ActionLineRead.model_validate(dict(line))

    else:

        @app.patch("/action-lines/{line_id}/status")
        async def change(line_id: uuid.UUID, body: StatusChange) -> Changed:
            return Changed(id=line_id, status=body.status, version=body.expected_version + 1)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", help="asyncpg DSN of a database with plans' schema")
    args = parser.parse_args()
    if args.database:
        os.environ[DATABASE] = args.database
    # The arguments of shared/cli.py's ``serve``.
    uvicorn.run(
        "tests.benchmarks.bare_api:create",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
