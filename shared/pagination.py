"""Cursor pagination: opaque cursors over a monotonic key, bounded page sizes."""

import base64
import json
from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from shared.problems import FieldError, Unprocessable

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
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text)
    except ValueError as exc:
        message = "not a cursor this API returned"
        raise Unprocessable(
            message, errors=[FieldError(field="query.cursor", message=message)]
        ) from exc


def encode_key_cursor(*key: str | int) -> str:
    """A cursor over a composite sort key (e.g. an ordering key and an id)."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_key_cursor(cursor: str | None, arity: int) -> list[str | int] | None:
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (
            isinstance(key, list)
            and len(key) == arity
            and all(isinstance(k, str | int) for k in key)
        ):
            return key
    except ValueError:
        pass
    message = "not a cursor this API returned"
    raise Unprocessable(message, errors=[FieldError(field="query.cursor", message=message)])


def page_of(rows: list[T], limit: int, key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """Given up to ``limit + 1`` rows, the page and the cursor of the next one."""
    if len(rows) > limit:
        return rows[:limit], key(rows[limit - 1])
    return rows, None
