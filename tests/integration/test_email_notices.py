"""Email as a channel, against the suite's real Mailpit, broker and database: a status change
reaches exactly the contacts whose subscriptions and wishes match, once each, with every time
in their delegation's zone; a temporary SMTP refusal is retried and the message arrives once;
a permanent one is recorded and the delegation warned; a crash after the server accepted a
message resends it under the same Message-ID only; a disabled webhook endpoint is told to
the technical contacts."""

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared import failpoints
from tests.support.api import activity, add_action_line, change_status, create_plan
from tests.support.mail import add_contact, chaos, emails, message, messages_to
from tests.support.notifications import (
    headers_of,
    listed,
    new_delegation,
    register_endpoint,
    subscribe,
)
from tests.support.receiver import Answer, Receiver
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

STATUS_ONLY = {"event_types": ["action_line.status_changed"]}


def address(who: str) -> str:
    return f"{who}.{uuid.uuid4().hex[:8]}@mission.example.org"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


async def set_zone(http: httpx.AsyncClient, base: str, code: str, zone: str) -> None:
    response = await http.patch(
        f"{base}/delegations/{code}", json={"timezone": zone}, headers=headers_of(code)
    )
    assert response.status_code == 200, response.text


async def a_line(
    http: httpx.AsyncClient, services: Services, headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    plans = services.url("plans")
    plan = await create_plan(http, plans, headers)
    return plan, await add_action_line(http, plans, headers, plan["id"])


async def one_contact_following_a_line(
    http: httpx.AsyncClient, services: Services, headers: dict[str, str]
) -> tuple[dict[str, Any], str, str]:
    """A new line, and a delegation following it by email with one contact: the line, the
    delegation's code and the contact's address."""
    base = services.url("notifications")
    _plan, line = await a_line(http, services, headers)
    code = await new_delegation(http, base, headers)
    await subscribe(http, base, code, "action_line", line["id"], channels=["email"])
    to = address("desk")
    await add_contact(http, base, code, to)
    return line, code, to


async def arrived(
    http: httpx.AsyncClient, mailpit: str, to: str, count: int = 1
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = await messages_to(http, mailpit, to)
        return found if len(found) >= count else None

    return await eventually(enough, timeout=60, what=f"{count} message(s) to {to}")


async def settled(http: httpx.AsyncClient, base: str, code: str, count: int) -> list[dict]:
    """The delegation's ``count`` emails once none is pending any more."""

    async def done() -> list[dict] | None:
        log = await emails(http, base, code)
        finished = len(log) == count and all(e["status"] != "pending" for e in log)
        return log if finished else None

    return await eventually(done, timeout=60, what=f"{count} email(s) of {code} settled")


def local(moment: str, zone: str) -> str:
    """How a moment reads in ``zone``: day, hour and minute, and the zone's offset."""
    here = datetime.fromisoformat(moment).astimezone(ZoneInfo(zone))
    offset = here.strftime("%z")
    return f"{here.day} {here:%B %Y, %H:%M} ({zone}, UTC{offset[:3]}:{offset[3:]})"


async def test_a_status_change_reaches_exactly_the_matching_contacts_once_each(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base, mailpit = services.url("notifications"), services.infra.mailpit.url
    plan, line = await a_line(http, services, secretariat_headers)
    hanoi = await new_delegation(http, base, secretariat_headers, "Viet Nam")
    new_york = await new_delegation(http, base, secretariat_headers, "United Nations")
    inbox_only = await new_delegation(http, base, secretariat_headers, "Inbox only")
    await set_zone(http, base, new_york, "America/New_York")
    # Viet Nam follows the line and its plan by email: its contacts are told once all the same.
    await subscribe(http, base, hanoi, "action_line", line["id"], channels=["email", "inbox"])
    await subscribe(http, base, hanoi, "plan", plan["id"], channels=["email"], **STATUS_ONLY)
    await subscribe(http, base, new_york, "plan", plan["id"], channels=["email"], **STATUS_ONLY)
    await subscribe(http, base, inbox_only, "plan", plan["id"], channels=["inbox"])
    ambassador = address("ambassador")
    technical = address("technical")
    creations_only = address("creations")
    desk = address("desk")
    not_by_email = address("inbox.only")
    await add_contact(http, base, hanoi, ambassador, role="ambassador", name="Lan Nguyen")
    await add_contact(
        http, base, hanoi, technical, role="technical", event_types=["action_line.status_changed"]
    )
    await add_contact(http, base, hanoi, creations_only, event_types=["action_line.created"])
    await add_contact(http, base, new_york, desk)
    await add_contact(http, base, inbox_only, not_by_email)

    await change_status(http, services.url("plans"), secretariat_headers, line, "completed")

    hanoi_log = await settled(http, base, hanoi, 2)
    new_york_log = await settled(http, base, new_york, 1)
    # Each sent at its first try: nothing was sent twice.
    assert sorted((e["to_address"], e["status"], e["tries"]) for e in hanoi_log) == sorted(
        [(ambassador, "succeeded", 1), (technical, "succeeded", 1)]
    )
    assert [(e["to_address"], e["status"], e["tries"]) for e in new_york_log] == [
        (desk, "succeeded", 1)
    ]
    assert await emails(http, base, inbox_only) == []
    for to in (ambassador, technical, desk):
        assert len(await arrived(http, mailpit, to)) == 1
    assert await messages_to(http, mailpit, creations_only) == []
    assert await messages_to(http, mailpit, not_by_email) == []

    [change] = [
        a
        for a in await activity(http, base, secretariat_headers, plan["id"])
        if a["event_type"].endswith("status_changed")
    ]
    for to, zone in ((ambassador, "Asia/Ho_Chi_Minh"), (desk, "America/New_York")):
        [summary] = await messages_to(http, mailpit, to)
        full = await message(http, mailpit, summary["ID"])
        text = full["Text"].replace("\r\n", "\n")
        assert f"Recorded:   {_weekday(change['occurred_at'], zone)} " in text
        assert local(change["occurred_at"], zone) in text
        assert local(change["received_at"], zone) in text
        assert f"action line {line['code']} (Hold a regional workshop) is now completed" in text
        assert full["HTML"].count(f"({zone}, UTC") == 2
    [ambassador_message] = await messages_to(http, mailpit, ambassador)
    assert ambassador_message["Subject"] == f"Action line {line['code']}: not started -> completed"
    full = await message(http, mailpit, ambassador_message["ID"])
    text = full["Text"].replace("\r\n", "\n")
    assert text.startswith("Dear Lan Nguyen,\n")
    print(text)  # the rendered text part, for the record (pytest -s)


def _weekday(moment: str, zone: str) -> str:
    return f"{datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)):%A}"


async def test_a_temporary_smtp_failure_is_retried_and_arrives_once(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base, mailpit = services.url("notifications"), services.infra.mailpit.url
    line, code, to = await one_contact_following_a_line(http, services, secretariat_headers)

    await chaos(http, mailpit, recipient_error=451)
    try:
        await change_status(http, services.url("plans"), secretariat_headers, line, "ongoing")

        async def refused_twice() -> dict | None:
            log = await emails(http, base, code)
            return log[0] if log and log[0]["tries"] >= 2 else None

        refused = await eventually(refused_twice, what="two refused attempts")
    finally:
        await chaos(http, mailpit, recipient_error=None)
    assert refused["status"] == "pending"
    assert refused["last_smtp_code"] == 451

    [email] = await settled(http, base, code, 1)
    assert email["status"] == "succeeded"
    assert email["tries"] >= 2
    assert len(await arrived(http, mailpit, to)) == 1


async def test_a_permanent_smtp_failure_is_recorded_and_the_delegation_warned(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base, mailpit = services.url("notifications"), services.infra.mailpit.url
    line, code, to = await one_contact_following_a_line(http, services, secretariat_headers)

    await chaos(http, mailpit, recipient_error=550)
    try:
        await change_status(http, services.url("plans"), secretariat_headers, line, "ongoing")
        [email] = await settled(http, base, code, 1)
    finally:
        await chaos(http, mailpit, recipient_error=None)
    assert (email["status"], email["tries"], email["last_smtp_code"]) == ("failed", 1, 550)

    async def warned() -> list[dict] | None:
        entries = await listed(http, f"{base}/inbox", headers_of(code))
        return [e for e in entries if e["event_type"].endswith("email.undeliverable")] or None

    [warning] = await eventually(warned, what="the delegation warned in its inbox")
    assert to in warning["title"]
    assert "550" in warning["body"]
    assert await messages_to(http, mailpit, to) == []


async def test_a_crash_after_the_server_accepted_resends_under_the_same_message_id(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base, mailpit = services.url("notifications"), services.infra.mailpit.url
    line, code, to = await one_contact_following_a_line(http, services, secretariat_headers)
    notifications = services.processes["notifications"]
    notifications.stop()
    notifications.env["ACCORD_FAILPOINTS"] = f"{failpoints.EMAIL_AFTER_ACCEPTED}:1"
    try:
        notifications.start(wait_healthy=60)
        await change_status(http, services.url("plans"), secretariat_headers, line, "ongoing")
        await eventually(
            lambda: _true(not notifications.is_running()),
            timeout=60,
            what="notifications killed right after the server accepted the email",
        )
    finally:
        del notifications.env["ACCORD_FAILPOINTS"]
        notifications.stop()
        notifications.start(wait_healthy=60)

    [email] = await settled(http, base, code, 1)
    assert email["status"] == "succeeded"
    # Sent before the crash and again after it: the server holds two copies of one message.
    copies = await arrived(http, mailpit, to, 2)
    assert len(copies) == 2
    assert len({c["MessageID"] for c in copies}) == 1
    assert copies[0]["MessageID"].endswith("@notifications.accord.invalid")


async def _true(value: bool) -> bool:
    return value


async def test_a_disabled_endpoint_is_told_to_the_technical_contacts(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    base, mailpit = services.url("notifications"), services.infra.mailpit.url
    _plan, line = await a_line(http, services, secretariat_headers)
    code = await new_delegation(http, base, secretariat_headers)
    await set_zone(http, base, code, "Europe/Paris")
    technical = address("technical")
    ambassador = address("ambassador")
    await add_contact(http, base, code, technical, role="technical")
    await add_contact(http, base, code, ambassador, role="ambassador")
    path = f"/gone/{code}"
    endpoint = await register_endpoint(http, base, code, receiver.url(path))
    receiver.route(path, endpoint["secret"], Answer(410))
    await subscribe(http, base, code, "action_line", line["id"], channels=["webhook"])

    await change_status(http, services.url("plans"), secretariat_headers, line, "ongoing")

    [summary] = await arrived(http, mailpit, technical)
    text = (await message(http, mailpit, summary["ID"]))["Text"].replace("\r\n", "\n")
    assert receiver.url(path) in text
    assert "It was disabled on " in text
    assert "(it answered 410 Gone)" in text
    offset = datetime.now(ZoneInfo("Europe/Paris")).strftime("%z")
    assert f"(Europe/Paris, UTC{offset[:3]}:{offset[3:]})" in text
    response = await http.get(f"{base}/endpoints/{endpoint['id']}", headers=headers_of(code))
    assert response.json()["enabled"] is False
    [email] = await settled(http, base, code, 1)
    assert email["to_address"] == technical
    assert await messages_to(http, mailpit, ambassador) == []
    # Leave no endpoint disabled as gone behind: the metrics test fires that alert itself.
    removed = await http.delete(f"{base}/endpoints/{endpoint['id']}", headers=headers_of(code))
    assert removed.status_code == 204, removed.text


async def test_a_daily_digest_reaches_the_contacts_by_email_once_and_no_empty_one_is_sent(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    """The digest hour is 0, so the running service's digest job sends at once; the times that
    decide it are tested with an injected clock in tests/commands/test_notifications_digests.py."""
    base, mailpit = services.url("notifications"), services.infra.mailpit.url
    plan, line = await a_line(http, services, secretariat_headers)
    code = await new_delegation(http, base, secretariat_headers, "Viet Nam")
    quiet = await new_delegation(http, base, secretariat_headers, "Quiet mission")
    zone = "Pacific/Auckland"
    for delegation in (code, quiet):
        response = await http.patch(
            f"{base}/delegations/{delegation}",
            json={"timezone": zone, "digest_hour": 0},
            headers=headers_of(delegation),
        )
        assert response.status_code == 200, response.text
    daily = {"channels": ["email"], "cadence": "daily_digest"}
    await subscribe(http, base, code, "plan", plan["id"], **daily, **STATUS_ONLY)
    # The quiet mission's digest would hold the plan's new lines only, and none comes.
    await subscribe(
        http, base, quiet, "plan", plan["id"], **daily, event_types=["action_line.created"]
    )
    to, quiet_to = address("desk"), address("quiet")
    await add_contact(http, base, code, to, name="Lan Nguyen")
    await add_contact(http, base, quiet, quiet_to)

    await change_status(http, services.url("plans"), secretariat_headers, line, "ongoing")

    [summary] = await arrived(http, mailpit, to)
    [email] = await settled(http, base, code, 1)
    assert (email["status"], email["tries"]) == ("succeeded", 1)
    assert summary["Subject"].startswith("Daily digest of ")
    day = summary["Subject"].removeprefix("Daily digest of ")
    full = await message(http, mailpit, summary["ID"])
    text = full["Text"].replace("\r\n", "\n")
    assert text.startswith(f"Dear Lan Nguyen,\n\nDaily digest of {day} (times in {zone})\n")
    assert f"Action line {line['code']}: not started -> ongoing" in text
    offset = datetime.now(ZoneInfo(zone)).strftime("%z")
    assert f"({zone}, UTC{offset[:3]}:{offset[3:]})" in text
    assert full["HTML"].count(f"({zone}, UTC") == 1
    # The digest, not the change itself as well; one message.
    assert len(await messages_to(http, mailpit, to)) == 1
    # Composed in the same round as the other one (one transaction for every delegation):
    # an empty digest would have made its email by now.
    assert await emails(http, base, quiet) == []
    assert await messages_to(http, mailpit, quiet_to) == []
    print(text)  # the rendered digest's text part, for the record (pytest -s)
