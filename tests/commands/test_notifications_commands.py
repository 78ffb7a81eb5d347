"""The notifications service's command functions against its real database, without the
service: what each command records, what it stages in the outbox, and how it refuses, in the
domain's own words (the field a refusal names is its path in the command). The intake (an
event taken in) and an endpoint's health after an attempt are here too: they are what writes
deliveries and inbox entries, and what publishes this service's events."""

import dataclasses
import secrets
import string
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import handlers, orm, views
from services.notifications.config import NotificationsSettings
from services.notifications.digests.job import send_due_digests
from services.notifications.domain import (
    Cadence,
    Channel,
    DelegationAlreadyRegistered,
    DelegationNotRegistered,
    TargetKind,
)
from services.notifications.inbox import handlers as inbox
from services.notifications.intake.handlers import TakeIn, take_in
from services.notifications.webhooks import handlers as webhooks
from services.notifications.webhooks.domain import AttemptResult, DeliveryStatus
from services.notifications.webhooks.endpoint_health import record_endpoint_health
from services.notifications.webhooks.keyring import new_key_entry, parse_keys
from services.notifications.webhooks.release import release_after_answer
from services.notifications.webhooks.secrets_at_rest import active_secrets, current_secret
from shared.contracts import notifications as notification_events
from shared.contracts import plans as plan_events
from shared.errors import CapReached, Conflict, Invalid, NotFound
from shared.events import CloudEvent, envelope
from tests.commands.conftest import staged
from tests.support.plan_events import line_created, status_changed

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
PUBLIC_URL = "https://93.184.216.34/accord"  # a public address: no DNS lookup, never fetched
URLS = webhooks.UrlPolicy(allow_http=False, allow_loopback=False)
# Caps per delegation far above what a test makes.
CAP = 100
KEYRING = parse_keys(new_key_entry(), "the tests' keys")
SETTINGS = NotificationsSettings(disable_after=5 * 86_400, warn_before_disable=86_400)


async def new_delegation(session: AsyncSession) -> str:
    """A delegation of the test's own (the database holds the seeded ones and other tests')."""
    code = "T" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))
    command = handlers.RegisterDelegation(code=code, name="Test mission", timezone="Asia/Jakarta")
    await handlers.register_delegation(session, command)
    return code


async def events_of(
    session: AsyncSession, code: str, *, registration: bool = False
) -> list[CloudEvent]:
    """What was staged for this delegation, oldest first (the outbox may hold others'),
    leaving out its registration's announcement unless ``registration``."""
    return [
        e
        for e in await staged(session, orm.outbox)
        if e.subject == f"delegations/{code}"
        and (registration or e.type != "org.accord.notifications.delegation.registered")
    ]


async def follow(
    session: AsyncSession,
    code: str,
    tag: str,
    statuses: tuple[str, ...] = (),
    cadence: Cadence = Cadence.IMMEDIATE,
) -> None:
    command = handlers.Subscribe(
        delegation=code,
        target_kind=TargetKind.TAG,
        target_key=tag,
        channels=[Channel.WEBHOOK, Channel.INBOX, Channel.STREAM],
        statuses=statuses,
        cadence=cadence,
    )
    await handlers.subscribe(session, command, cap=CAP)


async def follower(session: AsyncSession) -> tuple[str, str]:
    """A new delegation following a tag of its own on every channel: its code, the tag."""
    code, tag = await new_delegation(session), f"tag-{uuid.uuid4()}"
    await follow(session, code, tag)
    return code, tag


async def take(
    session: AsyncSession,
    event: plan_events.ActionLineCreated | plan_events.ActionLineStatusChanged,
) -> None:
    published = envelope(event, source=plan_events.SOURCE, subject=f"action-lines/{uuid.uuid4()}")
    await take_in(session, TakeIn(envelope=published, event=event))


async def registered_endpoint(session: AsyncSession, code: str) -> orm.Endpoint:
    command = webhooks.RegisterEndpoint(delegation=code, url=PUBLIC_URL)
    endpoint, _ = await webhooks.register_endpoint(
        session, command, urls=URLS, keyring=KEYRING, cap=CAP
    )
    return endpoint


