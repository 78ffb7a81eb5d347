"""Cursor pagination: opaque cursors over a monotonic key, bounded page sizes."""

import base64
import json
from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from shared.parameters import unstorable
from shared.problems import FieldError, Unprocessable
from shared.schemas import MAX_BIGINT

MAX_PAGE_SIZE = 200
T = TypeVar("T")

Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}")
]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last"
    )


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(str(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The key an ``encode_cursor`` cursor holds. Anything else, however it was made, is a
    422 naming ``query.cursor``: the key goes into a comparison with a bigint column, so a
    forged one out of its range must not reach the database."""
    if cursor is None:
        return None
    text = _unwrapped(cursor).decode("ascii", errors="replace")
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_BIGINT):
        raise _forged()
    return int(text)


def encode_key_cursor(*key: str) -> str:
    """A cursor over a composite sort key of text columns (e.g. an ordering key and a code)."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_key_cursor(cursor: str | None, arity: int) -> list[str] | None:
    """The key an ``encode_key_cursor`` cursor holds: exactly ``arity`` strings, each text the
    database can store; anything else is a 422 naming ``query.cursor``."""
    if cursor is None:
        return None
    try:
        key = json.loads(_unwrapped(cursor))
    except ValueError:
        raise _forged() from None
    if (
        isinstance(key, list)
        and len(key) == arity
        and all(isinstance(k, str) and not unstorable(k) for k in key)
    ):
        return key
    raise _forged()


def _unwrapped(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        raise _forged() from None


def _forged() -> Unprocessable:
    message = "not a cursor this API returned"
    return Unprocessable(message, errors=[FieldError(field="query.cursor", message=message)])


def page_of(rows: list[T], limit: int, key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """Given up to ``limit + 1`` rows, the page and the cursor of the next one."""
    if len(rows) > limit:
        return rows[:limit], key(rows[limit - 1])
    return rows, None
