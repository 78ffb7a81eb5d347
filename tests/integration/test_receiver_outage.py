"""A receiver away for a few seconds gets everything soon after it is back, not when its
deliveries' step of the retry schedule runs out; and a delegation can ask for what waits to be
sent now (``POST /endpoints/{id}/retry-now``).

The suite's notifications service retries within a second, which would hide the difference:
each test here restarts it with a schedule whose third step is a minute long
(``LONG_STEP``), so that a delivery that failed twice waits a minute unless something
releases it. The receiver is really away: its port refuses connections.
"""

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, create_plan
from tests.support.notifications import (
    headers_of,
    listed,
    new_delegation,
    register_endpoint,
    subscribe,
)
from tests.support.receiver import Receiver
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

LONG_STEP = 60.0
SCHEDULE = f"[0, 0.3, {LONG_STEP:g}]"
ONLY_STATUS_CHANGES = {"event_types": ["action_line.status_changed"]}


@contextmanager
def notifications_with(services: Services, **settings: str) -> Iterator[None]:
    """The suite's notifications service restarted with ``settings``, then as it was."""
    process = services.processes["notifications"]
    saved = dict(process.env)
    process.stop()
    process.env.update(settings)
    try:
        process.start(wait_healthy=60)
        yield
    finally:
        process.stop()
        process.env = saved
        process.start(wait_healthy=60)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


class Delegation:
    """A delegation following one plan of ``lines`` lines through an endpoint at ``receiver``."""

    def __init__(self, code: str, endpoint: dict[str, Any], path: str, plan: dict, lines: list):
        self.code, self.endpoint, self.path = code, endpoint, path
        self.plan, self.lines = plan, lines
        self.changes = 0

    @classmethod
    async def following_a_plan(
        cls,
        http: httpx.AsyncClient,
        services: Services,
        secretariat: dict[str, str],
        receiver: Receiver,
        lines: int,
    ) -> "Delegation":
        plans, base = services.url("plans"), services.url("notifications")
        code = await new_delegation(http, base, secretariat)
        path = f"/hooks/{code}"
        endpoint = await register_endpoint(http, base, code, receiver.url(path))
        receiver.route(path, endpoint["secret"])
        plan = await create_plan(http, plans, secretariat)
        await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
        made = [await add_action_line(http, plans, secretariat, plan["id"]) for _ in range(lines)]
        return cls(code, endpoint, path, plan, made)

    async def change(
        self, http: httpx.AsyncClient, services: Services, secretariat: dict[str, str], index: int
    ) -> None:
        """Toggle line ``index`` between ongoing and on hold."""
        line = self.lines[index]
        status = "on_hold" if line.get("status") == "ongoing" else "ongoing"
        response = await http.patch(
            f"{services.url('plans')}/action-lines/{line['id']}/status",
            json={"status": status, "expected_version": line["version"]},
            headers=secretariat,
        )
        assert response.status_code == 200, response.text
        line["version"], line["status"] = response.json()["version"], status
        self.changes += 1

    async def deliveries(self, http: httpx.AsyncClient, services: Services) -> list[dict]:
        base = services.url("notifications")
        return await listed(
            http,
            f"{base}/deliveries",
            headers_of(self.code),
            endpoint_id=self.endpoint["id"],
        )

    async def waiting_on_the_long_step(
        self, http: httpx.AsyncClient, services: Services, count: int
    ) -> datetime:
        """Once ``count`` deliveries failed twice and wait on the long step: when the first of
        them is due by the schedule."""

        async def waiting() -> list[dict] | None:
            found = await self.deliveries(http, services)
            waiting = [d for d in found if d["status"] == "pending" and d["tries"] == 2]
            return waiting if len(found) == len(waiting) == count else None

        found = await eventually(waiting, what=f"{count} deliveries on the long step")
        return min(datetime.fromisoformat(d["next_attempt_at"]) for d in found)


def _seconds_until(when: datetime) -> float:
    return (when - datetime.now(UTC)).total_seconds()