async def deliveries_to(session: AsyncSession, endpoint: orm.Endpoint) -> list[orm.Delivery]:
    rows = await session.scalars(
        select(orm.Delivery)
        .where(orm.Delivery.endpoint_id == endpoint.id)
        .order_by(orm.Delivery.id)
    )
    return list(rows)


# --- delegations and groupings ---------------------------------------------------------------


async def test_a_delegation_is_registered_once(notifications_db: AsyncSession) -> None:
    code = await new_delegation(notifications_db)
    assert (await views.delegation(notifications_db, code)).timezone == "Asia/Jakarta"

    again = handlers.RegisterDelegation(code=code, name="Twice", timezone="UTC")
    with pytest.raises(DelegationAlreadyRegistered) as refused:
        await handlers.register_delegation(notifications_db, again)
    assert isinstance(refused.value, Conflict)
    assert refused.value.message == f"delegation {code} is already registered"


async def test_membership_is_dated_and_only_of_a_registered_delegation(
    notifications_db: AsyncSession,
) -> None:
    code, grouping = await new_delegation(notifications_db), f"G{uuid.uuid4().hex[:12]}"
    await handlers.add_membership(
        notifications_db,
        handlers.AddMembership(grouping, code, date(2020, 1, 1), date(2020, 12, 31)),
    )
    on = await views.grouping_members(notifications_db, grouping, date(2020, 12, 31))
    assert on.members == [code]
    after = await views.grouping_members(notifications_db, grouping, date(2021, 1, 1))
    assert after.members == []

    with pytest.raises(DelegationNotRegistered) as refused:
        await handlers.add_membership(
            notifications_db, handlers.AddMembership(grouping, "NOSUCH", date(2020, 1, 1))
        )
    assert isinstance(refused.value, NotFound)
    assert (refused.value.field, refused.value.message) == (
        "delegation",
        "delegation NOSUCH is not registered",
    )
    with pytest.raises(DelegationNotRegistered) as unknown:
        await views.delegation(notifications_db, "NOSUCH")
    assert unknown.value.field is None  # the object looked up itself: a 404, not a 422


# --- subscriptions ---------------------------------------------------------------------------


async def test_a_subscription_belongs_to_a_named_registered_delegation(
    notifications_db: AsyncSession,
) -> None:
    code = await new_delegation(notifications_db)
    command = handlers.Subscribe(
        delegation=code,
        target_kind=TargetKind.TAG,
        target_key="humanitarian",
        channels=[Channel.STREAM, Channel.INBOX, Channel.INBOX],
        statuses=["completed"],
        cadence=Cadence.DAILY_DIGEST,
    )
    subscription = await handlers.subscribe(notifications_db, command, cap=CAP)
    assert (subscription.delegation_code, subscription.channels, subscription.cadence) == (
        code,
        ["inbox", "stream"],
        "daily_digest",
    )

    with pytest.raises(Invalid) as unnamed:
        await handlers.subscribe(
            notifications_db, dataclasses.replace(command, delegation=None), cap=CAP
        )
    assert (unnamed.value.field, unnamed.value.message) == (
        "delegation",
        "the secretariat must name the delegation",
    )
    with pytest.raises(DelegationNotRegistered) as unknown:
        await handlers.subscribe(
            notifications_db, dataclasses.replace(command, delegation="NOSUCH"), cap=CAP
        )
    assert unknown.value.field == "delegation"
    # The delegation holds one subscription: a cap of one refuses a second, naming the cap.
    with pytest.raises(CapReached) as capped:
        await handlers.subscribe(notifications_db, command, cap=1)
    assert (capped.value.cap, capped.value.limit) == ("subscriptions_per_delegation", 1)


