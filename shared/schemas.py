"""Base classes and types for HTTP models shared by the services."""

import zoneinfo
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
)

# The largest value of a PostgreSQL bigint / integer: ids and numbers a client sends are bounded
# by the column they are compared with, so that a too-large one is a 422, not a database error.
MAX_BIGINT = 2**63 - 1
MAX_INTEGER = 2**31 - 1


def refuse_unstorable_text(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL characters, nor UTF-8 lone surrogates (JSON may spell
    them as ``\\u0000`` or ``\\ud800``): refuse them, wherever they are nested."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            refuse_unstorable_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_unstorable_text(key)
            refuse_unstorable_text(item)
    return value


def representable_in_utc(value: datetime) -> datetime:
    """PostgreSQL and asyncpg store times in UTC: a time whose UTC instant falls outside
    years 1 to 9999 (0001-01-01T00:00:00+14:00, 9999-12-31T23:59:59-14:00) cannot be
    converted, and would fail in the driver with a 500. (A time without an offset is taken
    as the server's local time, as the driver does.)"""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time in UTC falls outside years 1 to 9999") from None
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(representable_in_utc)]
"""A time with its UTC offset (one without is refused) whose UTC instant can be stored: the
type of every time a client sends, in a body or a query."""


def iana_time_zone(name: str) -> str:
    """An IANA time zone name the server knows (Asia/Jakarta, UTC)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Asia/Jakarta)") from exc
    return name


IanaTimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(iana_time_zone)
]


class FieldFault(ValueError):
    """Raised by a model validator for a rule across fields, naming the field at fault: the
    problem's ``errors`` then say ``body.valid_to``, not ``body`` (``shared.problems``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op, and
    text that could not be stored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_unstorable_text(value)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
