"""Pooled connections are tested only after sitting idle (shared/db.py, decision 40): a busy
service does not pay three round trips per transaction, and a connection whose server went
away while it sat in the pool is still replaced before use, never handed to a request. Under
more load than the pool holds, its connections are kept, not opened and closed per request
(decision 49)."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, text

from shared import db
from shared.db import asyncpg_dsn, make_engine
from tests.support.databases import empty_database
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


async def test_connections_reused_at_once_are_not_tested(
    infra: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(await empty_database(infra, "pool_ping"), pool_size=4)
    pings = []
    original = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or original(c))
    try:
        for _ in range(20):
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT 1")) == 1
        assert pings == []
        monkeypatch.setattr(db, "TEST_AFTER_IDLE_SECONDS", 0.2)
        await asyncio.sleep(0.3)
        async with engine.connect() as connection:
            await connection.scalar(text("SELECT 1"))
        assert len(pings) == 1, "an idle connection is tested before use"
    finally:
        await engine.dispose()


async def test_a_connection_dead_in_the_pool_is_replaced_before_use(
    infra: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "TEST_AFTER_IDLE_SECONDS", 0.2)
    url = await empty_database(infra, "pool_ping")
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            before = await connection.scalar(text("SELECT pg_backend_pid()"))
        # The server ends the pooled connection's backend, as a restart would.
        admin = await asyncpg.connect(asyncpg_dsn(url))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", before)
        finally:
            await admin.close()
        await asyncio.sleep(0.3)
        async with engine.connect() as connection:
            after = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert after != before
    finally:
        await engine.dispose()


async def test_the_pool_keeps_every_connection_it_opens_under_more_load_than_it_holds(
    infra: Infrastructure,
) -> None:
    engine = make_engine(await empty_database(infra, "pool_keeps"), pool_size=4)
    opened, closed = [], []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))
    event.listen(engine.sync_engine, "close", lambda *_: closed.append(1))
    in_flight, most = 0, 0

    async def request() -> None:
        nonlocal in_flight, most
        async with engine.connect() as connection:
            in_flight += 1
            most = max(most, in_flight)
            await connection.scalar(text("SELECT pg_sleep(0.02)"))
            in_flight -= 1

    try:
        for _ in range(3):  # waves of twice as many requests as the pool holds
            await asyncio.gather(*(request() for _ in range(8)))
        # An overflow connection would have been opened for a request and closed after it.
        assert (len(opened), closed, most) == (4, [], 4)
    finally:
        await engine.dispose()
