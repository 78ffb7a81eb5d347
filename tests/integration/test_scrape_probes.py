"""The outbox probe of /metrics on a real PostgreSQL: how many rows wait and how old the oldest
is, by the database's clock; and when the database does not answer, values unknown (NaN)
rather than the previous scrape's."""

import asyncio
import math
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, func, insert

from shared import metrics
from shared.db import make_engine, make_session_factory
from shared.dead_letters import dead_letters_table
from shared.outbox import outbox_table
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


def _row(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "topic": "accord.test.events",
        "key": "k",
        "event_type": "org.accord.test",
        "payload": b"{}",
        **fields,
    }


async def test_the_outbox_probe_counts_what_waits_and_ages_the_oldest(
    infra: Infrastructure,
) -> None:
    database = f"probes_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(infra.postgres.create_database, database)
    metadata = MetaData()
    outbox, dead_letters = outbox_table(metadata), dead_letters_table(metadata)
    engine = make_engine(infra.postgres.url(database), pool_size=4)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            for row in (
                _row(created_at=func.now() - timedelta(seconds=300), published_at=func.now()),
                _row(created_at=func.now() - timedelta(seconds=90)),
                _row(),
            ):
                await connection.execute(insert(outbox).values(**row))
        sessions = make_session_factory(engine)
        probe = metrics.outbox_probe(outbox, dead_letters)
        app = cast(Any, SimpleNamespace(state=SimpleNamespace(sessions=sessions)))
        app.state.scrape_probes = [probe]

        await metrics.run_scrape_probes(app)
        assert _value("accord_outbox_pending_events") == 2
        age = _value("accord_outbox_oldest_pending_age_seconds")
        assert 90 <= age < 90 + 60, age  # the published row, older, does not count
        assert _value("accord_dead_letters_table_rows") == 0

        # The database is gone: the probe fails, and its values are unknown, not the last ones.
        await asyncio.to_thread(infra.postgres.drop_database, database)
        await metrics.run_scrape_probes(app)
        assert math.isnan(_value("accord_outbox_pending_events"))
        assert math.isnan(_value("accord_outbox_oldest_pending_age_seconds"))
    finally:
        await engine.dispose()


def _value(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, name
    return value
