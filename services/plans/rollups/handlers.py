"""The rollups' one command: add a version of the counting rules.

Versions are never edited, so figures published under a version stay reproducible; a change
of rule is a new version, made the default or not.
"""

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.domain import LineStatus
from services.plans.rollups.domain import CountingMode

# Any fixed number works (the service has its own database); see create_counting_rule.
_NUMBERING_LOCK_KEY = 7_320_002


@dataclass(frozen=True)
class CreateCountingRule:
    name: str
    mode: CountingMode = CountingMode.COUNT
    excluded_statuses: Collection[LineStatus] = ()
    is_default: bool = False


async def create_counting_rule(
    session: AsyncSession, command: CreateCountingRule
) -> orm.CountingRule:
    # Versions are numbered max + 1: two rules created at once must not take the same number.
    await session.execute(select(func.pg_advisory_xact_lock(_NUMBERING_LOCK_KEY)))
    version = (await session.scalar(select(func.max(orm.CountingRule.version)))) or 0
    if command.is_default:
        await session.execute(update(orm.CountingRule).values(is_default=False))
    row = orm.CountingRule(
        version=version + 1,
        name=command.name,
        mode=command.mode.value,
        excluded_statuses=[s.value for s in command.excluded_statuses],
        is_default=command.is_default,
    )
    session.add(row)
    await session.flush()
    return row
