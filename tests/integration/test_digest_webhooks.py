"""A daily digest arrives end to end: a status change travels through the broker, is held for
the digest of a delegation that asked for one on its webhook channel, and the running
service's digest job sends it as a signed `digest.ready` webhook and an inbox entry, once.
(The digest hour is 0, so the digest is due at once on the service's own clock; the times
that decide it are tested with an injected clock in tests/commands/test_notifications_digests.py.)
"""

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import add_action_line, change_status, create_plan
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

DIGEST = "org.accord.notifications.digest.ready"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


async def test_a_daily_digest_arrives_as_a_signed_webhook_once(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    response = await http.patch(
        f"{base}/delegations/{code}",
        json={"timezone": "Pacific/Auckland", "digest_hour": 0},
        headers=headers_of(code),
    )
    assert response.status_code == 200, response.text
    path = f"/hooks/{code}"
    endpoint = await register_endpoint(http, base, code, receiver.url(path))
    receiver.route(path, endpoint["secret"])
    plan = await create_plan(http, plans, secretariat_headers)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    await subscribe(
        http,
        base,
        code,
        "plan",
        plan["id"],
        channels=["webhook", "inbox"],
        cadence="daily_digest",
        event_types=["action_line.status_changed"],
    )

    await change_status(http, plans, secretariat_headers, line, "ongoing")

    async def digest_arrived() -> list | None:
        accepted = receiver.accepted(path)
        return accepted or None

    (webhook,) = await eventually(digest_arrived, timeout=60, what="the digest webhook")
    body = json.loads(webhook.body)
    assert (body["type"], body["delegation"]) == (DIGEST, code)
    data = body["data"]
    assert (data["kind"], data["timezone"]) == ("daily", "Pacific/Auckland")
    assert [e["event_type"] for e in data["entries"]] == [
        "org.accord.plans.action_line.status_changed"
    ]
    assert data["text"].startswith(f"Daily digest of {data['day']} (times in Pacific/Auckland)")
    entries = await listed(http, f"{base}/inbox", headers_of(code))
    assert [(e["event_type"], e["body"]) for e in entries] == [(DIGEST, data["text"])]
    # Held, not sent at once: the status change itself never came as a webhook of its own.
    assert [json.loads(r.body)["type"] for r in receiver.at(path)] == [DIGEST]
