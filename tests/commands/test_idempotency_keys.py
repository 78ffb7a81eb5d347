"""Idempotency keys on a real PostgreSQL: kept for their retention, free again and purged
after it, and a claim whose request died before its change committed can be taken over, the
old request then unable to commit a second effect."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans.orm import idempotency_keys
from shared.idempotency import (
    LEASE,
    Claim,
    StillRunning,
    Stored,
    claim,
    mark_effect,
    purge_expired,
)
from shared.problems import Problem

DAY = timedelta(hours=24)


async def _claim(
    session: AsyncSession, key: str, body: str = "a"
) -> Claim | Stored | Problem | None:
    return await claim(session, idempotency_keys, "subject-1", key, body * 64, DAY)


async def test_a_key_is_kept_for_its_retention_then_free_again_and_purged(
    plans_db: AsyncSession,
) -> None:
    first = await _claim(plans_db, "kept")
    assert isinstance(first, Claim)
    await plans_db.execute(
        update(idempotency_keys).values(status_code=201, response_headers=[], response_body=b"{}")
    )
    assert isinstance(await _claim(plans_db, "kept"), Stored)
    expires_at = (await plans_db.execute(select(idempotency_keys.c.expires_at))).scalar_one()
    claimed_at = (await plans_db.execute(select(idempotency_keys.c.claimed_at))).scalar_one()
    assert expires_at - claimed_at == DAY
    assert await purge_expired(plans_db, idempotency_keys) == 0

    await plans_db.execute(
        update(idempotency_keys).values(expires_at=claimed_at - timedelta(seconds=1))
    )
    again = await _claim(plans_db, "kept", body="b")
    assert isinstance(again, Claim) and again.token != first.token
    await plans_db.execute(
        update(idempotency_keys).values(expires_at=claimed_at - timedelta(seconds=1))
    )
    assert await purge_expired(plans_db, idempotency_keys) == 1
    assert (await plans_db.execute(select(idempotency_keys))).all() == []


async def test_a_claim_whose_request_died_before_committing_is_taken_over_once(
    plans_db: AsyncSession,
) -> None:
    dead = await _claim(plans_db, "lease")
    assert isinstance(dead, Claim)
    assert isinstance(await _claim(plans_db, "lease"), StillRunning)

    await plans_db.execute(
        update(idempotency_keys).values(
            claimed_at=idempotency_keys.c.claimed_at - LEASE - timedelta(seconds=1)
        )
    )
    taker = await _claim(plans_db, "lease")
    assert isinstance(taker, Claim) and taker.token != dead.token
    with pytest.raises(StillRunning):
        await mark_effect(plans_db, dead)
    await mark_effect(plans_db, taker)


async def test_a_claim_whose_change_committed_is_never_taken_over(
    plans_db: AsyncSession,
) -> None:
    committed = await _claim(plans_db, "committed")
    assert isinstance(committed, Claim)
    await mark_effect(plans_db, committed)
    # Its request is still recording its answer (a transaction after the change's): a retry
    # is told to come back for it, not that the answer was lost.
    assert isinstance(await _claim(plans_db, "committed"), StillRunning)
    await plans_db.execute(
        update(idempotency_keys).values(
            claimed_at=idempotency_keys.c.claimed_at - LEASE - timedelta(seconds=1)
        )
    )
    refused = await _claim(plans_db, "committed")
    assert isinstance(refused, Problem)
    assert refused.status == 409
