"""Hot statements run on the asyncpg connection of a session's transaction (or of a
``shared.transaction.Transaction``, a hot command's without a session), compiled once.

Why: SQLAlchemy's execution layer (the session's ``execute``, the compiled cache's lookup, the
result's processing) costs more Python than the round trip itself: a short SELECT took 508 us
through ``AsyncSession.execute`` against 241 us sent to asyncpg in the same transaction on this
machine, and a consumer's take-in of a status change runs a dozen statements. A ``Prepared``
statement is written with SQLAlchemy's constructs (checked against the tables, readable like
the rest) and compiled once to PostgreSQL's SQL; each run binds its parameters through their
types' own processors (JSON is encoded as SQLAlchemy would) and goes to asyncpg, which keeps
it prepared per connection.

A transaction's first statement may be one: SQLAlchemy's asyncpg adapter sends BEGIN with
the first statement it runs, not when the session begins, so a ``Prepared`` statement that
finds no transaction on its connection starts it the way the adapter would (its isolation
level, then BEGIN), and the session commits or rolls it back as its own.

What differs from ``session.execute``:
- rows are asyncpg ``Record``s read by column name or as attributes (``Row``), holding
  asyncpg's values (no result processing: a ``NUMERIC`` reads as a ``Decimal`` whatever the
  column's ``asdecimal``);
- the session's pending ORM changes are flushed first, since its autoflush does not see these
  statements; the ORM's identity map does not see what they change either, so use them for
  tables the caller does not also hold as ORM objects in that session;
- no expanding parameters (``IN`` lists): use ``shared.db.is_any_of_parameter``.
Errors are raised as SQLAlchemy raises a failed statement's (``shared.db.statement_error``),
so that callers classify them as they do for any other.
"""

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import is_exit_exception

from shared import tracing
from shared.db import DRIVER_ERRORS, as_statement_error, statement_error
from shared.transaction import Transaction

_Bind = tuple[str, Any, Callable[[Any], Any] | None]  # name, value if not given, processor
# What a statement runs in: a session's transaction, or one driven by asyncpg directly.
Runs = AsyncSession | Transaction
_NOT_GIVEN = object()


class Row(asyncpg.Record):
    """A row, read by column name (``row["status"]``) or as an attribute (``row.status``, as
    SQLAlchemy's rows are): asyncpg's record, returned as this class."""

    def __getattr__(self, column: str) -> Any:
        try:
            return self[column]
        except KeyError:
            raise AttributeError(column) from None


class Prepared:
    """One statement; ``fetch``, ``fetchrow`` or ``execute`` it in a session's transaction
    with its parameters by name."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        # Compiled at the first run, for the dialect of the connection it runs on.
        self._sql = ""
        self._binds: list[_Bind] = []
        self._operation = ""

    @property
    def statement(self) -> Executable:
        """The construct it runs (to inspect it, e.g. its plan)."""
        return self._statement

    async def fetch(self, on: Runs, params: Mapping[str, Any] | None = None) -> list[Row]:
        rows: list[Row] = await self._run(on, params, "fetch", record_class=Row)
        return rows

    async def fetchrow(self, on: Runs, params: Mapping[str, Any] | None = None) -> Row | None:
        row: Row | None = await self._run(on, params, "fetchrow", record_class=Row)
        return row

    async def execute(self, on: Runs, params: Mapping[str, Any] | None = None) -> None:
        await self._run(on, params, "execute")

    async def _run(
        self, on: Runs, params: Mapping[str, Any] | None, how: str, **options: Any
    ) -> Any:
        if isinstance(on, Transaction):
            # Its context manager closes the connection of a statement interrupted in flight.
            args = self._arguments(on.dialect, params)
            try:
                return await self._send(on.driver, on.database, args, how, options)
            except DRIVER_ERRORS as exc:
                raise statement_error(exc, self._sql) from exc
        session = on
        if session.new or session.dirty or session.deleted:
            await session.flush()
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, asyncpg.Connection), "Prepared runs on asyncpg connections"
        args = self._arguments(connection.dialect, params)
        try:
            if not driver.is_in_transaction():
                await _begin(connection, raw.dbapi_connection, driver)
            database = connection.engine.url.database or ""
            try:
                return await self._send(driver, database, args, how, options)
            except DRIVER_ERRORS as exc:
                raise await as_statement_error(connection, exc, self._sql) from exc
        except BaseException as exc:
            if is_exit_exception(exc):
                await _discard(connection, exc)
            raise

    def _arguments(self, dialect: Dialect, params: Mapping[str, Any] | None) -> list[Any]:
        if not self._sql:
            self._compile(dialect)
        given = params or {}
        args = []
        for name, default, process in self._binds:
            value = given.get(name, default)
            if value is _NOT_GIVEN:
                raise KeyError(f"no value for the parameter {name!r} of {self._sql[:60]!r}")
            args.append(value if process is None else process(value))
        return args

    async def _send(
        self,
        driver: asyncpg.Connection,
        database: str,
        args: list[Any],
        how: str,
        options: dict[str, Any],
    ) -> Any:
        with tracing.statement_span(self._operation, database):
            return await getattr(driver, how)(self._sql, *args, **options)

    def _compile(self, dialect: Dialect) -> None:
        assert isinstance(self._statement, ClauseElement)
        compiled = self._statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
        if compiled.post_compile_params:
            raise ValueError("a Prepared statement cannot have expanding parameters")
        self._binds = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            default = _NOT_GIVEN if bind.required else bind.value
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._binds.append((name, default, process))
        self._sql = str(compiled)
        self._operation = self._sql.split(None, 1)[0].upper()


async def _discard(connection: AsyncConnection, exc: BaseException) -> None:
    """Close the connection of a statement (or its BEGIN) interrupted in flight, mostly by
    the task's cancellation, so that the pool opens a new one instead of taking it back. Its
    state is unknown: the server may have begun a transaction that SQLAlchemy's adapter was
    not told of, which its commit and rollback would then leave open, with every later
    session's work on it never committed and its locks held (a stopped dispatcher left one
    so in the benchmark, and the next stalled behind it). SQLAlchemy does the same for a
    statement of its own interrupted so. Shielded: a second cancellation must not stop it
    half way."""
    with contextlib.suppress(Exception):
        await asyncio.shield(connection.invalidate(exc))


async def _begin(connection: AsyncConnection, adapter: Any, driver: asyncpg.Connection) -> None:
    """Start the session's transaction on its connection as SQLAlchemy's asyncpg adapter
    starts it before the first statement it runs (``_start_transaction``: BEGIN with the
    session's isolation level), so that the adapter commits or rolls it back with the session.
    Sent to asyncpg without it, a statement would run and commit on its own. (The adapter's
    method is private: SQLAlchemy is pinned, and ``tests/integration/test_prepared.py`` fails
    if it stops doing this.)"""
    try:
        await adapter._start_transaction()
    except Exception as exc:  # the adapter's own error class, raised from asyncpg's
        raise await as_statement_error(connection, exc.__cause__ or exc, "BEGIN") from exc
    if not driver.is_in_transaction():
        raise RuntimeError("Prepared statements need a transaction (not an autocommit connection)")
