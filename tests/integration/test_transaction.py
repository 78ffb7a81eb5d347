"""``shared.transaction``: a hot command's transaction without a session commits or rolls back
as a session's would, fails as SQLAlchemy fails, gives a cleanly ended connection back to the
engine's pool and closes one whose state is unknown."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, event, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.prepared import Prepared
from shared.transaction import transaction
from tests.support.databases import cancel_once_begun, engine_with_tables, transactions_left_open
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration

NOTES = Table(
    "notes",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("text", String(100)),
)
ADD_NOTE = Prepared(insert(NOTES).values(id=bindparam("id"), text=bindparam("text")))
ALL_NOTES = Prepared(select(NOTES.c.id, NOTES.c.text).order_by(NOTES.c.id))


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    async with engine_with_tables(infra, "transaction", NOTES.metadata) as engine:
        yield engine


async def _notes(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with transaction(engine) as work:
        return [(row.id, row.text) for row in await ALL_NOTES.fetch(work)]


def _count_connects(engine: AsyncEngine) -> list[object]:
    made: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda *_: made.append(None))
    return made


async def test_the_block_commits_when_it_ends_and_rolls_back_when_it_raises(
    engine: AsyncEngine,
) -> None:
    async with transaction(engine) as work:
        await ADD_NOTE.execute(work, {"id": 1, "text": "committed"})
        assert await _notes(engine) == []  # another transaction: not committed yet
    with pytest.raises(LookupError):
        async with transaction(engine) as work:
            await ADD_NOTE.execute(work, {"id": 2, "text": "rolled back"})
            raise LookupError("the command refused")
    assert await _notes(engine) == [(1, "committed")]


async def test_a_broken_constraint_is_an_integrity_error_and_the_connection_is_reused(
    engine: AsyncEngine,
) -> None:
    await _notes(engine)  # the pool holds a connection
    connects = _count_connects(engine)
    with pytest.raises(IntegrityError):
        async with transaction(engine) as work:
            await ADD_NOTE.execute(work, {"id": 1, "text": "kept until the error"})
            await ADD_NOTE.execute(work, {"id": 1, "text": "the same key again"})
    assert await _notes(engine) == []
    assert connects == []  # rolled back cleanly: the connection went back to the pool
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_transaction_cancelled_once_begun_closes_its_connection(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled once the server has begun the transaction (a stopped request, a timeout),
    the connection's state is unknown: it must not go back to the pool, where the next user
    would write inside a transaction nobody commits, holding its locks."""

    async def write() -> None:
        async with transaction(engine) as work:
            await ADD_NOTE.execute(work, {"id": 0, "text": "never written"})

    await cancel_once_begun(write, monkeypatch)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    for n in range(1, 6):  # more transactions than the pool holds connections
        async with transaction(engine) as work:
            await ADD_NOTE.execute(work, {"id": n, "text": f"transaction {n}"})
    assert await _notes(engine) == [(n, f"transaction {n}") for n in range(1, 6)]
    assert await transactions_left_open(engine) == 0


async def test_a_refusal_while_connecting_is_sqlalchemys_error_as_with_a_session(
    infra: Infrastructure,
) -> None:
    """The server refusing the connection (here: no such database; also "starting up" while
    it restarts) reaches a session as SQLAlchemy's ``DBAPIError``, which the API answers 503.
    Taken from the pool directly, it came as the driver adapter's own error class: a 500."""
    engine = make_engine(infra.postgres.url("accord_no_such_database"), pool_size=1)
    try:
        with pytest.raises(DBAPIError) as caught:
            async with transaction(engine):
                pass
        assert isinstance(caught.value.orig, engine.dialect.loaded_dbapi.Error)
    finally:
        await engine.dispose()