async def test_another_delegations_subscription_is_not_found_and_stays(
    notifications_db: AsyncSession,
) -> None:
    owner, other = await new_delegation(notifications_db), await new_delegation(notifications_db)
    await follow(notifications_db, owner, "peacekeeping")
    subscription_id = (
        (await views.subscriptions(notifications_db, owner, limit=1, cursor=None)).items[0].id
    )

    with pytest.raises(NotFound) as refused:
        await handlers.unsubscribe(notifications_db, handlers.Unsubscribe(subscription_id, other))
    assert refused.value.message == f"subscription {subscription_id} does not exist"
    assert await notifications_db.get(orm.Subscription, subscription_id) is not None

    await handlers.unsubscribe(notifications_db, handlers.Unsubscribe(subscription_id, owner))
    await notifications_db.flush()  # what the route's unit of work does when it commits
    assert await notifications_db.get(orm.Subscription, subscription_id) is None


# --- the intake ------------------------------------------------------------------------------


async def test_an_event_taken_in_reaches_each_matching_delegation_once_on_its_channels(
    notifications_db: AsyncSession,
) -> None:
    tag, plan_id, line_id = f"tag-{uuid.uuid4()}", uuid.uuid4(), uuid.uuid4()
    told, digested, filtered = [await new_delegation(notifications_db) for _ in range(3)]
    await follow(notifications_db, told, tag)
    await follow(notifications_db, told, tag, statuses=("completed",))  # matches twice: told once
    await follow(notifications_db, digested, tag, cadence=Cadence.DAILY_DIGEST)
    await follow(notifications_db, filtered, tag, statuses=("on_hold",))
    endpoint = await registered_endpoint(notifications_db, told)
    only_changes, _ = await webhooks.register_endpoint(
        notifications_db,
        webhooks.RegisterEndpoint(told, PUBLIC_URL, event_types=["status_changed"]),
        urls=URLS,
        cap=CAP,
        keyring=KEYRING,
    )

    await take(notifications_db, line_created(plan_id=plan_id, action_line_id=line_id, tags=[tag]))
    await take(
        notifications_db, status_changed(plan_id=plan_id, action_line_id=line_id, tags=[tag])
    )

    received = await notifications_db.scalar(
        select(func.count())
        .select_from(orm.ReceivedEvent)
        .where(orm.ReceivedEvent.plan_id == plan_id)
    )
    assert received == 2
    line = await notifications_db.get(orm.PlanNode, line_id)
    assert line is not None and (line.name, line.status) == ("Peacekeeping training", "completed")

    entries = (
        await notifications_db.scalars(
            select(orm.InboxEntry)
            .where(orm.InboxEntry.delegation_code.in_([told, digested, filtered]))
            .order_by(orm.InboxEntry.seq)
        )
    ).all()
    assert [(e.delegation_code, e.seq) for e in entries] == [(told, 1), (told, 2)]
    assert entries[1].title == "Action line 1.2.3: ongoing -> completed"
    assert "(Peacekeeping training)" in entries[1].body  # the name from the read model
    assert sorted(entries[1].channels) == ["inbox", "stream"]

    deliveries = await deliveries_to(notifications_db, endpoint)
    assert [(d.delegation_code, d.status, d.tries) for d in deliveries] == [
        (told, "pending", 0),
        (told, "pending", 0),
    ]
    assert len({d.webhook_id for d in deliveries}) == 2
    (change,) = await deliveries_to(notifications_db, only_changes)
    assert change.event_row_id == deliveries[1].event_row_id

    held = (
        await notifications_db.scalars(
            select(orm.DigestItem).where(orm.DigestItem.delegation_code == digested)
        )
    ).all()
    assert [(h.cadence, h.channels) for h in held] == [
        ("daily_digest", ["inbox", "stream", "webhook"])
    ] * 2
    assert await events_of(notifications_db, told) == []  # the intake publishes nothing


# --- webhooks --------------------------------------------------------------------------------


