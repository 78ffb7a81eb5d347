"""Async engine and session helpers shared by the services.

The engine is made in the application's lifespan, never at import time. Sessions do not
expire objects on commit, so a handler can return what it just committed.
"""

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    MetaData,
    Table,
    any_,
    bindparam,
    event,
    func,
    insert,
    literal,
)
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    InvalidatePoolError,
    OperationalError,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

log = structlog.get_logger(__name__)

# Constraint names follow one convention so that migrations are predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# How to lock a row that is about to change but keeps its key: ``FOR NO KEY UPDATE`` (SQLAlchemy
# spells it ``key_share=True``). Inserting a row that references it takes ``FOR KEY SHARE`` on
# it, which ``FOR UPDATE`` waits for and ``FOR NO KEY UPDATE`` does not: with ``FOR UPDATE``, a
# transaction locking rows that another one is referencing, in another order, deadlocked with
# it (a consumer's fan-out inserting deliveries while the dispatcher locked their endpoints).
# ``FOR UPDATE`` stays for rows about to be deleted or to get a new key (none are, today).
# Use as ``select(...).with_for_update(**NO_KEY_UPDATE)`` or
# ``session.get(Model, id, with_for_update=NO_KEY_UPDATE)``.
NO_KEY_UPDATE: dict[str, Any] = {"key_share": True}