async def everything_arrives_before(
    delegation: Delegation, receiver: Receiver, scheduled: datetime
) -> None:
    """Every change reaches the receiver, well before the schedule would send the first
    waiting delivery again; per line in the order the changes were made."""
    expected = delegation.changes
    await eventually(
        lambda: asyncio.sleep(
            0, len({r.webhook_id for r in receiver.accepted(delegation.path)}) == expected
        ),
        timeout=_seconds_until(scheduled) - LONG_STEP / 4,
        what=f"all {expected} changes, before the long step of the schedule",
    )
    versions: dict[str, list[int]] = {}
    for received in receiver.accepted(delegation.path):
        data = json.loads(received.body)["data"]
        versions.setdefault(data["action_line_id"], []).append(int(data["version"]))
    assert all(v == sorted(v) for v in versions.values()), versions


async def test_a_probe_finds_the_receiver_back_and_everything_waiting_goes_at_once(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    with notifications_with(
        services, NOTIFICATIONS_RETRY_SCHEDULE=SCHEDULE, NOTIFICATIONS_PROBE_INTERVAL="1"
    ):
        vnm = await Delegation.following_a_plan(
            http, services, secretariat_headers, receiver, lines=3
        )
        receiver.go_down()
        for index in range(3):
            await vnm.change(http, services, secretariat_headers, index)
        scheduled = await vnm.waiting_on_the_long_step(http, services, 3)

        # While it is away, the oldest waiting delivery is tried early, and a failed probe
        # costs it nothing: it keeps its place in the schedule.
        async def probed() -> list[dict] | None:
            found = await vnm.deliveries(http, services)
            return found if any(d["attempts_total"] > 2 for d in found) else None

        found = await eventually(
            probed, timeout=_seconds_until(scheduled) - LONG_STEP / 4, what="a probe"
        )
        assert all(d["status"] == "pending" and d["tries"] == 2 for d in found), found

        receiver.come_back()
        # Made after the receiver is back, this change waits behind its line's earlier one.
        await vnm.change(http, services, secretariat_headers, 0)
        await everything_arrives_before(vnm, receiver, scheduled)

        # The receiver has the last one a moment before the dispatcher records its answer.
        async def all_recorded() -> list[dict] | None:
            found = await vnm.deliveries(http, services)
            return found if {d["status"] for d in found} == {"succeeded"} else None

        deliveries = await eventually(all_recorded, timeout=10, what="every delivery recorded")
        accepted = {r.webhook_id for r in receiver.accepted(vnm.path)}
        assert accepted == {d["webhook_id"] for d in deliveries}


async def test_a_success_releases_what_waits_and_a_delegation_can_ask_for_it(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    viewer_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    # No probes within the test: what releases the deliveries is a success, then the request.
    with notifications_with(
        services, NOTIFICATIONS_RETRY_SCHEDULE=SCHEDULE, NOTIFICATIONS_PROBE_INTERVAL="3600"
    ):
        base = services.url("notifications")
        answered = await Delegation.following_a_plan(
            http, services, secretariat_headers, receiver, lines=3
        )
        asking = await Delegation.following_a_plan(
            http, services, secretariat_headers, receiver, lines=2
        )
        receiver.go_down()
        for delegation in (answered, asking):
            for index in range(2):
                await delegation.change(http, services, secretariat_headers, index)
        scheduled = await answered.waiting_on_the_long_step(http, services, 2)
        await asking.waiting_on_the_long_step(http, services, 2)
        receiver.come_back()

        # A change of another line goes at once; its success releases what waits.
        await answered.change(http, services, secretariat_headers, 0)
        await answered.change(http, services, secretariat_headers, 2)
        await everything_arrives_before(answered, receiver, scheduled)

        retry_now = f"{base}/endpoints/{asking.endpoint['id']}/retry-now"
        for headers, status in ((headers_of(answered.code), 404), (viewer_headers, 403)):
            refused = await http.post(retry_now, headers=headers)
            assert refused.status_code == status, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
        assert receiver.accepted(asking.path) == []

        asked = await http.post(retry_now, headers=headers_of(asking.code))
        assert asked.status_code == 202, asked.text
        assert asked.json() == {"released": 2}
        await everything_arrives_before(asking, receiver, scheduled)
        again = await http.post(retry_now, headers=headers_of(asking.code))
        assert again.json() == {"released": 0}

        endpoint = f"{base}/endpoints/{asking.endpoint['id']}"
        disabled = await http.patch(
            endpoint, json={"enabled": False}, headers=headers_of(asking.code)
        )
        assert disabled.status_code == 200, disabled.text
        refused = await http.post(retry_now, headers=headers_of(asking.code))
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