async def test_an_unsafe_webhook_url_is_invalid_on_the_url(notifications_db: AsyncSession) -> None:
    code = await new_delegation(notifications_db)
    for url, reason in [
        ("https://10.0.0.1/hook", "private"),
        ("https://0x7f.0.0.1/hook", "loopback"),
        ("http://93.184.216.34/hook", "must use https"),
    ]:
        with pytest.raises(Invalid) as refused:
            await webhooks.register_endpoint(
                notifications_db,
                webhooks.RegisterEndpoint(delegation=code, url=url),
                urls=URLS,
                cap=CAP,
                keyring=KEYRING,
            )
        assert refused.value.field == "url" and reason in refused.value.message

    endpoint = await registered_endpoint(notifications_db, code)
    assert endpoint.enabled and current_secret(endpoint, KEYRING).startswith("whsec_")
    with pytest.raises(Invalid):
        await webhooks.change_endpoint(
            notifications_db,
            webhooks.ChangeEndpoint(endpoint.id, code, url="https://169.254.169.254/"),
            urls=URLS,
        )
    assert endpoint.url == PUBLIC_URL


async def test_re_enabling_an_endpoint_resumes_what_waited_with_a_fresh_round(
    notifications_db: AsyncSession,
) -> None:
    code, tag = await follower(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)
    disable = webhooks.ChangeEndpoint(endpoint.id, code, enabled=False)
    await webhooks.change_endpoint(notifications_db, disable, urls=URLS)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "manual")

    await take(notifications_db, line_created(tags=[tag]))
    (waiting,) = await deliveries_to(notifications_db, endpoint)  # a disabled endpoint's too
    waiting.tries = 3

    enable = webhooks.ChangeEndpoint(endpoint.id, None, enabled=True)  # the secretariat
    await webhooks.change_endpoint(notifications_db, enable, urls=URLS)
    await notifications_db.refresh(waiting)
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since) == (
        True,
        None,
        None,
    )
    assert (waiting.status, waiting.tries) == ("pending", 0)


async def test_recovery_and_redelivery_send_again_within_the_scope_only(
    notifications_db: AsyncSession,
) -> None:
    (code, tag), other = await follower(notifications_db), await new_delegation(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)
    await take(notifications_db, line_created(tags=[tag]))
    (delivery,) = await deliveries_to(notifications_db, endpoint)
    delivery.status, delivery.tries = DeliveryStatus.FAILED.value, 8

    since = delivery.created_at - timedelta(seconds=1)
    with pytest.raises(NotFound):
        await webhooks.recover(notifications_db, webhooks.Recover(endpoint.id, other, since))
    recovered = await webhooks.recover(notifications_db, webhooks.Recover(endpoint.id, code, since))
    await notifications_db.refresh(delivery)
    assert (recovered, delivery.status, delivery.tries) == (1, "pending", 0)

    with pytest.raises(NotFound) as refused:
        await webhooks.redeliver(notifications_db, webhooks.Redeliver(delivery.id, other))
    assert refused.value.message == f"delivery {delivery.id} does not exist"
    delivery.status = DeliveryStatus.SUCCEEDED.value
    again = await webhooks.redeliver(notifications_db, webhooks.Redeliver(delivery.id, code))
    assert (again.status, again.tries, again.webhook_id) == ("pending", 0, delivery.webhook_id)


LATER = timedelta(minutes=5)


async def waiting_deliveries(session: AsyncSession, count: int) -> tuple[str, orm.Endpoint, list]:
    """A delegation's endpoint with ``count`` deliveries, each waiting on the schedule."""
    code, tag = await follower(session)
    endpoint = await registered_endpoint(session, code)
    for _ in range(count):
        await take(session, line_created(tags=[tag]))
    deliveries = await deliveries_to(session, endpoint)
    for delivery in deliveries:
        delivery.tries, delivery.next_attempt_at = 2, await now_in(session) + LATER
    await session.flush()
    return code, endpoint, deliveries


async def now_in(session: AsyncSession) -> datetime:
    """The database's now(): the start of the test's transaction, the same all through it."""
    now = await session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    return now


