"""A status change made while the broker is down is published once it is back."""

import asyncpg
import httpx
import pytest

from shared.db import asyncpg_dsn
from tests.support.api import activity, add_action_line, create_plan
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

STATUS_CHANGED = "org.accord.plans.action_line.status_changed"


async def _unpublished(services: Services) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(services.infra.database_url("plans")))
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )
    finally:
        await connection.close()


async def test_a_status_change_while_the_broker_is_down_is_published_once_it_is_back(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, notifications = services.url("plans"), services.url("notifications")
    plan = await create_plan(http, plans, secretariat_headers)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    await eventually(lambda: _zero(services), what="the outbox drained before the outage")

    services.infra.kafka.stop()
    try:
        response = await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={"status": "completed", "expected_version": 1},
            headers=secretariat_headers,
        )
        assert response.status_code == 200, response.text
        assert await _unpublished(services) == 1

        async def not_ready() -> bool:
            return (await http.get(f"{plans}/readyz")).status_code == 503

        await eventually(not_ready, timeout=60, what="plans to report not ready without its broker")
    finally:
        services.infra.kafka.start()

    async def published() -> list[dict] | None:
        items = await activity(http, notifications, secretariat_headers, plan["id"])
        return [i for i in items if i["event_type"] == STATUS_CHANGED] or None

    [change] = await eventually(
        published, timeout=120, what="the change published after the outage"
    )
    assert change["data"]["new_status"] == "completed"
    # The relay marks the row after the broker's ack, a moment after consumers may see it.
    await eventually(lambda: _zero(services), what="the outbox row marked published")

    async def ready() -> bool:
        codes = [
            (await http.get(f"{services.url(n)}/readyz")).status_code
            for n in ("plans", "notifications")
        ]
        return codes == [200, 200]

    await eventually(ready, timeout=60, what="the services ready again without a restart")


async def _zero(services: Services) -> bool:
    return await _unpublished(services) == 0
