"""Many rows in one INSERT whose size does not grow with the rows: a fan-out to 1,000
delegations writes 1,000 inbox entries and 1,000 deliveries in the consumer's transaction.

A multi-row VALUES list had SQLAlchemy compile a new statement with one parameter per value
(9,000 for 1,000 deliveries) on every fan-out, and asyncpg's executemany ran the statement
once per row on the server: either took most of a fan-out's time. Here each column is one
parameter, an array with the column's value for every row, and PostgreSQL unnests them side
by side (several set-returning functions in one SELECT list advance in lockstep); a column
with the same value in every row is one plain parameter.
"""

from collections.abc import Mapping, Sequence
from typing import Any
from typing import cast as typed

from sqlalchemy import ARRAY, Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

# Joins the elements of an array column's values (an array of arrays would unnest into one
# flat list): the values written this way are channel and cadence names, never containing it.
_SEPARATOR = ","


async def insert_rows(
    session: AsyncSession, model: type[Any], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (all with the same keys) into ``model``'s table, skipping conflicting
    ones."""
    if not rows:
        return
    table = typed(Table, model.__table__)
    names = list(rows[0])
    columns = []
    for name in names:
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        if all(value == values[0] for value in values):
            columns.append(bindparam(f"v_{name}", values[0], type_=column_type).label(name))
        elif isinstance(column_type, ARRAY):
            for value in values:
                assert all(_SEPARATOR not in element for element in value), value
            joined = [_SEPARATOR.join(value) for value in values]
            texts = func.unnest(
                cast(bindparam(f"v_{name}", joined, type_=ARRAY(Text)), ARRAY(Text))
            )
            columns.append(cast(func.string_to_array(texts, _SEPARATOR), column_type).label(name))
        else:
            array = ARRAY(column_type)
            columns.append(
                func.unnest(cast(bindparam(f"v_{name}", values, type_=array), array)).label(name)
            )
    statement = insert(table).from_select(names, select(*columns)).on_conflict_do_nothing()
    await session.execute(statement)