async def test_retry_now_releases_what_waits_with_a_fresh_round_and_nothing_in_flight(
    notifications_db: AsyncSession,
) -> None:
    code, endpoint, (waiting, asked_to_wait, in_flight, failed) = await waiting_deliveries(
        notifications_db, 4
    )
    asked_to_wait.not_before = asked_to_wait.next_attempt_at
    in_flight.leased_by = "dispatcher"
    failed.status = DeliveryStatus.FAILED.value
    await notifications_db.flush()
    other = await new_delegation(notifications_db)

    with pytest.raises(NotFound):
        await webhooks.retry_now(notifications_db, webhooks.RetryNow(endpoint.id, other))
    released = await webhooks.retry_now(notifications_db, webhooks.RetryNow(endpoint.id, code))

    assert released == 2
    now = await now_in(notifications_db)
    for delivery in (waiting, asked_to_wait, in_flight, failed):
        await notifications_db.refresh(delivery)
    assert [(d.next_attempt_at == now, d.tries) for d in (waiting, asked_to_wait)] == [
        (True, 0),
        (True, 0),
    ]
    assert (in_flight.next_attempt_at, in_flight.tries) == (now + LATER, 2)
    assert failed.status == DeliveryStatus.FAILED.value

    await webhooks.change_endpoint(
        notifications_db, webhooks.ChangeEndpoint(endpoint.id, code, enabled=False), urls=URLS
    )
    with pytest.raises(Conflict):
        await webhooks.retry_now(notifications_db, webhooks.RetryNow(endpoint.id, code))


async def test_an_endpoint_answering_again_releases_what_waits_but_not_before_a_retry_after(
    notifications_db: AsyncSession,
) -> None:
    _, endpoint, deliveries = await waiting_deliveries(notifications_db, 4)
    waiting, asked_to_wait, unavailable, refused = deliveries
    asked_to_wait.not_before = await now_in(notifications_db) + timedelta(seconds=30)
    unavailable.last_status_code, refused.last_status_code = 503, 500
    endpoint.failing_since = NOW - timedelta(minutes=1)
    await notifications_db.flush()

    answered_again = await record_endpoint_health(
        notifications_db, SETTINGS, [(endpoint.id, AttemptResult(200))], NOW
    )
    assert answered_again == {endpoint.id}
    assert await release_after_answer(notifications_db, answered_again) == 3

    now = await now_in(notifications_db)
    for delivery in deliveries:
        await notifications_db.refresh(delivery)
    assert (waiting.next_attempt_at, waiting.tries) == (now, 2)
    assert (unavailable.next_attempt_at, unavailable.tries) == (now, 2)
    assert (asked_to_wait.next_attempt_at, asked_to_wait.tries) == (asked_to_wait.not_before, 2)
    # An answer with an error may be about the delivery: it keeps to the schedule.
    assert refused.next_attempt_at == now + LATER

    # An endpoint that was not failing has answered nothing "again"...
    fine = [(endpoint.id, AttemptResult(200))]
    assert await record_endpoint_health(notifications_db, SETTINGS, fine, NOW) == set()
    # ...unless another delivery of the same batch could not reach it.
    dropped = [*fine, (endpoint.id, AttemptResult(None))]
    assert await record_endpoint_health(notifications_db, SETTINGS, dropped, NOW) == {endpoint.id}
    refused_too = [*fine, (endpoint.id, AttemptResult(500))]
    assert await record_endpoint_health(notifications_db, SETTINGS, refused_too, NOW) == set()


async def test_a_failing_endpoint_is_probed_after_the_interval_or_its_retry_after(
    notifications_db: AsyncSession,
) -> None:
    code = await new_delegation(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)
    asked = [(endpoint.id, AttemptResult(503, retry_after=120)), (endpoint.id, AttemptResult(None))]
    await record_endpoint_health(notifications_db, SETTINGS, asked, NOW)
    assert endpoint.probe_at == NOW + timedelta(seconds=120)
    # A later failure without one does not bring the probe forward.
    later = NOW + timedelta(seconds=1)
    unreachable = [(endpoint.id, AttemptResult(None))]
    await record_endpoint_health(notifications_db, SETTINGS, unreachable, later)
    assert endpoint.probe_at == NOW + timedelta(seconds=120)
    # An endpoint that answers, if with an error, is reachable: it is not probed.
    answered = [(endpoint.id, AttemptResult(500))]
    await record_endpoint_health(notifications_db, SETTINGS, answered, later)
    assert endpoint.probe_at is None and endpoint.failing_since == NOW


