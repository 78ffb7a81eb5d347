"""``shared.db.insert_many``: few rows go in by INSERT, many by COPY. Both must store the same
values (a copy skips SQLAlchemy's type processing), and a copy that fails must fail as an
INSERT would, inside the caller's transaction."""

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import (
    ARRAY,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import (
    COPY_FROM_ROWS,
    insert_many,
    is_database_unavailable,
    make_session_factory,
)
from tests.support.databases import engine_with_tables
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration

TABLE = Table(
    "rows",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("number", Integer, nullable=False),
    Column("tags", ARRAY(String(100)), nullable=False),
    Column("weight", Numeric(10, 4, asdecimal=False), nullable=False),
    Column("due", Date),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    async with engine_with_tables(infra, "insert_many", TABLE.metadata) as engine:
        yield engine


def _rows(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "number": n,
            "tags": ["health", f"tag {n}"] if n % 2 else [],
            "weight": 2.5 if n % 3 else 1,
            "due": date(2020, 9, 15) if n % 5 else None,
            "payload": f"event {n}".encode(),
        }
        for n in range(first, first + count)
    ]


async def _stored(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        found = await connection.execute(select(TABLE).order_by(TABLE.c.number))
        return [dict(row._mapping) for row in found]


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS + 500])
async def test_rows_are_stored_as_given_whether_inserted_or_copied(
    engine: AsyncEngine, count: int
) -> None:
    rows = _rows(count)
    async with make_session_factory(engine)() as session, session.begin():
        await insert_many(session, TABLE, rows)

    stored = await _stored(engine)
    assert [{k: v for k, v in row.items() if k != "created_at"} for row in stored] == rows
    assert all(row["created_at"] is not None for row in stored)  # the server default applied


async def test_a_copy_that_breaks_a_constraint_raises_an_integrity_error_and_leaves_nothing(
    engine: AsyncEngine,
) -> None:
    rows = _rows(COPY_FROM_ROWS + 10)
    rows[-1]["id"] = rows[0]["id"]
    with pytest.raises(IntegrityError):
        async with make_session_factory(engine)() as session, session.begin():
            await insert_many(session, TABLE, _rows(2, first=10_000))  # before it, same transaction
            await insert_many(session, TABLE, rows)
    assert await _stored(engine) == []

    # The connection is usable again (it went back to the pool after the rollback).
    async with make_session_factory(engine)() as session, session.begin():
        await insert_many(session, TABLE, _rows(COPY_FROM_ROWS))
    assert len(await _stored(engine)) == COPY_FROM_ROWS


@pytest.mark.parametrize("side", ["server", "client"])
async def test_a_copy_whose_connection_is_lost_fails_as_the_database_being_unavailable(
    engine: AsyncEngine, side: str
) -> None:
    """What the API answers 503 to and a consumer waits out, as for a failed INSERT: the server
    ending the session (an error with its SQLSTATE) or the connection gone without one."""
    with pytest.raises(DBAPIError) as failed:
        async with make_session_factory(engine)() as session, session.begin():
            connection = await session.connection()
            if side == "server":
                backend = await session.scalar(text("SELECT pg_backend_pid()"))
                async with engine.connect() as other:
                    await other.execute(text(f"SELECT pg_terminate_backend({backend})"))
            else:
                (await connection.get_raw_connection()).driver_connection.terminate()
            await insert_many(session, TABLE, _rows(COPY_FROM_ROWS))
    assert is_database_unavailable(failed.value)

    # The pool does not hand the dead connection out again.
    async with make_session_factory(engine)() as session, session.begin():
        await insert_many(session, TABLE, _rows(COPY_FROM_ROWS))
    assert len(await _stored(engine)) == COPY_FROM_ROWS