def is_any_of(column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """``column = ANY($1)`` with the values as one array parameter: unlike ``IN``, the statement
    does not grow with the values (``IN`` renders a parameter per value and compiles anew for
    each count: a fan-out to 10,000 delegations spent a tenth of its time rendering them)."""
    condition: ColumnElement[bool] = column == any_(literal(list(values), ARRAY(column.type)))
    return condition


def is_any_of_parameter(column: Any, name: str) -> ColumnElement[bool]:
    """``is_any_of`` in a statement built once: the values are the parameter ``name`` (a list)
    of each execution. Building a statement anew costs more than running it on a hot path."""
    condition: ColumnElement[bool] = column == any_(bindparam(name, type_=ARRAY(column.type)))
    return condition


def arrays_side_by_side(
    columns: Mapping[str, TypeEngine[Any]], name: str | None = None
) -> TableValuedAlias:
    """Rows from one array parameter per column (each named as its column), unnested side by
    side: a statement built once that takes any number of rows as a fixed set of parameters."""
    arrays = (bindparam(column, type_=ARRAY(type_)) for column, type_ in columns.items())
    return func.unnest(*arrays).table_valued(*columns).render_derived(name)


# From this many rows on, ``insert_many`` copies them: a copy costs an extra round trip (asyncpg
# asks the table's column types first), which an INSERT of a few rows does not.
COPY_FROM_ROWS = 1000


# What asyncpg raises for work sent to it directly: the server's refusal, or a lost connection.
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


async def insert_many(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows that all have the same keys, in the session's transaction; many of them with
    PostgreSQL's ``COPY`` (asyncpg's binary copy). An INSERT of many rows through SQLAlchemy
    builds and converts every row's parameters in Python: over a third of a 100,000-line
    import. A copy sends the values as they are, so they must already be what the columns hold
    (no SQLAlchemy type processing and no Python-side defaults; server defaults apply)."""
    if len(rows) < COPY_FROM_ROWS:
        if rows:
            await session.execute(insert(table), rows)
        return
    await session.flush()  # what the rows may reference (a plan's new sections) goes first
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    columns = list(rows[0])
    try:
        if driver is None:  # only a connection already closed has none
            raise asyncpg.ConnectionDoesNotExistError("the session's connection is closed")
        await driver.copy_records_to_table(
            table.name,
            schema_name=table.schema,
            columns=columns,
            records=[tuple(row[column] for column in columns) for row in rows],
        )
    except DRIVER_ERRORS as exc:
        raise await as_statement_error(connection, exc, f"COPY {table.name}") from exc


def statement_error(exc: BaseException, statement: str) -> DBAPIError:
    """An error asyncpg raised for work sent to it directly (a copy, a ``Prepared``
    statement), as SQLAlchemy raises a failed statement's, so that callers and the API's error
    handlers read it as they read any other: ``IntegrityError`` for a broken constraint, and
    one that is not the server's answer marked as a lost connection."""
    lost = not isinstance(exc, asyncpg.PostgresError)
    error = (
        IntegrityError if isinstance(exc, asyncpg.IntegrityConstraintViolationError) else DBAPIError
    )
    return error(statement, None, exc, connection_invalidated=lost)


async def as_statement_error(
    connection: AsyncConnection, exc: BaseException, statement: str
) -> DBAPIError:
    """``statement_error`` for work sent on a SQLAlchemy connection's driver, the connection
    invalidated if it was lost (as SQLAlchemy does: the pool must not hand it out again)."""
    if not isinstance(exc, asyncpg.PostgresError):
        await connection.invalidate(exc)
    return statement_error(exc, statement)


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


# A restarted PostgreSQL leaves dead connections in the pool, so a connection is tested before
# use, but only one that sat in the pool this long: SQLAlchemy's ``pool_pre_ping`` tests every
# checkout, and with asyncpg a test is three round trips (BEGIN, an empty statement, ROLLBACK),
# as many as a status change's own statements; a busy service reuses its connections within
# milliseconds. A connection that died within this second fails its statement instead, as one
# dying mid-transaction always could: the API answers 503 and the consumers, relay and
# dispatchers try again (decision 40).
TEST_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "accord_returned_at"


def make_engine(
    database_url: str, pool_size: int = 20, connect_args: Mapping[str, Any] | None = None
) -> AsyncEngine:
    """An engine that opens at most ``pool_size`` connections and keeps each it opened (no
    overflow: SQLAlchemy closes an overflow connection as soon as it is returned, so a load
    above the pool's size connected anew for a request in every few, each a new backend and
    a password exchange; at 16 requests in flight on a pool of 10 with 10 of overflow, that
    was a third of a status change's CPU in the API and PostgreSQL together, decision 49).
    ``connect_args``: asyncpg's (TLS, see ``ServiceSettings.database_connect_args``)."""
    engine = create_async_engine(
        database_url,
        connect_args=dict(connect_args or {}),
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
    )
    ping_after_idle(engine)
    return engine


def ping_after_idle(engine: AsyncEngine) -> None:
    """Test a pooled connection on checkout when it has been idle for
    ``TEST_AFTER_IDLE_SECONDS``; a failed test drops every pooled connection, as
    ``pool_pre_ping`` does, and the pool connects anew."""
    dialect = engine.dialect

    def returned(_: object, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _: object) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None:  # a new connection: it has just proved itself
            return
        if time.monotonic() - returned_at < TEST_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError() from exc
            raise

    event.listen(engine.sync_engine, "checkin", returned)
    event.listen(engine.sync_engine, "checkout", checked_out)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(database_url: str) -> str:
    """The plain libpq URL asyncpg accepts, from a SQLAlchemy ``postgresql+asyncpg`` URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


# SQLSTATE classes that say the server, not the statement, is the trouble: 08 connection
# exception, 57P operator intervention (shutting down, restarting, not accepting connections).
_SERVER_TROUBLE = ("08", "57P")
# SQLSTATEs that say the transaction lost a race with another one, and would succeed if tried
# again: 40001 serialization failure, 40P01 deadlock detected, 55P03 lock not available.
_LOST_RACE = ("40001", "40P01", "55P03")


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE PostgreSQL answered with, or "" for an error that is not the server's.
    SQLAlchemy wraps asyncpg's errors (the code is on ``orig``), except some raised while
    connecting, which arrive bare."""
    for error in (exc, getattr(exc, "orig", None)):
        code = getattr(error, "sqlstate", None)
        if isinstance(code, str):
            return code
    return ""


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or is going away (asyncpg raises a refused connection
    as a bare OSError): not the statement's fault; wait for it."""
    if isinstance(exc, (OperationalError, InterfaceError, OSError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return sqlstate(exc).startswith(_SERVER_TROUBLE)


def is_lost_race(exc: BaseException) -> bool:
    """PostgreSQL failed the transaction so that another could go on: trying it again works."""
    return sqlstate(exc) in _LOST_RACE


class DatabaseOutage:
    """Whether the database is away as the API sees it, logged once when it goes (a request
    failed to reach it) and once when it is back (a new connection was made), however many
    requests fail meanwhile."""

    def __init__(self) -> None:
        self.down = False

    def went_down(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("database_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])

    def back(self) -> None:
        if self.down:
            self.down = False
            log.info("database_back")

    def watch(self, engine: AsyncEngine) -> None:
        """Say the database is back when the engine next makes a connection."""
        event.listen(engine.sync_engine, "connect", lambda *_: self.back())