async def test_a_rotated_secret_still_signs_for_the_overlap(notifications_db: AsyncSession) -> None:
    code = await new_delegation(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)
    old = current_secret(endpoint, KEYRING)
    secret, until = await webhooks.rotate_secret(
        notifications_db,
        webhooks.RotateSecret(endpoint.id, code),
        overlap=timedelta(hours=2),
        keyring=KEYRING,
    )
    assert secret != old and current_secret(endpoint, KEYRING) == secret
    assert active_secrets(endpoint, KEYRING, datetime.now(UTC)) == (secret, old)
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)


async def test_a_410_disables_the_endpoint_tells_its_delegation_and_publishes_it(
    notifications_db: AsyncSession,
) -> None:
    code = await new_delegation(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)

    await record_endpoint_health(
        notifications_db, SETTINGS, [(endpoint.id, AttemptResult(410))], NOW
    )

    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "gone")
    (event,) = await events_of(notifications_db, code)
    assert event.type == notification_events.EndpointDisabled.event_type
    disabled = notification_events.EndpointDisabled.model_validate(event.data)
    assert (disabled.delegation, disabled.endpoint_id, disabled.reason) == (
        code,
        endpoint.id,
        "gone",
    )
    key = await notifications_db.scalar(
        select(orm.outbox.c.key).where(orm.outbox.c.event_id == uuid.UUID(event.id))
    )
    assert key == code
    entry = await notifications_db.scalar(
        select(orm.InboxEntry).where(orm.InboxEntry.delegation_code == code)
    )
    assert entry is not None and entry.critical
    assert entry.title == "A webhook endpoint was disabled"


async def test_a_failing_endpoint_is_warned_before_it_is_disabled(
    notifications_db: AsyncSession,
) -> None:
    code = await new_delegation(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)
    endpoint.failing_since = NOW - timedelta(days=4)
    failed = [(endpoint.id, AttemptResult(503))]

    await record_endpoint_health(notifications_db, SETTINGS, failed, NOW)
    assert endpoint.enabled and endpoint.warned_at == NOW
    await record_endpoint_health(notifications_db, SETTINGS, failed, NOW + timedelta(hours=23))
    assert endpoint.enabled  # not yet five days
    await record_endpoint_health(notifications_db, SETTINGS, failed, NOW + timedelta(hours=24))
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")

    warning, disabling = await events_of(notifications_db, code)
    soon = notification_events.EndpointDisablingSoon.model_validate(warning.data)
    assert soon.disable_at == endpoint.failing_since + timedelta(days=5)
    assert disabling.type == notification_events.EndpointDisabled.event_type


async def test_a_success_ends_a_failing_streak(notifications_db: AsyncSession) -> None:
    code = await new_delegation(notifications_db)
    endpoint = await registered_endpoint(notifications_db, code)
    endpoint.failing_since, endpoint.warned_at = NOW - timedelta(days=4), NOW
    await notifications_db.flush()

    await record_endpoint_health(
        notifications_db, SETTINGS, [(endpoint.id, AttemptResult(204))], NOW
    )
    await notifications_db.refresh(endpoint)
    assert (endpoint.failing_since, endpoint.warned_at, endpoint.enabled) == (None, None, True)
    assert await events_of(notifications_db, code) == []


# --- the inbox -------------------------------------------------------------------------------


async def test_entries_are_marked_read_within_the_scope_only(
    notifications_db: AsyncSession,
) -> None:
    (code, tag), other = await follower(notifications_db), await new_delegation(notifications_db)
    for _ in range(3):
        await take(notifications_db, line_created(tags=[tag]))
    first = await notifications_db.scalar(
        select(orm.InboxEntry).where(orm.InboxEntry.delegation_code == code).limit(1)
    )
    assert first is not None

    with pytest.raises(NotFound):
        await inbox.mark_read(notifications_db, inbox.MarkRead(first.id, other))
    read = await inbox.mark_read(notifications_db, inbox.MarkRead(first.id, code))
    assert read.read_at is not None
    assert await inbox.mark_all_read(notifications_db, inbox.MarkAllRead(other)) == 0
    assert await inbox.mark_all_read(notifications_db, inbox.MarkAllRead(code)) == 2
    assert await inbox.mark_all_read(notifications_db, inbox.MarkAllRead(code)) == 0


