"""The outbox backlog of each service: rows committed but not yet published by its relay, and
how long the oldest has waited. A backlog that grows, or an oldest row that keeps ageing,
means the relay is not publishing (the broker away, or no relay holds the lock)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from shared.ops import sources

# ix_outbox_unpublished (a partial index) answers this without reading published rows.
_BACKLOG = text(
    """
    SELECT count(*), min(created_at),
           coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
    FROM outbox WHERE published_at IS NULL
    """
)


@dataclass(frozen=True)
class Backlog:
    service: str
    pending: int
    oldest_created_at: str | None
    oldest_age_seconds: float


async def outbox_backlog(service: str, timeout: float) -> Backlog:
    async with sources.database(service, timeout) as connection:
        pending, oldest, age = (await connection.execute(_BACKLOG)).one()
    return Backlog(service, pending, oldest.isoformat() if oldest else None, round(age, 3))
