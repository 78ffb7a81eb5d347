"""Many rows in one INSERT whose size does not grow with the rows: a fan-out to 1,000
delegations writes 1,000 inbox entries and 1,000 deliveries in the consumer's transaction.

A multi-row VALUES list had SQLAlchemy compile a new statement with one parameter per value
(9,000 for 1,000 deliveries) on every fan-out, and asyncpg's executemany ran the statement
once per row on the server: either took most of a fan-out's time. Here each column is one
parameter, an array with the column's value for every row, and PostgreSQL unnests them side
by side (several set-returning functions in one SELECT list advance in lockstep); a column
with the same value in every row is one plain parameter.

Not ``shared.db.insert_many`` (a COPY from 1,000 rows): these tables hold one entry, delivery
or digest item per event and recipient, and a row that conflicts is skipped, which a COPY
cannot do; and a fan-out's statement is built once per shape of rows, where a copy asks for
the table's column types every time.
"""

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Literal
from typing import cast as typed

from sqlalchemy import ARRAY, Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.prepared import Prepared

# Joins the elements of an array column's values (an array of arrays would unnest into one
# flat list): the values written this way are channel and cadence names, never containing it.
ARRAY_SEPARATOR = ","

# How a column's values are passed: one value for every row, an array of values, or an array
# of the joined elements of array values.
_Passed = Literal["same", "values", "joined"]


async def insert_rows(
    session: AsyncSession, model: type[Any], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (all with the same keys) into ``model``'s table, skipping conflicting
    ones."""
    if not rows:
        return
    table = typed(Table, model.__table__)
    shape: list[tuple[str, _Passed]] = []
    params: dict[str, Any] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if all(value == values[0] for value in values):
            shape.append((name, "same"))
            params[f"v_{name}"] = values[0]
        elif isinstance(table.c[name].type, ARRAY):
            for value in values:
                assert all(ARRAY_SEPARATOR not in element for element in value), value
            shape.append((name, "joined"))
            params[f"v_{name}"] = [ARRAY_SEPARATOR.join(value) for value in values]
        else:
            shape.append((name, "values"))
            params[f"v_{name}"] = values
    await _statement(table, tuple(shape)).execute(session, params)


@cache
def _statement(table: Table, shape: tuple[tuple[str, _Passed], ...]) -> Prepared:
    """The INSERT for one shape of rows, built once: building it anew for each fan-out (its
    expressions and their cache key) cost more than running it for a few recipients. A table
    has only a handful of shapes, so the cache stays small."""
    columns = []
    for name, passed in shape:
        column_type = table.c[name].type
        if passed == "same":
            columns.append(bindparam(f"v_{name}", type_=column_type).label(name))
        elif passed == "joined":
            texts = func.unnest(cast(bindparam(f"v_{name}", type_=ARRAY(Text)), ARRAY(Text)))
            columns.append(
                cast(func.string_to_array(texts, ARRAY_SEPARATOR), column_type).label(name)
            )
        else:
            array = ARRAY(column_type)
            values = cast(bindparam(f"v_{name}", type_=array), array)
            columns.append(func.unnest(values).label(name))
    names = [name for name, _ in shape]
    return Prepared(insert(table).from_select(names, select(*columns)).on_conflict_do_nothing())