# --- digests ---------------------------------------------------------------------------------


async def test_held_events_go_out_as_one_digest_a_day_from_the_digest_hour(
    notifications_db: AsyncSession,
) -> None:
    code, tag = await new_delegation(notifications_db), f"tag-{uuid.uuid4()}"
    await follow(notifications_db, code, tag, cadence=Cadence.DAILY_DIGEST)
    plan_id, line_id = uuid.uuid4(), uuid.uuid4()
    await take(notifications_db, line_created(plan_id=plan_id, action_line_id=line_id, tags=[tag]))
    await take(
        notifications_db, status_changed(plan_id=plan_id, action_line_id=line_id, tags=[tag])
    )
    early = datetime(2030, 1, 1, 1, 0, tzinfo=UTC)  # 08:00 in Jakarta: before the digest hour

    for now in (early, early + timedelta(hours=2), early + timedelta(hours=3)):
        await send_due_digests(notifications_db, now)

    (digest,) = await notifications_db.scalars(
        select(orm.InboxEntry).where(orm.InboxEntry.delegation_code == code)
    )
    assert digest.title == "Daily digest of 2030-01-01"
    lines = digest.body.splitlines()
    assert lines[0] == "Daily digest of 2030-01-01 (times in Asia/Jakarta)"
    assert lines[2] == "2 update(s):"
    assert [line.split(" ", 3)[3] for line in lines[3:]] == [
        "New action line 1.2.3",
        "Action line 1.2.3: ongoing -> completed",
    ]
    assert sorted(digest.channels) == ["inbox", "stream"]
    held = await notifications_db.scalars(
        select(orm.DigestItem.digested_at).where(orm.DigestItem.delegation_code == code)
    )
    assert list(held) == [early + timedelta(hours=2)] * 2


async def test_a_registered_delegation_is_announced_for_meetings(
    notifications_db: AsyncSession,
) -> None:
    code = await new_delegation(notifications_db)
    [announced] = await events_of(notifications_db, code, registration=True)
    assert announced.type == "org.accord.notifications.delegation.registered"
    assert announced.data == {
        "delegation": code,
        "name": "Test mission",
        "timezone": "Asia/Jakarta",
    }


@pytest.mark.parametrize(
    "kind", [TargetKind.PLAN, TargetKind.SECTION, TargetKind.ACTION_LINE, TargetKind.MEETING_SERIES]
)
async def test_a_subscription_to_what_no_event_ever_named_is_refused_on_target_key(
    notifications_db: AsyncSession, kind: TargetKind
) -> None:
    code = await new_delegation(notifications_db)
    key = f"Series {uuid.uuid4()}" if kind is TargetKind.MEETING_SERIES else str(uuid.uuid4())
    command = handlers.Subscribe(
        delegation=code, target_kind=kind, target_key=key, channels=[Channel.INBOX]
    )
    with pytest.raises(Invalid) as refused:
        async with notifications_db.begin_nested():
            await handlers.subscribe(notifications_db, command, cap=CAP)
    assert refused.value.field == "target_key"
    assert "is known to notifications" in refused.value.message


async def test_a_subscription_to_a_target_named_in_an_event_is_taken(
    notifications_db: AsyncSession,
) -> None:
    code = await new_delegation(notifications_db)
    created = line_created()
    await take(notifications_db, created)
    for kind, key in (
        (TargetKind.ACTION_LINE, str(created.action_line_id)),
        (TargetKind.TAG, "any label at all"),
    ):
        command = handlers.Subscribe(
            delegation=code, target_kind=kind, target_key=key, channels=[Channel.INBOX]
        )
        subscription = await handlers.subscribe(notifications_db, command, cap=CAP)
        assert subscription.target_key == key
