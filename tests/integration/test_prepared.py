"""``shared.prepared.Prepared``: a statement sent to asyncpg directly must still be part of the
session's transaction (SQLAlchemy sends BEGIN only with its first statement), see what the
session has pending, encode its parameters as SQLAlchemy would, and fail as a statement run
through SQLAlchemy fails."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, event, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import make_session_factory
from shared.prepared import Prepared
from tests.support.databases import cancel_once_begun, engine_with_tables, transactions_left_open
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


class _Base(DeclarativeBase):
    metadata = MetaData()


class Note(_Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


DOCS = Table(
    "docs",
    _Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("body", JSONB(none_as_null=True)),
)

ADD_NOTE = Prepared(insert(Note.__table__).values(id=bindparam("id"), text=bindparam("text")))
NOTES = Prepared(select(Note.__table__.c.id, Note.__table__.c.text).order_by(Note.__table__.c.id))
ADD_DOC = Prepared(insert(DOCS).values(id=bindparam("id"), body=bindparam("body")))
DOC_BODIES = Prepared(
    select(DOCS.c.id, DOCS.c.body, DOCS.c.body.is_(None).label("is_null")).order_by(DOCS.c.id)
)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    async with engine_with_tables(infra, "prepared", _Base.metadata) as engine:
        yield engine


async def _notes(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with make_session_factory(engine)() as session:
        return [(row["id"], row["text"]) for row in await NOTES.fetch(session)]


async def test_statements_first_or_later_in_a_transaction_roll_back_with_it(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        await ADD_NOTE.execute(session, {"id": 1, "text": "first statement"})
        await ADD_NOTE.execute(session, {"id": 2, "text": "second statement"})
        await session.rollback()
    assert await _notes(engine) == []
    async with sessions() as session, session.begin():
        await ADD_NOTE.execute(session, {"id": 1, "text": "first statement"})
        await ADD_NOTE.execute(session, {"id": 2, "text": "second statement"})
    assert await _notes(engine) == [(1, "first statement"), (2, "second statement")]


async def test_a_first_statement_sent_to_asyncpg_begins_the_sessions_transaction(
    engine: AsyncEngine,
) -> None:
    """SQLAlchemy sends BEGIN with the first statement it runs: a ``Prepared`` statement that
    comes first begins the transaction itself, so what it writes stays unseen by others until
    the session commits (sent alone, it would have committed at once)."""
    through_sqlalchemy: list[str] = []

    def seen(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        through_sqlalchemy.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            await ADD_NOTE.execute(session, {"id": 1, "text": "first statement"})
            rows = await NOTES.fetch(session)
            assert [(row.id, row.text) for row in rows] == [(1, "first statement")]
            assert await _notes(engine) == []  # another session: not committed yet
        assert await _notes(engine) == [(1, "first statement")]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert through_sqlalchemy == []


async def test_what_the_session_holds_pending_is_written_first(engine: AsyncEngine) -> None:
    async with make_session_factory(engine)() as session, session.begin():
        await ADD_NOTE.execute(session, {"id": 1, "text": "starts the transaction"})
        session.add(Note(id=2, text="pending in the session"))
        rows = await NOTES.fetch(session)
        assert [row["text"] for row in rows] == ["starts the transaction", "pending in the session"]


async def test_json_parameters_are_encoded_as_sqlalchemy_encodes_them(engine: AsyncEngine) -> None:
    async with make_session_factory(engine)() as session, session.begin():
        await session.execute(insert(DOCS), {"id": 1, "body": {"a": [1, "x"]}})  # SQLAlchemy
        await ADD_DOC.execute(session, {"id": 2, "body": {"a": [1, "x"]}})  # to asyncpg
        await ADD_DOC.execute(session, {"id": 3, "body": None})
        rows = await DOC_BODIES.fetch(session)
    assert [(r["id"], r["body"], r["is_null"]) for r in rows] == [
        (1, {"a": [1, "x"]}, False),
        (2, {"a": [1, "x"]}, False),
        (3, None, True),  # SQL NULL, as the column's none_as_null says, not JSON's null
    ]


async def test_a_broken_constraint_is_an_integrity_error_and_the_transaction_is_undone(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(IntegrityError):
        async with make_session_factory(engine)() as session, session.begin():
            await ADD_NOTE.execute(session, {"id": 1, "text": "kept until the error"})
            await ADD_NOTE.execute(session, {"id": 1, "text": "the same key again"})
    assert await _notes(engine) == []


async def test_a_missing_parameter_is_refused_before_anything_is_sent(
    engine: AsyncEngine,
) -> None:
    async with make_session_factory(engine)() as session, session.begin():
        await ADD_NOTE.execute(session, {"id": 1, "text": "starts the transaction"})
        with pytest.raises(KeyError, match="text"):
            await ADD_NOTE.execute(session, {"id": 2})


async def test_a_statement_cancelled_as_its_begin_is_answered_leaves_no_transaction_behind(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task cancelled once the server has begun the transaction but before SQLAlchemy's
    adapter has learnt of it (a consumer or dispatcher stopped, a timeout) must not hand a
    connection back to the pool inside that transaction: whatever later sessions wrote on it
    would never commit, while they went on as if it had, and its locks would stay held."""
    sessions = make_session_factory(engine)

    async def write() -> None:
        async with sessions() as session, session.begin():
            await ADD_NOTE.execute(session, {"id": 0, "text": "never written"})

    # Cancelled once BEGIN is answered, before the adapter is told.
    await cancel_once_begun(write, monkeypatch)

    # More sessions than the pool holds connections: one of them gets the one handed back.
    for n in range(1, 4):
        async with sessions() as session, session.begin():
            await ADD_NOTE.execute(session, {"id": n, "text": f"session {n}"})
    assert await _notes(engine) == [(n, f"session {n}") for n in range(1, 4)]
    assert await transactions_left_open(engine) == 0
