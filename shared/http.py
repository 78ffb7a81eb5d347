"""Small HTTP helpers shared by the services' routes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Header, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shared import idempotency
from shared.problems import BadRequest, FieldError
from shared.transaction import Transaction, transaction


@asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The route's single commit point: commits before the response is built, so a 2xx is
    only ever sent for a change that is durable."""
    async with request.app.state.sessions() as session, session.begin():
        claim = getattr(request.state, idempotency.STATE_KEY, None)
        if claim is not None:
            # The change and "this key's request took effect" commit together, or neither.
            await idempotency.mark_effect(session, claim)
        yield session


@asynccontextmanager
async def statements_only(request: Request) -> AsyncIterator[Transaction]:
    """``unit_of_work`` for a hot command whose statements are all ``Prepared``: the same
    single commit point, without a session around it (``shared.transaction``). Not for a
    route that honours ``Idempotency-Key``: the key's claim is marked through a session."""
    if getattr(request.state, idempotency.STATE_KEY, None) is not None:
        raise RuntimeError("an idempotency claim needs unit_of_work")
    async with transaction(request.app.state.engine) as work:
        yield work


@asynccontextmanager
async def read_only(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


IfMatch = Annotated[
    str | None, Header(description='The ETag of the version being changed, e.g. "3"')
]


def parse_if_match(value: str) -> int:
    """``If-Match: "3"`` (or ``W/"3"``) -> 3."""
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        message = 'If-Match must be the ETag of the version being changed, e.g. "3"'
        raise BadRequest(message, errors=[FieldError(field="header.if-match", message=message)])
    return int(text)


async def no_store(response: Response) -> None:
    """A route dependency for answers that carry a secret: no cache (the browser's, a proxy's)
    may keep a copy."""
    response.headers["Cache-Control"] = "no-store"


def optional_if_match(value: str | None) -> int | None:
    """The version an optional ``If-Match`` names, if one was sent."""
    return parse_if_match(value) if value is not None else None
