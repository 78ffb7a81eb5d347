"""Hot statements run on the asyncpg connection of a session's transaction, compiled once.

Why: SQLAlchemy's execution layer (the session's ``execute``, the compiled cache's lookup, the
result's processing) costs more Python than the round trip itself: a short SELECT took 508 us
through ``AsyncSession.execute`` against 241 us sent to asyncpg in the same transaction on this
machine, and a consumer's take-in of a status change runs a dozen statements. A ``Prepared``
statement is written with SQLAlchemy's constructs (checked against the tables, readable like
the rest) and compiled once to PostgreSQL's SQL; each run binds its parameters through their
types' own processors (JSON is encoded as SQLAlchemy would) and goes to asyncpg, which keeps
it prepared per connection.

A transaction's first statement still goes through the session: SQLAlchemy sends BEGIN with
its first statement, not when the session begins, and a statement sent to asyncpg before that
would run and commit on its own. In a consumer's transaction the first is the dedupe insert.

What differs from ``session.execute``:
- rows are read by column name only (``Row``): asyncpg ``Record``s holding asyncpg's values
  (no result processing: a ``NUMERIC`` reads as a ``Decimal`` whatever the column's
  ``asdecimal``), or SQLAlchemy's when the statement went through the session;
- the session's pending ORM changes are flushed first, since its autoflush does not see these
  statements; the ORM's identity map does not see what they change either, so use them for
  tables the caller does not also hold as ORM objects in that session;
- no expanding parameters (``IN`` lists): use ``shared.db.is_any_of_parameter``.
Errors are raised as SQLAlchemy raises a failed statement's (``shared.db.as_statement_error``),
so that callers classify them as they do for any other.
"""

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Dialect, Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from shared import tracing
from shared.db import as_statement_error

_Bind = tuple[str, Any, Callable[[Any], Any] | None]  # name, value if not given, processor
_NOT_GIVEN = object()


class Row(Protocol):
    """A row, read by column name: an asyncpg ``Record``, or SQLAlchemy's ``RowMapping`` when
    the statement was its transaction's first (see ``Prepared._run``)."""

    def __getitem__(self, column: str, /) -> Any: ...


class Prepared:
    """One statement; ``fetch``, ``fetchrow`` or ``execute`` it in a session's transaction
    with its parameters by name."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        # Compiled at the first run, for the dialect of the connection it runs on.
        self._sql = ""
        self._binds: list[_Bind] = []
        self._operation = ""

    async def fetch(
        self, session: AsyncSession, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        rows = await self._run(session, params, "fetch")
        return list(rows.mappings()) if isinstance(rows, Result) else rows

    async def fetchrow(
        self, session: AsyncSession, params: Mapping[str, Any] | None = None
    ) -> Row | None:
        row = await self._run(session, params, "fetchrow")
        return row.mappings().first() if isinstance(row, Result) else row

    async def execute(self, session: AsyncSession, params: Mapping[str, Any] | None = None) -> None:
        await self._run(session, params, "execute")

    async def _run(self, session: AsyncSession, params: Mapping[str, Any] | None, how: str) -> Any:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if driver is None or not driver.is_in_transaction():
            # Not begun yet (SQLAlchemy sends BEGIN with the first statement): sent to asyncpg
            # now, this one would run and commit on its own.
            return await session.execute(self._statement, params)
        if session.new or session.dirty or session.deleted:
            await session.flush()
        if not self._sql:
            self._compile(connection.dialect)
        given = params or {}
        args = []
        for name, default, process in self._binds:
            value = given.get(name, default)
            if value is _NOT_GIVEN:
                raise KeyError(f"no value for the parameter {name!r} of {self._sql[:60]!r}")
            args.append(value if process is None else process(value))
        with tracing.statement_span(self._operation, connection.engine.url.database):
            try:
                return await getattr(driver, how)(self._sql, *args)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise await as_statement_error(connection, exc, self._sql) from exc

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
